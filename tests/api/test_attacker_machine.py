"""A machine that plays the attacker (SPEC "Proof of address", "No enumeration", "Throttles",
"Reports by mail"): an attacker and a victim, each with a client address, a mailbox and a
phone, interleave every public route that writes and every route that takes reports of mail
(which anyone who can mail the bounce address, or forge a provider's webhook, feeds), and the
service's promises are checked after every step.

The rules come from the application's own routes: such a route with no rule here fails
`test_every_public_route_that_writes_has_a_rule`, so a new route is played the day it is
added. Each example takes addresses of its own and lets every throttle window pass
first, so examples share a database and nothing else.
"""

from __future__ import annotations

import io
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, delete, func, or_, select, update

from api_service import create_app
from api_service.flows.client_limit import SLOW_DOWN
from api_service.flows.limits import SERVICE_BUSY
from api_service.flows.login import SIGN_INS_LOCKED
from api_service.flows.redeem import TOO_MANY_WRONG_CODES
from outbox_relay.bounce import EX_OK, bounce
from outbox_relay.relay import Relay
from shared.accounts.addresses import phone_region
from shared.accounts.lockouts import failures_of, wrong_codes_of
from shared.clock import utcnow
from shared.database.models import outbox, provider_events, suppressions, throttle_events, users
from shared.database.throttle import Throttle
from shared.reports.provider_events import MAIL_REPORTERS
from shared.sms_providers.registry import RECEIVING
from support.constants import ADMIN_TOKEN, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.forged_reports import BOUNCES, KINDS, NAMINGS, QUOTING, Forgery, Mail, report
from support.mail_reports import ENV as MAIL_REPORT_KEYS
from support.mail_reports import SIGNERS, fixture, post
from support.rows import let_time_pass
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer
from support.sns import BEARER, TOKEN, basic, post_sns, ses

PUBLIC_URL = "https://api.outpost.test"
# Every mailed code carries its link token: the way in that wrong codes never close.
LINK = "https://app.outpost.test/go#address={address}&purpose={purpose}&token={token}"
LINKED = re.compile(r"#address=([^&]+)&purpose=([a-z_]+)&token=([A-Za-z0-9_-]+)")
# What support posts with (the attacker may have talked them into an invitation).
OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "support"}
SUPPORT_CLIENT = "198.18.0.1"
# The routes that take a code.
CONFIRMS = ("/v1/activations", "/v1/login-codes/confirm", "/v1/password-resets/confirm")
# Idempotency keys both draw from, so that one replays the other's.
KEYS = 2
# Each mail provider's permanent bounce (tests/fixtures/<provider>/), which the attacker forges.
FORGED_BOUNCES = {
    "mailgun": "failed_permanent",
    "sendgrid": "bounce",
    "postmark": "bounce",
    "resend": "bounced",
}
# The webhooks of mail providers, each signed with a key of its own (SES's: the token).
SIGNED_REPORTS = ("ses", *MAIL_REPORTERS)
# Small budgets, so that a short run reaches them.
CLIENT_SMS, REGION_SMS, PER_HOUR = 3, 5, 2
# A code waits this long on a provider that is down before it goes on the other channel.
FALLBACK_AFTER = 60
# The routes whose answer must not tell known from unknown addresses, and the refusals they
# may give (none names the account).
DISCREET = (
    "/v1/activations/resend",
    "/v1/password-resets",
    "/v1/address-changes",
    "/v1/login-codes",
)
# A password route locked by failures naming its address (whether or not an account holds it).
GENERIC_429 = {
    SLOW_DOWN,
    SERVICE_BUSY,
    SIGN_INS_LOCKED,
    "A message was sent to this address recently.",
}
# Purposes a request asks for, each throttled per recipient whatever route causes it.
REQUESTED = (
    "activation",
    "password_reset",
    "address_change",
    "account_exists",
    "no_account",
    "login_code",
)
# Codes that sign in or set a password: only to a proven address.
SETS_A_PASSWORD = ("password_reset", "login_code")
# Routes that take credentials rather than a public request: played by their own tests, as
# are the SMS providers' receipts (tests/api/test_sms_receipts.py). Reports of mail are played
# here: whoever can mail the bounce address can have a report posted.
AUTHENTICATED = ("/v1/admin/", "/admin/", *(f"/v1/provider-events/{s.name}" for s in RECEIVING))
CODE = re.compile(r"\b\d{6}\b")
# A report by mail as a server that receives BOUNCE_ADDRESS's mail posts it.
RFC822 = {**BEARER, "Content-Type": "message/rfc822"}
# Each step is a minute after the one before: 25 steps stay inside every hourly budget.
# Sized to fit CI: alone on the 2-core VM, 40 examples of 25 steps took 27 s on SQLite and
# 43 s on PostgreSQL, and 3 to 5 times that beside the rest of the suite; this size is a
# regression net, not a search (150 examples of 30 steps, run by hand, found nothing more; on
# the code before the guards, the takeover took 200 examples to find, the other promises 100).
EXAMPLES, STEPS = 30, 20
RUNS = itertools.count()


@dataclass
class Actor:
    """One person: the client address they post from, their mailbox, phone and password, and
    what reached them."""

    name: str
    client: str
    email: str
    phone: str
    password: str
    # Each code that reached them, with the address it reached.
    codes: list[tuple[str, str]] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    # Addresses this person registered, and proved with a code they used.
    registered: set[str] = field(default_factory=set)
    proved: set[str] = field(default_factory=set)
    # Accounts this person signed in to with a code.
    signed_in: set[int] = field(default_factory=set)
    # Each mailed link: the address it reached, its purpose and its token.
    links: list[tuple[str, str, str]] = field(default_factory=list)
    # The link tokens this person used.
    used: set[str] = field(default_factory=set)
    # The codes this person typed and a route took: each spends its mail's link too.
    spent: set[str] = field(default_factory=set)
    # The code of each link's mail, by the link's token.
    link_codes: dict[str, str] = field(default_factory=dict)
    # The deliveries the service named in its answers to this person.
    deliveries: set[str] = field(default_factory=set)
    # Each mail that reached them, by its bounce address (BOUNCE_ADDRESS's VERP) and Message-ID.
    mails: list[Mail] = field(default_factory=list)

    @property
    def addresses(self) -> tuple[str, str]:
        return self.email, self.phone


