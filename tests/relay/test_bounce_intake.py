"""`outbox-relay bounce`: a report by mail on stdin, as Postfix's pipe hands it over, reaches
the message its signed address names: RFC 3464's example reports made ours (support/
mail_reports.py), a feedback report, a bounce in no standard form; forged reports, auto-replies
and what is no mail act on nothing; the exit status tells the MTA what to do with the mail."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.bounce import EX_DATAERR, EX_OK, EX_TEMPFAIL, bounce
from outbox_relay.relay import Relay
from shared.reports.bounce_tokens import verp_address
from shared.settings.config import Settings
from support.bounce_reports import (
    Recipient,
    delivery_status,
    feedback_report,
    qmail_bounce,
    vacation,
)
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer
from support.sns import PASSWORD

BOUNCES = "bounces@mail.outpost.test"


@pytest.fixture
def sender(make_relay: MakeRelay) -> Relay:
    """A relay sending from BOUNCE_ADDRESS."""
    return make_relay(bounce_address=BOUNCES)


def sent(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> tuple[str, str]:
    """Register `email`, deliver its activation; its delivery id and envelope sender."""
    response = api.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    delivery_id: str = response.get_json()["delivery"]["id"]
    relay.drain()
    [envelope] = [e for e in smtp.sink.envelopes if e[0].endswith("@mail.outpost.test")][-1:]
    return delivery_id, envelope[0]


def view(api: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    delivery = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    return delivery["status"], delivery["reason"]


def read(settings: Settings, raw: bytes, recipient: str | None) -> int:
    return bounce(settings.replace(bounce_address=BOUNCES), io.BytesIO(raw), recipient)


def suppressed(engine: Engine) -> list[str]:
    return [row["address"] for row in rows(engine, "suppressions")]


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "suppressing"),
    [
        ("5.1.1", "smtp; 550 5.1.1 <{address}>: Recipient address rejected", "address_rejected", 1),
        ("5.7.1", "smtp; 554 5.7.1 Message refused after DATA", "undeliverable", 0),
        ("4.4.7", "smtp; 451 4.4.7 Delivery time expired", "undeliverable", 0),
    ],
)
def test_a_failure_past_the_smarthost_fails_the_delivery(
    api: FlaskClient,
    sender: Relay,
    smtp: SinkServer,
    engine: Engine,
    settings: Settings,
    status: str,
    diagnostic: str,
    reason: str,
    suppressing: int,
) -> None:
    delivery_id, envelope = sent(api, sender, smtp, "jane@example.com")
    assert view(api, delivery_id) == ("sent", None)
    report = delivery_status(
        envelope,
        [Recipient("jane@example.com", "failed", status, diagnostic)],
        envelope_id=delivery_id,
        message_id=f"<{delivery_id}@outpost.test>",
    )
    assert read(settings, report, envelope) == EX_OK
    assert view(api, delivery_id) == ("failed", reason)
    assert suppressed(engine) == ["jane@example.com"][:suppressing]
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"], event["source"]) == ("bounce", True, "mail")
    assert event["diagnostic"].startswith(f"failed {status}: smtp; ")


def test_a_delay_is_recorded_and_changes_nothing_else(
    api: FlaskClient, sender: Relay, smtp: SinkServer, engine: Engine, settings: Settings
) -> None:
    delivery_id, envelope = sent(api, sender, smtp, "jane@example.com")
    late = Recipient("jane@example.com", "delayed", "4.0.0", "smtp; 426 connection timed out")
    raw = delivery_status(BOUNCES, [late], delivered_to=envelope)
    assert read(settings, raw, None) == EX_OK, "found by its Delivered-To"
    assert view(api, delivery_id) == ("sent", None)
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"]) == ("bounce", False)
    assert suppressed(engine) == []


def test_a_complaint_and_a_bounce_in_no_standard_form_suppress(
    api: FlaskClient, sender: Relay, smtp: SinkServer, engine: Engine, settings: Settings
) -> None:
    complained, first = sent(api, sender, smtp, "jane@example.com")
    bounced, second = sent(api, sender, smtp, "mary@example.com")
    assert read(settings, feedback_report(first, "jane@example.com"), first) == EX_OK
    assert read(settings, qmail_bounce(second, "mary@example.com"), second) == EX_OK
    assert view(api, complained) == ("failed", "address_rejected")
    assert view(api, bounced) == ("failed", "address_rejected")
    assert sorted(suppressed(engine)) == ["jane@example.com", "mary@example.com"]
    kinds = sorted((e["type"], e["source"]) for e in rows(engine, "provider_events"))
    assert kinds == [("bounce", "mail"), ("complaint", "mail")]


def test_forged_reports_and_auto_replies_act_on_nothing(
    api: FlaskClient, sender: Relay, smtp: SinkServer, engine: Engine, settings: Settings
) -> None:
    """A made-up token; the token of a mail the forger received, naming someone else; a
    token with another message's envelope id; a vacation notice naming the address."""
    victim, _ = sent(api, sender, smtp, "jane@example.com")
    forger, own = sent(api, sender, smtp, "mallory@example.com")
    made_up = verp_address(BOUNCES, victim, "not the key " * 3)
    reported = [Recipient("jane@example.com")]
    assert read(settings, delivery_status(made_up, reported), made_up) == EX_OK
    assert read(settings, delivery_status(own, reported), own) == EX_OK
    other_envid = delivery_status(own, [Recipient("mallory@example.com")], envelope_id=victim)
    assert read(settings, other_envid, own) == EX_OK
    assert read(settings, vacation(own, "mallory@example.com"), own) == EX_OK
    unsigned = delivery_status(BOUNCES, reported, envelope_id=victim)
    assert read(settings, unsigned, BOUNCES) == EX_OK
    assert view(api, victim) == view(api, forger) == ("sent", None)
    assert (rows(engine, "provider_events"), suppressed(engine)) == ([], [])


