"""The relay against Debian's Postfix, each scenario an smtpd service of one private instance:
what Postfix logged and delivered to its mailboxes, and what Outpost wrote in its rows."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from itertools import pairwise, product
from typing import Any

import pytest
from sqlalchemy import Engine

from outbox_relay.compose import message_id
from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.config import DEFAULT_CONCURRENCY, Branding, parse_smtp_url
from shared.outbox import CODED, LOCALES, PURPOSES, enqueue
from shared.secretbox import SecretBox
from shared.suppressions import Suppressor
from support import processes
from support.bulk import queue_emails
from support.constants import SECRET_KEY, MakeRelay
from support.postfix import DISCARD_DOMAIN, DOMAIN, LOGIN, UNKNOWN, Postfix, available
from support.relays import drain_until
from support.rows import outcomes, rows, statuses

# Probes at most a second apart: a pause costs a scenario about a second, not minutes.
PROBE_INTERVAL = 1.0
STARTTLS = "&starttls=true"
# 60 characters with accents: French subjects fold (issue 31).
PRODUCT_NAME = "Éditions Numériques de la Côte d'Émeraude — Espace Adhérents"

NEEDS_A = "needs (a): 4.7.x at RCPT/DATA is the message's until 3 recipients; 421 lowers sessions"
NEEDS_B = "needs (b): credentials never travel in clear"
NEEDS_C = "needs (c): every header line ends in CRLF, folded ones too"


@pytest.fixture(scope="session")
def postfix() -> Iterator[Postfix]:
    """One private Postfix for the whole session, every scenario a service of its own."""
    if not available():
        pytest.fail("Postfix needs root and `apt-get install postfix sasl2-bin libsasl2-modules`")
    instance = Postfix()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


@pytest.fixture(autouse=True)
def trust_the_test_ca(postfix: Postfix, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay verifies Postfix's certificate against the test CA, as SSL_CERT_FILE says."""
    monkeypatch.setenv("SSL_CERT_FILE", str(postfix.ca_file))


def relay_to(make_relay: MakeRelay, url: str, **changes: Any) -> Relay:
    """A relay sending through `url`, probing a paused provider at least every PROBE_INTERVAL;
    four senders, so that a scenario starts four smtpd processes rather than one per mail."""
    defaults = {
        "relay_backoff_base": 0.2,
        "relay_backoff_cap": PROBE_INTERVAL,
        "relay_concurrency": 4,
    }
    return make_relay(smtp=parse_smtp_url(url), **{**defaults, **changes})


def keep_draining(relay: Relay, seconds: float) -> None:
    """Drain for `seconds`, as a running relay would meanwhile."""
    until = time.monotonic() + seconds
    drain_until(relay, lambda: time.monotonic() > until, seconds + 5)


def paused_for(relay: Relay, reason: str) -> bool:
    """Whether the relay's SMTP provider is paused with `reason` in its status."""
    return any(reason in line for line in relay.providers.status())


def addresses(prefix: str, count: int, domain: str = DOMAIN) -> list[str]:
    return [f"{prefix}{n}@{domain}" for n in range(count)]


def delivered_once(postfix: Postfix, relay: Relay, recipients: list[str], ids: list[str]) -> None:
    """Each mail is in its recipient's mailbox, once, by its Message-ID."""

    def mailboxes() -> dict[str, list[str]]:
        return {a: [str(m["Message-ID"]) for m in postfix.mailbox(a)] for a in recipients}

    processes.eventually(lambda: all(mailboxes().values()), 10, "every mail delivered")
    expected = [[message_id(i, relay.settings.mail_from)] for i in ids]
    assert list(mailboxes().values()) == expected


def sessions(postfix: Postfix, scenario: str, since: int) -> list[str]:
    """The `disconnect` lines (each session's command counts) of a scenario, once the relay's
    sessions are closed."""
    processes.eventually(
        lambda: any("disconnect from" in line for line in postfix.service_log(scenario, since)),
        10,
        "Postfix logged the session's end",
    )
    return [line for line in postfix.service_log(scenario, since) if "disconnect from" in line]


def untried(engine: Engine, count: int) -> None:
    """Every row waits: none sent, none dead, no try counted."""
    assert statuses(engine) == {"pending": count}
    assert {r["attempts"] for r in rows(engine, "outbox")} == {0}


def test_starttls_and_auth_deliver_every_mail_once(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("happy")
    ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("starttls_auth", query=STARTTLS))
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 10)
    assert outcomes(engine) == {"sent": 10}
    delivered_once(postfix, relay, addresses(prefix, 10), ids)
    log = "\n".join(postfix.service_log("starttls_auth", since))
    assert "TLS connection established" in log
    assert f"sasl_username={LOGIN[0]}@" in log