class AttackerAndVictim(RuleBasedStateMachine):
    """The attacker and the victim, one request a step, each followed by the relay's work."""

    app: ClassVar[Flask]
    engine: ClassVar[Engine]
    relay: ClassVar[Relay]
    smtp: ClassVar[SinkServer]
    gateway: ClassVar[SmsGateway]
    throttle: ClassVar[Throttle]
    # LOGIN_REQUIRES_PROVISIONING is set: a sign-in may wait for the application (GatedMachine).
    gated: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        run = next(RUNS)
        with self.engine.begin() as connection:
            # Every window passes: the examples before this one weigh on nothing of it.
            connection.execute(delete(throttle_events))
        self.client: FlaskClient = self.app.test_client()
        self.smtp.sink.mode = "accept"
        self.attacker = Actor(
            "attacker",
            f"198.51.100.{run % 250 + 1}",
            f"attacker{run}@example.com",
            f"+3361{run:07d}",
            "the attacker's own passphrase",
        )
        self.victim = Actor(
            "victim",
            f"203.0.113.{run % 250 + 1}",
            f"victim{run}@example.com",
            f"+3362{run:07d}",
            "the victim's own passphrase",
        )
        self.actors = {a.name: a for a in (self.attacker, self.victim)}
        self.addresses = [*self.attacker.addresses, *self.victim.addresses]
        self.mails_seen = len(self.smtp.sink.received)
        self.envelopes_seen = len(self.smtp.sink.envelopes)
        self.sms_seen = len(self.gateway.requests)
        with self.engine.connect() as connection:
            newest = connection.execute(select(func.max(outbox.c.id))).scalar()
        self.rows_seen = newest or 0
        # When each SMS a client caused was written, in seconds of the example's time.
        self.sms_by_client: dict[str, list[float]] = {a.name: [] for a in self.actors.values()}
        # The example's time (each step lets a minute pass, and the seconds it really takes
        # count too: the service's clock runs on), and when each row was first seen: the budgets
        # and throttles are counted over the hour before, as the service counts.
        self.clock = 0.0
        self.started = time.monotonic()
        self.seen_at: dict[int, float] = {}
        # When each account was first seen holding each number proved, then or now.
        self.proved_numbers: dict[tuple[int, str], float] = {}
        self.discreet_deliveries: list[str] = []
        # Each registration's delivery, and the address its channel reaches.
        self.registrations: list[tuple[str, str]] = []
        self.run = run
        self.probes = 0
        self.users: list[dict[str, Any]] = []
        self.new_rows: list[dict[str, Any]] = []
        # The messages operators caused: they answer no client's request, so no client's
        # budget or throttle counts them.
        self.operators_messages: set[str] = set()

    # -- the routes ---------------------------------------------------------------------------

    def _post(
        self,
        actor: Actor,
        path: str,
        body: dict[str, Any],
        *,
        client: str | None = None,
        headers: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Any:
        """Post as `actor` (from `client`, else their own) a minute after the step before
        (people take that long, and a cooldown never hides what a step could reach), let the
        relay deliver what it caused, and check its answer. A bot's burst (`wait=False`) takes
        no time: its many guesses would pass the hour the invariants count budgets in."""
        if wait:
            self._let_time_pass(61)
        before, asked_at = self._texts(), self._now()
        environ = {"REMOTE_ADDR": client or actor.client}
        answer = self.client.post(path, json=body, environ_base=environ, headers=headers)
        assert answer.status_code < 500 or self._waits(answer), answer.get_data(as_text=True)
        if answer.status_code == 201:
            self.operators_messages.add(answer.get_json()["delivery"])
        if answer.status_code == 200 and "code" in body:
            actor.spent.add(body["code"])
        named = (answer.get_json(silent=True) or {}).get("delivery")
        if isinstance(named, dict):
            actor.deliveries.add(named["id"])
        self.relay.drain()
        self._look()
        # Counted from before the request: the service's count is never younger than ours.
        self.sms_by_client[actor.name] += [asked_at] * len(self._texts() - before)
        self._read_inboxes()
        if path in DISCREET:
            self._check_discreet_answer(answer, body)
        return answer

    @rule(
        email=st.sampled_from(["own", "other", None]),
        phone=st.sampled_from(["own", "other", None]),
        sms=st.booleans(),
    )
    def attacker_registers(self, email: str | None, phone: str | None, sms: bool) -> None:
        """The attacker signs up with any addresses, his or hers, and his password."""
        self._register(self.attacker, email, phone, sms)

    @rule(email=st.booleans(), phone=st.booleans(), sms=st.booleans())
    def victim_registers(self, email: bool, phone: bool, sms: bool) -> None:
        """The victim signs up with her own addresses and her password."""
        self._register(self.victim, "own" if email else None, "own" if phone else None, sms)

    def _register(
        self, actor: Actor, email: str | None, phone: str | None, sms: bool, key: int | None = None
    ) -> None:
        body: dict[str, Any] = {"password": actor.password}
        if email:
            body["email"] = self._whose(actor, email).email
        if phone:
            body["phone"] = self._whose(actor, phone).phone
        if not {"email", "phone"} & set(body):
            return
        sms_channel = "phone" in body and (sms or "email" not in body)
        body["channel"] = "sms" if sms_channel else "email"
        headers = None if key is None else {"Idempotency-Key": f"key-{self.run}-{key}"}
        answer = self._post(actor, "/v1/registrations", body, headers=headers)
        if answer.status_code == 202:
            actor.registered |= {body[f] for f in ("email", "phone") if f in body}
            assert answer.get_json()["status"] == "pending_activation"
            delivery = answer.get_json()["delivery"]["id"]
            # The address its delivery went to: the phone when it asked for SMS.
            reached = body["phone"] if body["channel"] == "sms" else body["email"]
            self.registrations.append((delivery, reached))

    @rule(
        who=st.sampled_from(["attacker", "victim"]),
        email=st.sampled_from(["own", "other"]),
        key=st.integers(0, KEYS - 1),
    )
    def registers_with_a_key(self, who: str, email: str, key: int) -> None:
        """A registration under an Idempotency-Key the other person may have used: a replay
        answers only the same request, never another's."""
        actor = self.actors[who]
        if actor is self.victim and email == "other":
            return
        self._register(actor, email, None, False, key)

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3))
    def operator_invites(self, who: str, n: int) -> None:
        """An operator invites any address this person names, the other's included (the
        attacker asks support to let "his" address in): the code goes to the address, so only
        its owner can activate, and an address an account holds gets nothing."""
        actor = self.actors[who]
        address = self.addresses[n]
        held = any(address in (u["email"], u["phone"]) for u in self.users)
        invite = {self._field(address): address}
        # From support's own client: the attacker's forged reports lock out his.
        answer = self._post(
            actor, "/v1/admin/accounts", invite, client=SUPPORT_CLIENT, headers=OPERATOR
        )
        if answer.status_code == 409:
            assert answer.get_json()["type"].endswith("/account-exists")
            assert held, f"an invitation to {address} was refused though no account carries it"
            return
        assert answer.status_code == 201, answer.get_json()
        [row] = [r for r in self.new_rows if r["public_id"] == answer.get_json()["delivery"]]
        assert (row["recipient"], row["purpose"]) == (address, "activation"), row
        owner = next(a for a in self.actors.values() if address in a.addresses)
        # The invitation is its owner's to take, like an account she signed up for.
        owner.registered.add(address)

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3), sms=st.booleans())
    def resend(self, who: str, n: int, sms: bool) -> None:
        address = self.addresses[n]
        body = {self._field(address): address, "channel": "sms" if sms else "email"}
        self._post(self.actors[who], "/v1/activations/resend", body)

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3))
    def reset(self, who: str, n: int) -> None:
        address = self.addresses[n]
        self._post(self.actors[who], "/v1/password-resets", {self._field(address): address})

    @precondition(lambda self: any(a.codes for a in self.actors.values()))
    @rule(who=st.sampled_from(["attacker", "victim"]))
    def reset_confirm(self, who: str) -> None:
        """A new password with the newest code that reached this person, at its address."""
        actor = self.actors[who]
        for address, code in actor.codes[-1:]:
            body = {self._field(address): address, "code": code, "new_password": actor.password}
            if self._post(actor, "/v1/password-resets/confirm", body).status_code == 200:
                actor.proved.add(address)

    @precondition(lambda self: any(a.codes for a in self.actors.values()))
    @rule(who=st.sampled_from(["attacker", "victim"]), with_password=st.booleans())
    def activate(self, who: str, with_password: bool) -> None:
        """Activation with the newest code that reached this person, at its address; a `409`
        is answered with the person's password."""
        actor = self.actors[who]
        for address, code in actor.codes[-1:]:
            if actor is self.victim and address not in actor.registered:
                # She activates only what she signed up for: a code for an account she never
                # asked for proves nothing she chose (its password is whoever registered it).
                return
            body: dict[str, Any] = {self._field(address): address, "code": code}
            if with_password:
                body["password"] = actor.password
            answer = self._post(actor, "/v1/activations", body)
            if answer.status_code == 409:
                assert answer.get_json()["type"].endswith("/password-required")
                body["password"] = actor.password
                answer = self._post(actor, "/v1/activations", body)
            if answer.status_code == 200:
                actor.proved.add(address)

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3), to=st.integers(0, 3))
    def change(self, who: str, n: int, to: int) -> None:
        """Move the account at address `n` to any address, this person's or the other's (the
        holder proves an address of their own this way), with their password."""
        actor = self.actors[who]
        current = self.addresses[n]
        target = self.addresses[to]
        body = {
            self._field(current): current,
            "password": actor.password,
            f"new_{self._field(target)}": target,
        }
        self._post(actor, "/v1/address-changes", body)

    @precondition(lambda self: any(a.codes for a in self.actors.values()))
    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3))
    def change_confirm(self, who: str, n: int) -> None:
        """Confirm a move of the account at address `n` to where the newest code arrived."""
        actor = self.actors[who]
        current = self.addresses[n]
        for target, code in actor.codes[-1:]:
            body = {self._field(current): current, "code": code}
            body[f"new_{self._field(target)}"] = target
            if self._post(actor, "/v1/address-changes/confirm", body).status_code == 200:
                actor.proved.add(target)

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3))
    def login(self, who: str, n: int) -> None:
        actor = self.actors[who]
        address = self.addresses[n]
        body = {self._field(address): address, "password": actor.password}
        answer = self._post(actor, "/v1/logins", body)
        assert answer.status_code in (200, 401, 429) or self._waits(answer)
        self._check_not_hers(actor, address, answer)

    @precondition(lambda self: any(a.codes for a in self.actors.values()))
    @rule(
        who=st.sampled_from(["attacker", "victim"]),
        n=st.integers(0, 3),
        path=st.sampled_from(
            ["/v1/activations", "/v1/login-codes/confirm", "/v1/password-resets/confirm"]
        ),
    )
    def confirm_naming_another(self, who: str, n: int, path: str) -> None:
        """Confirm the newest code that reached this person naming any address, the other
        person's included: a code proves and signs in at the address it reached only."""
        actor = self.actors[who]
        named = self.addresses[n]
        for reached, code in actor.codes[-1:]:
            body: dict[str, Any] = {self._field(named): named, "code": code}
            if path == "/v1/activations":
                body["password"] = actor.password
            if path == "/v1/password-resets/confirm":
                body["new_password"] = actor.password
            answer = self._post(actor, path, body)
            assert answer.status_code < 500
            if answer.status_code == 200:
                # A code that opens the account proves the address it reached, whatever the
                # request named (as `activate` does).
                actor.proved.add(reached)
            if path != "/v1/activations":
                self._check_not_hers(actor, named, answer)

    @rule(n=st.integers(0, 1))
    def victim_takes_her_address(self, n: int) -> None:
        """She signs up with one address of her own alone, activates with the code that
        reaches it and signs in naming it; the attacker then cannot (SPEC "An unproven address
        holds nothing": whatever account carries it, unproven, keeps her out of nothing)."""
        victim = self.victim
        address = victim.addresses[n]
        channel = "email" if n == 0 else "sms"
        body = {self._field(address): address, "password": victim.password, "channel": channel}
        seen, newest = len(victim.codes), max((r["id"] for r in self.new_rows), default=0)
        answer = self._post(victim, "/v1/registrations", body)
        if answer.status_code == 429 and answer.get_json()["detail"] == SERVICE_BUSY:
            self._check_region_full(address)
        arrived = [code for to, code in victim.codes[seen:] if to == address]
        told = [
            r["purpose"] for r in self.new_rows if r["id"] > newest and r["recipient"] == address
        ]
        if "account_exists" in told:
            # Only an account she proved the address on may answer her so.
            assert address in victim.proved, f"an account she never proved holds her {address}"
        if answer.status_code != 202 or not arrived:
            # A throttle or a budget held the code back: the machine plays those elsewhere.
            return
        victim.registered.add(address)
        activated = self._activate(victim, {self._field(address): address, "code": arrived[-1]})
        if activated.status_code == 429 and activated.get_json()["detail"] == TOO_MANY_WRONG_CODES:
            # The attacker's wrong codes spent the account's day of typed codes: her mail's
            # link still activates (a text carries no link: she types it again tomorrow).
            links = [t for to, p, t in victim.links if to == address and p == "activation"]
            if channel == "sms":
                return
            assert links, "her activation mail carries its link"
            activated = self._activate(victim, {self._field(address): address, "token": links[-1]})
        if activated.status_code == 429:
            # Her client's SMS hour, which the welcome by SMS would exceed: played elsewhere.
            assert activated.get_json()["detail"] in GENERIC_429, activated.get_json()
            return
        assert activated.status_code == 200, activated.get_json()
        victim.proved.add(address)
        login = {self._field(address): address, "password": victim.password}
        signed_in = self._post(victim, "/v1/logins", login)
        locked = signed_in.status_code == 429 and signed_in.get_json()["detail"] == SIGN_INS_LOCKED
        # Her password sign-in may be locked by the attacker's guesses: her links still work.
        assert signed_in.status_code == 200 or self._waits(signed_in) or locked, address
        theirs = self._post(
            self.attacker, "/v1/logins", {**login, "password": "x" + victim.password}
        )
        refused = theirs.status_code == 429 and theirs.get_json()["detail"] == SIGN_INS_LOCKED
        assert theirs.status_code == 401 or refused, theirs.get_json()
        attacker_login = {**login, "password": self.attacker.password}
        self._check_not_hers(
            self.attacker, address, self._post(self.attacker, "/v1/logins", attacker_login)
        )

    @rule(his_field=st.sampled_from(["email", "phone"]))
    def attacker_probes(self, his_field: str) -> None:
        """The oracle: the attacker registers a fresh address of his own (on the channel he
        asks for) beside her other address, and another fresh one beside a stranger's; his
        own two get the same, whether she signed up or not."""
        self.probes += 1
        k = self.probes
        texts = sum(1 for r in self.new_rows if r["channel"] == "sms")
        if his_field == "phone" and texts + 2 > REGION_SMS:
            # Both probes' SMS must fit the region's hour, or the second is refused for it.
            return
        hers = self.victim.email if his_field == "phone" else self.victim.phone
        stranger = f"stranger{self.run}.{k}@example.org" if his_field == "phone" else None
        stranger = stranger or f"+3364{self.run % 1000:03d}{k:04d}"
        got: list[tuple[int, list[tuple[Any, ...]]]] = []
        for other in (hers, stranger):
            own = (
                f"probe{self.run}.{k}.{len(got)}@example.net"
                if his_field == "email"
                else f"+3363{self.run % 1000:03d}{k:03d}{len(got)}"
            )
            body = {
                his_field: own,
                self._field(other): other,
                "password": self.attacker.password,
                "channel": "sms" if his_field == "phone" else "email",
            }
            client = f"192.0.2.{(2 * k + len(got)) % 250 + 1}"
            self._let_time_pass(61)
            answer = self.client.post(
                "/v1/registrations", json=body, environ_base={"REMOTE_ADDR": client}
            )
            self.relay.drain()
            self._look()
            rows = [
                (r["purpose"], r["channel"], r["withhold"], r["status"], bool(r["secret_params"]))
                for r in self.new_rows
                if r["recipient"] == own
            ]
            got.append((answer.status_code, rows))
        if 429 in (got[0][0], got[1][0]):
            # Her address's own hourly throttle, which her messages spent (not an account), or
            # a budget the first probe reached: played elsewhere.
            return
        assert got[0] == got[1], f"his own address tells whether hers is taken: {got}"

    @rule(who=st.sampled_from(["attacker", "victim"]), n=st.integers(0, 3), sms=st.booleans())
    def login_code(self, who: str, n: int, sms: bool) -> None:
        address = self.addresses[n]
        body = {self._field(address): address, "channel": "sms" if sms else "email"}
        self._post(self.actors[who], "/v1/login-codes", body)

    @precondition(lambda self: any(a.codes for a in self.actors.values()))
    @rule(who=st.sampled_from(["attacker", "victim"]))
    def login_code_confirm(self, who: str) -> None:
        """Sign in with the newest code that reached this person, at its address."""
        actor = self.actors[who]
        for address, code in actor.codes[-1:]:
            body = {self._field(address): address, "code": code}
            answer = self._post(actor, "/v1/login-codes/confirm", body)
            assert answer.status_code in (200, 400, 429) or self._waits(answer), answer.get_json()
            if answer.status_code == 200:
                actor.signed_in.add(answer.get_json()["user_id"])

    @precondition(lambda self: any(a.unsubscribe for a in self.actors.values()))
    @rule(who=st.sampled_from(["attacker", "victim"]))
    def unsubscribe(self, who: str) -> None:
        actor = self.actors[who]
        for token in actor.unsubscribe[-1:]:
            path = f"/v1/unsubscribe/{token}"
            answer = self.client.post(path, environ_base={"REMOTE_ADDR": actor.client})
            assert answer.status_code == 200
            self._look()

    @rule(refused=st.booleans())
    def mail_refuses(self, refused: bool) -> None:
        """The mail provider refuses every address (5.1.1), or takes every message again: a
        refused code goes again by SMS (CODE_FALLBACK_AFTER), as the rules let it."""
        self.smtp.sink.mode = "reply:550 5.1.1" if refused else "accept"

    @precondition(lambda self: bool(self.new_rows))
    @rule()
    def receipts_arrive(self) -> None:
        """The providers report every message they took as delivered."""
        sent = [
            {"type": "delivery", "delivery_id": r["public_id"]}
            for r in self.new_rows
            if r["status"] == "sent" and r["channel"] != "webhook"
        ]
        if sent:
            answer = self.client.post("/v1/provider-events", json={"events": sent}, headers=BEARER)
            assert answer.status_code == 200
            self._look()

    @rule(
        kind=st.sampled_from(["passwords", "codes"]),
        n=st.integers(0, 1),
    )
    def attacker_spends_her_buckets(self, kind: str, n: int) -> None:
        """From clients of his own (a /64 each), the attacker spends whatever a failure counts
        against her address or account: wrong passwords to her sign-in's limit, or wrong codes
        on every confirm route, to each code's tries and to her account's day."""
        address = self.victim.addresses[n]
        field_ = self._field(address)
        mine = [u for u in self.users if address in (u["email"], u["phone"])]
        # The counts a long attack leaves, spent as the routes spend them; the last few tries
        # below go through the routes themselves.
        spent = [failures_of(address)] if kind == "passwords" else []
        if kind == "codes":
            spent += [wrong_codes_of(str(u["id"])) for u in mine]
        with self.engine.begin() as connection:
            for _ in range(96):
                self.throttle.record(connection, spent, utcnow())
        for k in range(6):
            client = f"2001:db8:{self.run % 65536:x}:{k:x}::1"
            if kind == "passwords":
                body = {field_: address, "password": f"a wrong guess {k}"}
                self._post(self.attacker, "/v1/logins", body, client=client, wait=False)
                continue
            for path in (
                "/v1/activations",
                "/v1/login-codes/confirm",
                "/v1/password-resets/confirm",
            ):
                body = {field_: address, "code": f"{k:06d}"}
                if path == "/v1/password-resets/confirm":
                    body["new_password"] = self.attacker.password
                self._post(self.attacker, path, body, client=client, wait=False)

    @precondition(lambda self: self.victim.email in self.victim.proved)
    @rule()
    def victim_signs_in_by_her_link(self) -> None:
        """She always has a way in at the mailbox she proved, whatever the attacker spent: the
        newest sign-in link her mailbox holds signs her in, asked for now or, if her own ask is
        held back (the attacker spent her address's hour), by the attacker's asks."""
        victim = self.victim
        email = victim.email
        self._post(victim, "/v1/login-codes", {"email": email, "channel": "email"})
        links = [t for to, purpose, t in victim.links if to == email and purpose == "login_code"]
        if (
            not links
            or links[-1] in victim.used
            or victim.link_codes.get(links[-1]) in victim.spent
        ):
            # Her own asks spent her address's hour (each of the attacker's would have left
            # her a link she has not used, nor typed its code).
            return
        body = {"email": email, "token": links[-1]}
        answer = self._post(victim, "/v1/login-codes/confirm", body)
        assert answer.status_code == 200 or self._waits(answer), answer.get_json()
        victim.used.add(links[-1])

    @rule(sign_up=st.booleans())
    def attacker_guesses_before_her_mail_lands(self, sign_up: bool) -> None:
        """She signs up with her email, or asks for a sign-in code at the email she proved, and
        before the relay sends her mail the attacker types six wrong codes naming her address
        from /64s of his own: her mail still lands, and its link's token activates her account
        or signs her in (SPEC "Codes": a code's token survives wrong codes)."""
        victim = self.victim
        email = victim.email
        if not sign_up and email not in victim.proved:
            return
        purpose = "activation" if sign_up else "login_code"
        path, confirm = (
            ("/v1/registrations", "/v1/activations")
            if sign_up
            else ("/v1/login-codes", "/v1/login-codes/confirm")
        )
        ask = {"email": email, "channel": "email"}
        if sign_up:
            ask["password"] = victim.password
        self._let_time_pass(61)
        asked = self.client.post(path, json=ask, environ_base={"REMOTE_ADDR": victim.client})
        for k in range(6):
            guess = {"email": email, "code": f"{k + 10:06d}"}
            client = f"2001:db8:{self.run % 65536:x}:{k + 16:x}::1"
            self.client.post(confirm, json=guess, environ_base={"REMOTE_ADDR": client})
        seen = len(victim.links)
        self.relay.drain()
        self._look()
        self._read_inboxes()
        if asked.status_code != 202:
            return
        [row] = [r for r in self.new_rows if r["public_id"] == asked.get_json()["delivery"]["id"]]
        if row["withhold"] or row["purpose"] != purpose:
            # Her address's hour was spent (victim_signs_in_by_her_link plays that), or no
            # account holds it as this ask needs (an active one answers "account exists").
            return
        assert row["status"] != "cancelled", "his wrong codes kept her mail from landing"
        links = [t for to, p, t in victim.links[seen:] if (to, p) == (email, purpose)]
        if row["status"] != "sent" or not links:
            # The mail provider refused it (mail_refuses plays that).
            return
        body = {"email": email, "token": links[-1]}
        if sign_up:
            body["password"] = victim.password
        answer = self._post(victim, confirm, body)
        assert answer.status_code == 200 or self._waits(answer), answer.get_json()
        victim.used.add(links[-1])
        if sign_up:
            victim.registered.add(email)
            victim.proved.add(email)

    @rule()
    def attacker_fills_the_region(self) -> None:
        """From clients of his own, the attacker asks sign-in codes by SMS for numbers of her
        region no account holds (withheld: nothing sent, nobody pays), then she signs up by
        SMS: withheld SMS fill no region's hour, so only real ones may close it to her."""
        for k in range(REGION_SMS):
            number = f"+3365{self.run % 1000:03d}{k:04d}"
            client = f"198.18.{self.run % 250}.{k + 10}"
            body = {"phone": number, "channel": "sms"}
            self._post(self.attacker, "/v1/login-codes", body, client=client)
        self.victim_takes_her_address(1)

    def _check_region_full(self, number: str) -> None:
        """A region refused `number` for its hour: real SMS (not withheld) to it filled it."""
        region = phone_region(number)
        texts = [
            r
            for r in self.new_rows
            if (r["channel"], r["withhold"]) == ("sms", False)
            and phone_region(r["recipient"]) == region
            and self._now() - self.seen_at[r["id"]] < 3600
        ]
        assert len(texts) >= REGION_SMS, f"withheld SMS closed {region} ({len(texts)} real)"

    @rule(n=st.integers(0, 1))
    def attacker_guesses_all_day(self, n: int) -> None:
        """A day of wrong codes naming her address (counted as the routes count them), then one
        more from a client of his own: refused (SPEC "Codes": wrong codes are bounded per
        account over a day, past which codes are taken only as tokens)."""
        address = self.victim.addresses[n]
        carrying = [u for u in self.users if address in (u["email"], u["phone"])]
        # Her accounts', and the address's own where no account holds it.
        spent = [wrong_codes_of(str(u["id"])) for u in carrying] + [wrong_codes_of(address)]
        with self.engine.begin() as connection:
            for _ in range(100):
                self.throttle.record(connection, spent, utcnow())
        client = f"2001:db8:{self.run % 65536:x}:ff::1"
        body = {self._field(address): address, "code": "000000"}
        answer = self._post(self.attacker, "/v1/login-codes/confirm", body, client=client)
        assert answer.status_code == 429, answer.get_json()

    @rule(n=st.integers(0, 1), with_password=st.booleans())
    def attacker_squats(self, n: int, with_password: bool) -> None:
        """Her address beside his own other one, on his channel; he activates with the code
        that reaches him (after her registration too, if she made one: then the account is
        contested) and signs in naming hers with his password: refused, as every sign-in
        naming an address she owns (SPEC "An unproven address holds nothing")."""
        email, phone = ("other", "own") if n == 0 else ("own", "other")
        self._register(self.attacker, email, phone, n == 0)
        self.activate("attacker", with_password)
        self.attacker_signs_in_naming_hers(n)

    @rule(n=st.integers(0, 1))
    def attacker_signs_in_naming_hers(self, n: int) -> None:
        """The attacker signs in naming an address of hers with his own password: refused."""
        address = self.victim.addresses[n]
        login = {self._field(address): address, "password": self.attacker.password}
        self._check_not_hers(self.attacker, address, self._post(self.attacker, "/v1/logins", login))

    @precondition(lambda self: any(r["status"] == "sent" for r in self.new_rows))
    @rule(kind=st.sampled_from(["bounce", "complaint"]), n=st.integers(0, 1))
    def attacker_makes_his_address_refuse(self, kind: str, n: int) -> None:
        """His own mailbox or handset refuses what reached it (a provider's report), which
        suppresses his address and may leave a dead letter: nothing of hers moves."""
        address = self.attacker.addresses[n]
        sent = [r for r in self.new_rows if r["recipient"] == address and r["status"] == "sent"]
        events = [{"type": kind, "delivery_id": r["public_id"], "permanent": True} for r in sent]
        if events:
            answer = self.client.post(
                "/v1/provider-events", json={"events": events}, headers=BEARER
            )
            assert answer.status_code == 200
            self._look()

    @precondition(lambda self: any(r["status"] in ("dead", "bounced") for r in self.new_rows))
    @rule()
    def operator_reissues(self) -> None:
        """Support retries every dead letter and reissues every stranded activation of this
        example, the attacker's squats with her address among them."""
        for row in self.new_rows:
            if row["status"] in ("dead", "bounced") and row["channel"] != "webhook":
                path = f"/v1/admin/dead-letters/{row['public_id']}/retry"
                assert self.client.post(path, headers=OPERATOR).status_code < 500
        for user in self.users:
            path = f"/v1/admin/users/{user['id']}/reissue-activation"
            assert self.client.post(path, headers=OPERATOR).status_code < 500
        newest = max((r["id"] for r in self.new_rows), default=0)
        self._look()
        self.operators_messages |= {r["public_id"] for r in self.new_rows if r["id"] > newest}
        self.relay.drain()
        self._look()
        self._read_inboxes()

    @precondition(lambda self: bool(self.new_rows))
    @rule(provider=st.sampled_from(SIGNED_REPORTS))
    def forged_mail_reports_arrive(self, provider: str) -> None:
        """The attacker posts a mail provider's permanent bounce of each mail just sent, signed
        with a key that is not the provider's (SES's: a password not the token): refused, and
        acting on nothing."""
        for row in self.new_rows:
            if row["channel"] != "email" or row["status"] != "sent":
                continue
            values = {
                "message_id": f"<{row['public_id']}@outpost.test>",
                "provider_id": row["provider_message_id"] or row["public_id"],
                "recipient": row["recipient"],
            }
            if provider == "ses":
                notification = ses("bounce_permanent", **values)
                wrong = basic("not-the-provider-events-token")
                answer = post_sns(self.client, notification, wrong, client=self.attacker.client)
            else:
                body = fixture(provider, FORGED_BOUNCES[provider], **values)
                forged = SIGNERS[provider](body, wrong=True)
                answer = post(self.client, provider, forged, client=self.attacker.client)
            assert answer.status_code in (401, 429), answer.get_json()
        with self.engine.connect() as connection:
            reported = select(func.count()).where(provider_events.c.source.in_(SIGNED_REPORTS))
            assert connection.execute(reported).scalar_one() == 0

    @precondition(lambda self: bool(self.attacker.mails))
    @rule(kind=st.sampled_from(KINDS), piped=st.booleans())
    def attacker_mails_reports(self, kind: str, piped: bool) -> None:
        """The attacker mails the bounce address reports of his making (SPEC "Reports by
        mail"), which reach Outpost as the MTA's pipe hands them to `outbox-relay bounce` or as
        a server posts them: a made-up token, her address as a VERP, his token's signature
        under her message's id, his token about her address or quoting her message, no token,
        and last his own mail's report. Only that one acts (an auto-reply never), on his mail
        and his address alone, and a fallback follows only his mail."""
        his_mail = self.attacker.mails[-1]
        to_her = [r for r in self.new_rows if r["recipient"] == self.victim.email]
        her_id = to_her[-1]["public_id"] if to_her else str(uuid.uuid4())
        forgery = Forgery(his_mail, self.attacker.email, self.victim.email, her_id)
        [his_id] = [p for p in self._messages() if f"<{p}@" in his_mail.message_id]
        acts = kind != "auto_reply"
        for naming in NAMINGS:
            if naming == "his_token_her_message" and kind not in QUOTING:
                # Quoting nothing, it is his own mail's report.
                continue
            before, suppressed = self._messages(), self._suppressed()
            to, recipient, quoted = forgery.naming(naming)
            mail = report(kind, to, recipient, quoted)
            if piped:
                assert bounce(self.relay.settings, io.BytesIO(mail), to) == EX_OK
            else:
                answer = self.client.post("/v1/provider-events/mail", data=mail, headers=RFC822)
                assert answer.status_code == 200, answer.get_json()
            if naming == "his_own":
                self.relay.drain()
            self._look()
            after = self._messages()
            moved = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
            # His mail may fall back on his other channel, as a bounced code may.
            ours = {his_id, after[his_id]["fallback_id"]} if naming == "his_own" and acts else set()
            assert moved <= ours, f"a {naming} {kind} moved {moved - ours}"
            added = self._suppressed() - suppressed
            assert added <= ({self.attacker.email} if ours else set()), f"{naming}: {added}"
            if ours and before[his_id]["status"] == "sent":
                assert after[his_id]["status"] == "bounced", after[his_id]

    # -- the promises -------------------------------------------------------------------------

    @invariant()
    def reports_by_mail_act_only_on_his(self) -> None:
        """No report by mail is recorded on a message that is not the attacker's, nor has one
        suppressed any address of hers."""
        mail = provider_events.c.source == "mail"
        with self.engine.connect() as connection:
            reported = connection.execute(
                select(outbox.c.recipient)
                .join(provider_events, provider_events.c.outbox_id == outbox.c.id)
                .where(mail, outbox.c.id > self.rows_seen)
            ).scalars()
            assert set(reported) <= set(self.attacker.addresses)
            hers = suppressions.c.address.in_(self.victim.addresses)
            by_mail = select(suppressions.c.address).where(suppressions.c.source == "mail", hers)
            assert connection.execute(by_mail).all() == []

    @invariant()
    def no_answer_of_hers_reaches_him(self) -> None:
        """A delivery the service named to one person is never named to the other (an
        Idempotency-Key replay included)."""
        shared = self.attacker.deliveries & self.victim.deliveries
        assert not shared, f"both were told of {shared}"

    @invariant()
    def no_password_she_did_not_choose(self) -> None:
        """An account whose address the victim proved accepts only her password."""
        for user in self.users:
            held = {user["email"], user["phone"]} & self.victim.proved
            if held and _matches(user["password_hash"], self.attacker.password):
                raise AssertionError(f"the attacker's password opens the victim's {held}")

    @invariant()
    def no_sign_in_to_her_account(self) -> None:
        """The attacker signs in to no account holding an address the victim proved."""
        for user in self.users:
            held = {user["email"], user["phone"]} & self.victim.proved
            if held and user["id"] in self.attacker.signed_in:
                raise AssertionError(f"the attacker signed in to the victim's {held}")

    @invariant()
    def codes_that_set_a_password_reach_only_proven_addresses(self) -> None:
        users = {u["id"]: u for u in self.users}
        for row in self.new_rows:
            if row["purpose"] in SETS_A_PASSWORD and row["status"] == "sent":
                user = users[row["user_id"]]
                proven = {
                    user["email"] if user["email_proven_at"] else None,
                    user["phone"] if user["phone_proven_at"] else None,
                }
                assert row["recipient"] in proven, row

    @invariant()
    def sms_within_the_budgets(self) -> None:
        for name, times in self.sms_by_client.items():
            sent = sum(1 for t in times if self._now() - t < 3600)
            assert sent <= CLIENT_SMS, f"{name}'s client caused {sent} SMS"
        regions: dict[str, int] = {}
        for row in self._requested_rows():
            if row["channel"] == "sms" and not row["withhold"]:
                region = phone_region(row["recipient"])
                regions[region] = regions.get(region, 0) + 1
        assert all(n <= REGION_SMS for n in regions.values()), regions

    @invariant()
    def a_code_falls_back_once_and_a_fallback_never(self) -> None:
        """A fallback goes once a code, on the other channel, never from a fallback; a reset
        or sign-in code's only to an address its account proved (checked above, sent)."""
        rows = {r["public_id"]: r for r in self.new_rows}
        fallbacks = [r["fallback_id"] for r in self.new_rows if r["fallback_id"] is not None]
        assert len(fallbacks) == len(set(fallbacks)), fallbacks
        for first in (r for r in self.new_rows if r["fallback_id"] is not None):
            fallback = rows[first["fallback_id"]]
            assert fallback["fallback_id"] is None and fallback["channel"] != first["channel"]
            assert (fallback["purpose"], fallback["user_id"]) == (
                first["purpose"],
                first["user_id"],
            )

    @invariant()
    def mail_within_the_throttle(self) -> None:
        sent: dict[tuple[str, str], int] = {}
        for row in self._requested_rows():
            # What reached the mail or SMS provider: not withheld, nor suppressed.
            if row["purpose"] in REQUESTED and row["status"] in ("sent", "bounced"):
                key = (row["recipient"], row["purpose"])
                sent[key] = sent.get(key, 0) + 1
        assert all(n <= PER_HOUR for n in sent.values()), sent

    @invariant()
    def no_sms_to_a_number_no_account_proved(self) -> None:
        held = {u["phone"]: u for u in self.users if u["phone"]}
        for row in self.new_rows:
            if row["channel"] != "sms" or row["withhold"] or row["status"] == "cancelled":
                continue
            owner = held.get(row["recipient"])
            if row["purpose"] in ("activation", "address_change"):
                # A code that proves the number goes to one an account was given.
                continue
            if owner is not None and owner["phone_proven_at"] is not None:
                continue
            # A number its account held proved when the message was queued, changed since
            # (her welcome, the notice of the change to her old number).
            proved = self.proved_numbers.get((row["user_id"], row["recipient"]))
            assert proved is not None and proved <= self.seen_at[row["id"]], row

    @invariant()
    def deliveries_read_alike(self) -> None:
        """A discreet delivery shows its client what a withheld one shows, whatever befell it."""
        for delivery in self.discreet_deliveries:
            shown = self.client.get(f"/v1/deliveries/{delivery}").get_json()
            assert "delivered_at" not in shown, shown
            assert shown["status"] in ("queued", "sent"), shown
            assert shown["attempts"] == (0 if shown["status"] == "queued" else 1), shown

    @invariant()
    def registrations_read_alike(self) -> None:
        """A registration's delivery reads the same whether its address was free or taken:
        never a receipt, and `failed` only for an address on the suppression list (which the
        front-end asks to change, whoever holds it)."""
        with self.engine.connect() as connection:
            suppressed = set(connection.execute(select(suppressions.c.address)).scalars())
        for delivery, address in self.registrations:
            shown = self.client.get(f"/v1/deliveries/{delivery}").get_json()
            assert "delivered_at" not in shown, shown
            if shown["status"] == "failed":
                assert (shown["reason"], address in suppressed) == ("address_rejected", True)
            else:
                assert shown["status"] in ("queued", "sent"), shown

    # -- helpers ------------------------------------------------------------------------------

    def _check_discreet_answer(self, answer: Any, body: dict[str, Any]) -> None:
        """A 202 naming a queued delivery on the channel asked for, or a generic refusal."""
        if answer.status_code == 429:
            assert answer.get_json()["detail"] in GENERIC_429, answer.get_json()
            return
        assert answer.status_code == 202, answer.get_json()
        shown = answer.get_json()
        if "new_email" in body or "new_phone" in body:
            asked = "email" if "new_email" in body else "sms"
        else:
            asked = body.get("channel") or ("email" if "email" in body else "sms")
        assert shown["status"] == "accepted"
        assert {**shown["delivery"], "id": None} == {
            "id": None,
            "channel": asked,
            "status": "queued",
        }
        self.discreet_deliveries.append(shown["delivery"]["id"])

    def _check_not_hers(self, actor: Actor, address: str, answer: Any) -> None:
        """Nobody but the victim signs in naming an address she owns, proven or not."""
        if actor is not self.victim and address in self.victim.addresses:
            assert answer.status_code != 200, f"the {actor.name} signed in naming her {address}"

    def _activate(self, victim: Actor, activation: dict[str, str]) -> Any:
        """Her activation, with her password when the account is contested (409)."""
        activated = self._post(victim, "/v1/activations", activation)
        if activated.status_code == 409:
            activated = self._post(
                victim, "/v1/activations", {**activation, "password": victim.password}
            )
        return activated

    def _waits(self, answer: Any) -> bool:
        """Whether this is the gate's refusal, which only a gated service answers."""
        return (
            self.gated
            and answer.status_code == 503
            and answer.get_json()["type"].endswith("/provisioning-pending")
            and int(answer.headers["Retry-After"]) > 0
        )

    def _whose(self, actor: Actor, which: str) -> Actor:
        return actor if which == "own" else next(a for a in self.actors.values() if a is not actor)

    @staticmethod
    def _field(address: str) -> str:
        return "email" if "@" in address else "phone"

    def _look(self) -> None:
        """Read this example's accounts and messages, which the promises are checked on."""
        mine = list(self.addresses)
        with self.engine.connect() as connection:
            self.users = [
                dict(u)
                for u in connection.execute(
                    select(users).where(or_(users.c.email.in_(mine), users.c.phone.in_(mine)))
                ).mappings()
            ]
            self.new_rows = [
                dict(r)
                for r in connection.execute(
                    select(outbox).where(outbox.c.id > self.rows_seen).order_by(outbox.c.id)
                ).mappings()
            ]
        now = self._now()
        for row in self.new_rows:
            self.seen_at.setdefault(row["id"], now)
        for user in self.users:
            if user["phone"] and user["phone_proven_at"]:
                self.proved_numbers.setdefault((user["id"], user["phone"]), now)

    def _now(self) -> float:
        """The example's time: the minutes its steps let pass and the seconds they took."""
        return self.clock + time.monotonic() - self.started

    def _let_time_pass(self, seconds: int) -> None:
        """Age every throttle event by `seconds`, and the example's time with them."""
        let_time_pass(self.engine, seconds)
        self.clock += seconds

    def _messages(self) -> dict[str, dict[str, Any]]:
        """This example's mail and SMS as they stand, by delivery id."""
        return {r["public_id"]: r for r in self.new_rows if r["channel"] != "webhook"}

    def _suppressed(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(suppressions.c.address)).scalars())

    def _requested_rows(self) -> list[dict[str, Any]]:
        """The messages this example's requests caused in the hour before, an operator's left
        out."""
        return [
            r
            for r in self.new_rows
            if r["public_id"] not in self.operators_messages
            and self._now() - self.seen_at[r["id"]] < 3600
        ]

    def _texts(self) -> set[int]:
        """The SMS this example's requests caused that went to a provider, by row."""
        return {
            r["id"]
            for r in self.new_rows
            if r["channel"] == "sms"
            and not r["withhold"]
            and r["public_id"] not in self.operators_messages
        }

    def _read_inboxes(self) -> None:
        """What reached each person's mailbox and phone since the last step."""
        owners = {address: a for a in self.actors.values() for address in a.addresses}
        for mail in self.smtp.sink.received[self.mails_seen :]:
            actor = owners.get(str(mail["To"]))
            text = mail.get_body(("plain",))
            if actor is None or text is None:
                continue
            content = text.get_content()
            codes = CODE.findall(content)
            actor.codes += [(str(mail["To"]), c) for c in codes]
            linked = LINKED.findall(content)
            actor.links += [(unquote(a), p, t) for a, p, t in linked]
            actor.link_codes.update((t, code) for _, _, t in linked for code in codes[:1])
            if mail["List-Unsubscribe"]:
                actor.unsubscribe.append(str(mail["List-Unsubscribe"]).strip("<>").split("/")[-1])
        taken = {id(mail) for mail in self.smtp.sink.received[self.mails_seen :]}
        sink = self.smtp.sink
        for mail, (sender, *_) in zip(
            sink.data_commands[self.envelopes_seen :],
            sink.envelopes[self.envelopes_seen :],
            strict=True,
        ):
            actor = owners.get(str(mail["To"]))
            if actor is not None and id(mail) in taken:
                actor.mails.append(Mail(sender, str(mail["Message-ID"])))
        self.mails_seen = len(self.smtp.sink.received)
        self.envelopes_seen = len(sink.envelopes)
        for sms in self.gateway.requests[self.sms_seen :]:
            actor = owners.get(sms.json["to"])
            if actor is not None:
                actor.codes += [(sms.json["to"], c) for c in CODE.findall(sms.json["body"])]
        self.sms_seen = len(self.gateway.requests)


