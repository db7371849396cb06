"""The relay against Debian's Postfix (one private instance per session, support/postfix.py):
mail delivered once, refused recipients and messages, and a server refusing bare newlines;
each asserting what Postfix logged and delivered and what Outpost wrote in its rows. Postfix
offers PIPELINING and CHUNKING: the relay's sessions with it are pipelined, each message one
BDAT chunk."""

from __future__ import annotations

import re
import smtplib
from itertools import product

from sqlalchemy import Engine

from shared.clock import utcnow
from shared.messaging.branding import Branding
from shared.messaging.locales import PACKAGED as LOCALES
from shared.messaging.outbox import CODED, PURPOSES, enqueue
from shared.messaging.suppressions import Suppressor
from shared.secrets.secretbox import SecretBox
from support import processes
from support.bulk import queue_emails
from support.constants import SECRET_KEY, MakeRelay
from support.postfix import Postfix, addresses, delivered_once
from support.postfix_config import DISCARD_DOMAIN, DOMAIN, LOGIN, UNKNOWN
from support.relays import drain_until
from support.rows import outcomes, rows, statuses

# 60 characters with accents: French subjects fold (issue 31).
PRODUCT_NAME = "Éditions Numériques de la Côte d'Émeraude — Espace Adhérents"


def test_starttls_and_auth_deliver_every_mail_once(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("happy")
    ids = queue_emails(engine, 10, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("starttls_auth", starttls=True))
    drain_until(relay, lambda: statuses(engine) == {"sent": 10}, 10)
    assert outcomes(engine) == {"sent": 10}
    delivered_once(postfix, relay, addresses(prefix, 10), ids)
    log = "\n".join(postfix.service_log("starttls_auth", since))
    assert "TLS connection established" in log
    assert f"sasl_username={LOGIN[0]}@" in log
    with smtplib.SMTP("127.0.0.1", postfix.ports["starttls_auth"], timeout=5) as session:
        session.ehlo()
        assert session.has_extn("pipelining") and session.has_extn("chunking")
    relay.close()

    def chunks() -> list[tuple[str, str]]:
        """Postfix's count of DATA and BDAT in each session ended since `since`."""
        lines = postfix.service_log("starttls_auth", since)
        return [c for line in lines for c in re.findall(r" (data|bdat)=(\d+)", line)]

    # Every message one chunk, as each session's command counts say once it ends.
    processes.eventually(lambda: sum(int(n) for _, n in chunks()) >= 10, 10, "sessions ended")
    assert {verb for verb, _ in chunks()} == {"bdat"}
    assert sum(int(n) for _, n in chunks()) == 10


def test_mail_to_the_discard_domain_is_accepted_and_thrown_away(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("bench")
    queue_emails(engine, 3, prefix=prefix, domain=DISCARD_DOMAIN)
    relay = postfix_relay(postfix.url("starttls_auth", starttls=True))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    for address in addresses(prefix, 3, DISCARD_DOMAIN):
        processes.eventually(
            lambda a=address: f"to=<{a}>, relay=none" in postfix.log(since), 10, "discarded"
        )


def test_an_unknown_user_is_dead_and_suppressed(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh(UNKNOWN)
    [stranger] = addresses(prefix, 1)
    queue_emails(engine, 1, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("starttls_auth", starttls=True))
    drain_until(relay, lambda: statuses(engine) == {"dead": 1}, 10)
    [row] = rows(engine, "outbox")
    assert row["dead_reason"] == "permanent_error"
    assert str(row["last_error"]).startswith("SMTP 550 5.1.1")
    [entry] = rows(engine, "suppressions")
    assert entry["address_hash"] == Suppressor.under(SECRET_KEY).hash(stranger)
    assert f"550 5.1.1 <{stranger}>: Recipient address rejected: User unknown" in postfix.log(since)


def test_a_message_past_the_size_limit_is_dead_and_its_address_is_not_suppressed(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("big")
    queue_emails(engine, 1, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("sizelimit", login=False))
    drain_until(relay, lambda: statuses(engine) == {"dead": 1}, 10)
    [row] = rows(engine, "outbox")
    assert row["dead_reason"] == "permanent_error"
    assert str(row["last_error"]).startswith("SMTP 552 5.3.4")
    assert rows(engine, "suppressions") == []
    relay.close()
    [session] = postfix.sessions("sizelimit", since)
    assert "bdat=0/1" in session
    assert postfix.mailbox(addresses(prefix, 1)[0]) == []


def test_a_server_refusing_bare_newlines_takes_every_purpose_and_locale(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
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
                params={
                    "full_name": "Zoé",
                    "expires_minutes": 15,
                    "changed": "email",
                    "new_address": "z***@example.com",
                },
                secret_params={"code": "482913"} if purpose in CODED else None,
            ).id
            for (purpose, locale), recipient in zip(kinds, recipients, strict=True)
        ]
    relay = postfix_relay(
        postfix.url("strict", login=False),
        branding=Branding(product_name=PRODUCT_NAME),
        # The "no account" notices carry their unsubscribe link (without one, withheld).
        public_url="https://api.outpost.test",
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