def test_the_exit_status_tells_the_mta_what_to_do(
    env: dict[str, str], api: FlaskClient, sender: Relay, smtp: SinkServer
) -> None:
    """0 once read, 65 for what is no mail, 75 while the database is away, as a process."""
    delivery_id, envelope = sent(api, sender, smtp, "jane@example.com")
    report = delivery_status(envelope, [Recipient("jane@example.com")])
    away = "postgresql://outpost@127.0.0.1:9/outpost?connect_timeout=2"
    cases = [(env, report, EX_OK), (env, b"not a mail\r\n", EX_DATAERR)]
    cases.append(({**env, "DATABASE_URL": away}, report, EX_TEMPFAIL))
    for environ, raw, status in cases:
        command = [sys.executable, "-m", "outbox_relay.cli", "bounce", "--recipient", envelope]
        done = subprocess.run(
            command, input=raw, env={**environ, "BOUNCE_ADDRESS": BOUNCES}, capture_output=True
        )
        assert done.returncode == status, done.stderr
    assert view(api, delivery_id) == ("failed", "address_rejected")


def test_a_diagnostic_no_database_stores_as_sent_is_kept_readable(
    api: FlaskClient, sender: Relay, smtp: SinkServer, engine: Engine, settings: Settings
) -> None:
    """Bytes beyond ASCII (UTF-8 or not) and NUL in a report's fields: read, never a
    database error that would have the MTA hand the report over again for days."""
    delivery_id, envelope = sent(api, sender, smtp, "jane@example.com")
    said = "smtp; 550 5.1.1 Boîte inconnue NUL BYTE"
    report = delivery_status(envelope, [Recipient("jane@example.com", diagnostic=said)])
    raw = report.replace(b"NUL", b"\x00").replace(b"BYTE", b"\xff")
    assert read(settings, raw, envelope) == EX_OK
    assert view(api, delivery_id) == ("failed", "address_rejected")
    [event] = rows(engine, "provider_events")
    assert event["diagnostic"] == "failed 5.1.1: smtp; 550 5.1.1 Boîte inconnue \ufffd"