def _matches(stored: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, ValueError):
        return False


@pytest.fixture
def machine_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API with small budgets, taking providers' receipts."""
    app = create_app(_machine_env(env))
    yield app
    app.extensions["outpost"].engine.dispose()


def _machine_env(env: dict[str, str]) -> dict[str, str]:
    """The test environment with the machine's small budgets, taking providers' receipts."""
    return {
        **env,
        "SMS_CLIENT_HOURLY_LIMIT": str(CLIENT_SMS),
        "SMS_REGION_HOURLY_LIMIT": str(REGION_SMS),
        "SMS_ALLOWED_REGIONS": "FR",
        "THROTTLE_PER_HOUR": str(PER_HOUR),
        "CODE_FALLBACK_AFTER": str(FALLBACK_AFTER),
        "PROVIDER_EVENTS_TOKEN": TOKEN,
        "PUBLIC_URL": PUBLIC_URL,
        "CODE_LINK_URL": LINK,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        **MAIL_REPORT_KEYS,
    }


def _machine_relay(make_relay: MakeRelay, receiver: SmsGateway, **more: Any) -> Relay:
    """Each machine's relay, with the API's budgets and links (_machine_env): without
    CODE_LINK_URL, her mail carries no link to fall back on when the attacker spent her codes."""
    return make_relay(
        sms_url=receiver.url + "/sms",
        public_url=PUBLIC_URL,
        code_link_url=LINK,
        code_fallback_after=FALLBACK_AFTER,
        bounce_address=BOUNCES,
        sms_client_hourly_limit=CLIENT_SMS,
        sms_region_hourly_limit=REGION_SMS,
        throttle_per_hour=PER_HOUR,
        **more,
    )