def test_mail_to_the_discard_domain_is_accepted_and_thrown_away(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("bench")
    queue_emails(engine, 3, prefix=prefix, domain=DISCARD_DOMAIN)
    relay = relay_to(make_relay, postfix.url("starttls_auth", query=STARTTLS))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    for address in addresses(prefix, 3, DISCARD_DOMAIN):
        processes.eventually(
            lambda a=address: f"to=<{a}>, relay=none" in postfix.log(since), 10, "discarded"
        )


@pytest.mark.postgresql_only
def test_a_wrong_password_pauses_the_provider_and_the_right_one_delivers(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("password")
    ids = queue_emails(engine, 5, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("starttls_auth", query=STARTTLS))
    postfix.set_password("not-what-the-relay-presents")
    try:
        drain_until(relay, lambda: paused_for(relay, "SMTP 535 5.7.8"), 10)
        keep_draining(relay, 1.5)
        untried(engine, 5)
        assert "authentication failed" in postfix.log(since)
    finally:
        postfix.set_password(LOGIN[1])
    drain_until(relay, lambda: statuses(engine) == {"sent": 5}, 10)
    assert {r["attempts"] for r in rows(engine, "outbox")} == {1}
    assert set(outcomes(engine)) <= {"sent", "provider_down"}
    delivered_once(postfix, relay, addresses(prefix, 5), ids)


@pytest.mark.postgresql_only
def test_postfix_stopped_then_started_loses_nothing_and_delivers_each_mail_once(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    prefix = postfix.fresh("outage")
    relay = relay_to(make_relay, postfix.url("starttls_auth", query=STARTTLS))
    postfix.stop()
    try:
        ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
        drain_until(relay, lambda: paused_for(relay, "ConnectionRefusedError"), 10)
        keep_draining(relay, 1.5)
        untried(engine, 10)
        assert set(outcomes(engine)) == {"provider_down"}
    finally:
        postfix.start()
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 15)
    delivered_once(postfix, relay, addresses(prefix, 10), ids)


def test_an_unknown_user_is_dead_and_suppressed(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh(UNKNOWN)
    [stranger] = addresses(prefix, 1)
    queue_emails(engine, 1, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("starttls_auth", query=STARTTLS))
    drain_until(relay, lambda: statuses(engine) == {"dead": 1}, 10)
    [row] = rows(engine, "outbox")
    assert row["dead_reason"] == "permanent_error"
    assert str(row["last_error"]).startswith("SMTP 550 5.1.1")
    [entry] = rows(engine, "suppressions")
    assert entry["address_hash"] == Suppressor(SECRET_KEY).hash(stranger)
    assert f"550 5.1.1 <{stranger}>: Recipient address rejected: User unknown" in postfix.log(since)


def test_a_message_past_the_size_limit_is_dead_and_its_address_is_not_suppressed(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("big")
    queue_emails(engine, 1, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("sizelimit", login=False))
    drain_until(relay, lambda: statuses(engine) == {"dead": 1}, 10)
    [row] = rows(engine, "outbox")
    assert row["dead_reason"] == "permanent_error"
    assert str(row["last_error"]).startswith("SMTP 552 5.3.4")
    assert rows(engine, "suppressions") == []
    relay.close()
    [session] = sessions(postfix, "sizelimit", since)
    assert "data=0/1" in session
    assert postfix.mailbox(addresses(prefix, 1)[0]) == []


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(STARTTLS, id="starttls-asked"),
        pytest.param(
            "", id="credentials-only", marks=pytest.mark.xfail(strict=True, reason=NEEDS_B)
        ),
    ],
)
def test_a_server_without_starttls_is_paused_and_never_sees_the_credentials(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix, query: str
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("clear")
    queue_emails(engine, 2, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("notls", query=query))
    drain_until(relay, lambda: relay.providers.status() or "pending" not in statuses(engine), 10)
    assert paused_for(relay, "STARTTLS not offered")
    keep_draining(relay, 1)
    untried(engine, 2)
    relay.close()
    lines = sessions(postfix, "notls", since)
    assert not [line for line in lines if " auth=" in line]
    assert "sasl_" not in postfix.log(since)


def test_smtps_is_implicit_tls(engine: Engine, make_relay: MakeRelay, postfix: Postfix) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("implicit")
    ids = queue_emails(engine, 3, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("smtps", scheme="smtps"))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    delivered_once(postfix, relay, addresses(prefix, 3), ids)
    log = "\n".join(postfix.service_log("smtps", since))
    assert "TLS connection established" in log and "sasl_method=PLAIN" in log


def test_a_certificate_from_another_ca_pauses_the_provider_and_sends_nothing(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("otherca")
    queue_emails(engine, 2, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("otherca", query=STARTTLS))
    drain_until(relay, lambda: paused_for(relay, "CERTIFICATE_VERIFY_FAILED"), 10)
    keep_draining(relay, 1)
    untried(engine, 2)
    assert "client=" not in postfix.log(since)
    assert all(postfix.mailbox(a) == [] for a in addresses(prefix, 2))


@pytest.mark.xfail(strict=True, reason=NEEDS_B)
def test_credentials_without_a_starttls_parameter_go_over_tls(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("tlsfirst")
    ids = queue_emails(engine, 3, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("starttls_auth"))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    delivered_once(postfix, relay, addresses(prefix, 3), ids)
    relay.close()
    authenticated = [line for line in sessions(postfix, "starttls_auth", since) if " auth=" in line]
    assert authenticated and all(" starttls=1 " in line for line in authenticated)
    log = postfix.log(since)
    assert log.index("TLS connection established") < log.index("sasl_method=")


@pytest.mark.postgresql_only
@pytest.mark.xfail(strict=True, reason=NEEDS_A)
def test_one_greylisted_recipient_backs_off_while_the_others_go(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix, caplog: pytest.LogCaptureFixture
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("grey")
    recipients = addresses(prefix, 50)
    grey = recipients[17]
    relay = relay_to(
        make_relay, postfix.url("greylist", login=False), relay_concurrency=DEFAULT_CONCURRENCY
    )
    caplog.set_level(logging.WARNING, logger="outbox_relay.providers")
    postfix.greylist([grey])
    try:
        ids = queue_emails(engine, 50, prefix=prefix, domain=DOMAIN)
        started = time.monotonic()
        drain_until(relay, lambda: statuses(engine)["sent"] == 49, 10)
        assert time.monotonic() - started < 5
        keep_draining(relay, 2.5)
        [row] = [r for r in rows(engine, "outbox") if r["recipient"] == grey]
        assert row["status"] == "pending" and row["attempts"] >= 2
        tries = [a for a in rows(engine, "outbox_attempts") if a["outbox_id"] == row["id"]]
        assert {a["outcome"] for a in tries} == {"transient"}
        assert len(tries) == row["attempts"]
        pauses = [r for r in caplog.records if r.getMessage() == "provider paused"]
        assert len(pauses) <= 3
        assert postfix.log(since).count("Recipient address rejected: Greylisted") >= 2
    finally:
        postfix.greylist([])
    drain_until(relay, lambda: statuses(engine) == {"sent": 50}, 10)
    delivered_once(postfix, relay, recipients, ids)


@pytest.mark.postgresql_only
def test_anvils_message_rate_limit_kills_nothing_and_everything_arrives(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("anvil")
    ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
    relay = relay_to(make_relay, postfix.url("anvil", login=False))
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 15)
    delivered_once(postfix, relay, addresses(prefix, 10), ids)
    assert "Message delivery request rate limit exceeded" in postfix.log(since)
    refused = [a for a in rows(engine, "outbox_attempts") if a["outcome"] != "sent"]
    assert refused and all("450 4.7.1 Error: too much mail" in a["error"] for a in refused)


@pytest.mark.postgresql_only
@pytest.mark.xfail(strict=True, reason=NEEDS_A)
def test_a_connection_cap_below_the_relays_concurrency_delays_no_message_past_a_probe(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("cap")
    ids = queue_emails(engine, 20, prefix=prefix, domain=DOMAIN)
    # Four senders against a cap of two connections.
    relay = relay_to(make_relay, postfix.url("conncap", login=False), relay_concurrency=4)
    started = utcnow()
    drain_until(relay, lambda: statuses(engine) == {"sent": 20}, 8)
    times = sorted([started, *(r["sent_at"] for r in rows(engine, "outbox"))])
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    assert max(gaps) <= PROBE_INTERVAL + 0.5, gaps
    delivered_once(postfix, relay, addresses(prefix, 20), ids)
    assert "Connection concurrency limit exceeded" in postfix.log(since)


@pytest.mark.xfail(strict=True, reason=NEEDS_C)
def test_a_server_refusing_bare_newlines_takes_every_purpose_and_locale(
    engine: Engine, make_relay: MakeRelay, postfix: Postfix
) -> None:
    assert len(PRODUCT_NAME) == 60
    since = postfix.mark()
    kinds = list(product(PURPOSES, LOCALES))
    prefix = postfix.fresh("strict")
    recipients = addresses(prefix, len(kinds))
    box, now = SecretBox(SECRET_KEY), utcnow()
    with engine.begin() as connection:
        ids = [
            enqueue(
                connection,
                box,
                now=now,
                channel="email",
                purpose=purpose,
                recipient=recipient,
                locale=locale,
                params={"full_name": "Zoé", "expires_minutes": 15},
                secret_params={"code": "482913"} if purpose in CODED else None,
            ).id
            for (purpose, locale), recipient in zip(kinds, recipients, strict=True)
        ]
    relay = relay_to(
        make_relay,
        postfix.url("strict", login=False),
        branding=Branding(product_name=PRODUCT_NAME),
    )
    drain_until(relay, lambda: "pending" not in statuses(engine), 10)
    assert statuses(engine) == {"sent": len(kinds)}, {
        r["last_error"] for r in rows(engine, "outbox")
    }
    delivered_once(postfix, relay, recipients, ids)
    assert "bare <LF>" not in postfix.log(since)
    for recipient in recipients:
        [mail] = postfix.mailbox(recipient)
        assert re.search(r" [+-]\d{4}$", str(mail["Date"])), mail["Date"]