@pytest.mark.long
@pytest.mark.timeout(600)
def test_the_attacker_gets_nothing_the_promises_keep(
    machine_app: Flask,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    receiver: SmsGateway,
) -> None:
    """`receiver` stands in for the SMS gateway: it takes every message (200)."""
    gateway = receiver
    AttackerAndVictim.app = machine_app
    AttackerAndVictim.engine = engine
    AttackerAndVictim.relay = _machine_relay(make_relay, gateway)
    AttackerAndVictim.throttle = machine_app.extensions["outpost"].throttle
    AttackerAndVictim.smtp = smtp
    AttackerAndVictim.gateway = gateway
    run_state_machine_as_test(
        AttackerAndVictim,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


# The sign-ins the provisioning gate stands before (SPEC "A sign-in that waits for provisioning").
SIGN_INS = ("/v1/logins", "/v1/login-codes/confirm")
# Sized as the machine above, a third of its examples: the gate's rules beside the same ones.
GATED_EXAMPLES = 10


class GatedMachine(AttackerAndVictim):
    """The same people with LOGIN_REQUIRES_PROVISIONING while the application fails its
    provisioning and recovers: the gate never tells a wrong password from a right one, and
    nobody signs in to an account whose `account.activated` the application has not answered."""

    gated = True
    application: ClassVar[SmsGateway]

    @rule(up=st.booleans())
    def application_answers(self, up: bool) -> None:
        """The application fails (500) or recovers (200); the relay's next try of every event
        comes due."""
        self.application.mode = 200 if up else 500
        with self.engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.channel == "webhook", outbox.c.status == "pending")
                .values(next_attempt_at=utcnow())
            )
        self.relay.drain()
        self._look()

    @rule(n=st.integers(0, 3))
    def attacker_guesses(self, n: int) -> None:
        """A wrong password naming any address, hers or his, active or waiting: 401 as ever."""
        address = self.addresses[n]
        guess = {self._field(address): address, "password": "nobody's passphrase at all"}
        answer = self._post(self.attacker, "/v1/logins", guess)
        assert answer.status_code in (401, 429), answer.get_json()

    def _post(self, actor: Actor, path: str, body: dict[str, Any], **how: Any) -> Any:
        answer = super()._post(actor, path, body, **how)
        if path in SIGN_INS and answer.status_code == 200:
            user_id = answer.get_json()["user_id"]
            assert not self._unanswered(user_id), f"{user_id} signed in before provisioning"
        if path in SIGN_INS and answer.status_code == 503:
            self._check_right_credentials(actor, body)
        return answer

    def _check_right_credentials(self, actor: Actor, body: dict[str, Any]) -> None:
        """The gate answered only credentials that open the account: its password, or a code
        that reached this person at the address."""
        field = self._field(body.get("email") or body["phone"])
        [user] = [
            u
            for u in self.users
            if u[field] == body[field] and u["status"] == "active" and u[f"{field}_proven_at"]
        ]
        if "password" in body:
            assert _matches(user["password_hash"], body["password"]), "503 for a wrong password"
        elif "token" in body:
            assert body["token"] in [token for *_, token in actor.links], "503 for a made-up link"
        else:
            assert (body[field], body["code"]) in actor.codes, "503 for a code never sent"

    def _unanswered(self, user_id: int) -> bool:
        """Whether the account has an `account.activated` the application has not answered."""
        return any(
            r["user_id"] == user_id
            and r["purpose"] == "account.activated"
            and (r["status"] == "pending" or (r["status"] == "dead" and r["resolution"] is None))
            for r in self.new_rows
        )


@pytest.fixture
def application() -> Iterator[SmsGateway]:
    """The application's webhook endpoint, failing its provisioning until a rule recovers it."""
    with SmsGateway(mode=500) as server:
        yield server


@pytest.mark.long
@pytest.mark.timeout(600)
def test_the_provisioning_gate_tells_the_attacker_nothing(
    env: dict[str, str],
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    receiver: SmsGateway,
    application: SmsGateway,
) -> None:
    """`receiver` stands in for the SMS gateway, `application` for the application; a refused
    event's retry waits half a minute, until `application_answers` makes it due."""
    hooks = application.url + "/hooks"
    app = create_app(
        {
            **_machine_env(env),
            "WEBHOOK_URL": hooks,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LOGIN_REQUIRES_PROVISIONING": "true",
        }
    )
    GatedMachine.app = app
    GatedMachine.engine = engine
    GatedMachine.throttle = app.extensions["outpost"].throttle
    GatedMachine.relay = _machine_relay(
        make_relay,
        receiver,
        webhook_url=hooks,
        webhook_secret=WEBHOOK_KEY,
        relay_backoff_base=30.0,
        relay_backoff_cap=60.0,
    )
    GatedMachine.smtp = smtp
    GatedMachine.gateway = receiver
    GatedMachine.application = application
    try:
        run_state_machine_as_test(
            GatedMachine,
            settings=settings(
                max_examples=GATED_EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        app.extensions["outpost"].engine.dispose()


# Each public route that writes, and the rule of the machine that plays it.
PLAYED = {
    "/v1/registrations": AttackerAndVictim.attacker_registers,
    "/v1/activations": AttackerAndVictim.activate,
    "/v1/activations/resend": AttackerAndVictim.resend,
    "/v1/password-resets": AttackerAndVictim.reset,
    "/v1/password-resets/confirm": AttackerAndVictim.reset_confirm,
    "/v1/address-changes": AttackerAndVictim.change,
    "/v1/address-changes/confirm": AttackerAndVictim.change_confirm,
    "/v1/logins": AttackerAndVictim.login,
    "/v1/login-codes": AttackerAndVictim.login_code,
    "/v1/login-codes/confirm": AttackerAndVictim.login_code_confirm,
    "/v1/unsubscribe/<token>": AttackerAndVictim.unsubscribe,
    # Reports of mail, which the attacker forges.
    "/v1/provider-events": AttackerAndVictim.attacker_makes_his_address_refuse,
    "/v1/provider-events/mail": AttackerAndVictim.attacker_mails_reports,
    **{
        f"/v1/provider-events/{p}": AttackerAndVictim.forged_mail_reports_arrive
        for p in SIGNED_REPORTS
    },
}


def test_every_public_route_that_writes_has_a_rule(app: Flask) -> None:
    writing = {
        r.rule
        for r in app.url_map.iter_rules()
        if r.methods
        and r.methods & {"POST", "PUT", "PATCH", "DELETE"}
        and not r.rule.startswith(AUTHENTICATED)
    }
    assert writing == set(PLAYED), "a route that writes is not played by the machine"
