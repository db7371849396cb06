"""The other channel when a code bounces after its provider took it (CODE_FALLBACK_AFTER): a
mailed activation code accepted `250` by a real SMTP server, then reported bounced through the
real intakes (`outbox-relay bounce` as a process, POST /v1/provider-events/mail, Postmark's
webhook), goes by SMS to the registration's phone through a real HTTP gateway stand-in, once,
under the same rules as a refusal the relay meets itself (shared/messaging/fallbacks.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.reports.bounce_tokens import verp_address
from support.bounce_reports import Recipient, delivery_status
from support.constants import PASSWORD, SECRET_KEY, MakeRelay
from support.mail_reports import fixture, post, postmark
from support.relays import drain_until, keep_draining
from support.rows import let_time_pass, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer
from support.sns import BEARER
from support.sns import TOKEN as EVENTS_TOKEN

EMAIL, PHONE = "ada@example.com", "+33612345678"
BOUNCES = "bounces@mail.outpost.test"
RFC822 = {**BEARER, "Content-Type": "message/rfc822"}
# Long enough for the relay to see a report that would have sent something (a few polls).
QUIET = 1.0


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server standing in for the SMS gateway, answering 202."""
    with SmsGateway(mode=202) as server:
        yield server


@pytest.fixture
def env(env: dict[str, str], gateway: SmsGateway) -> dict[str, str]:
    """Both processes with CODE_FALLBACK_AFTER, the gateway, BOUNCE_ADDRESS and the reports' key."""
    return {
        **env,
        "CODE_FALLBACK_AFTER": "2",
        "SMS_URL": gateway.url + "/sms",
        "SMS_TOKEN": "gw-token",
        "SMS_ALLOWED_REGIONS": "FR",
        "BOUNCE_ADDRESS": BOUNCES,
        "PROVIDER_EVENTS_TOKEN": EVENTS_TOKEN,
    }


def registered(client: FlaskClient, relay: Relay, smtp: SinkServer) -> tuple[str, str]:
    """Register with an email address and a phone, the mailed code accepted `250`; its delivery
    id and the envelope sender (the VERP address its reports come back to)."""
    body = {"email": EMAIL, "phone": PHONE, "password": PASSWORD}
    answer = client.post("/v1/registrations", json=body)
    assert answer.status_code == 202, answer.get_json()
    delivery_id: str = answer.get_json()["delivery"]["id"]
    drain_until(relay, lambda: shown(client, delivery_id)["status"] == "sent")
    return delivery_id, smtp.sink.envelopes[-1][0]


def shown(client: FlaskClient, delivery_id: str) -> dict[str, object]:
    answer: dict[str, object] = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return answer


def dsn(envelope: str, delivery_id: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A delivery status notification about the activation mail, as the next hop writes it."""
    said = f"smtp; {'550' if status.startswith('5') else '451'} {status} <{EMAIL}>: no"
    return delivery_status(
        envelope,
        [Recipient(EMAIL, action, status, said)],
        envelope_id=delivery_id,
        message_id=f"<{delivery_id}@outpost.test>",
        delivered_to=envelope,
    )


def posted(client: FlaskClient, report: bytes) -> dict[str, int]:
    answer = client.post("/v1/provider-events/mail", data=report, headers=RFC822)
    assert answer.status_code == 200, answer.get_json()
    counts: dict[str, int] = answer.get_json()
    return counts


def piped(env: dict[str, str], report: bytes, recipient: str) -> None:
    """`outbox-relay bounce`, as Postfix's pipe runs it: the report on stdin."""
    command = [sys.executable, "-m", "outbox_relay.cli", "bounce", "--recipient", recipient]
    done = subprocess.run(command, input=report, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr


def texted(gateway: SmsGateway) -> list[tuple[str, str]]:
    """Each SMS with a code: its delivery id and the code."""
    found = [(r.json["id"], re.findall(r"\b\d{6}\b", r.json["body"])) for r in gateway.requests]
    return [(public_id, codes[0]) for public_id, codes in found if codes]


def activates(client: FlaskClient, engine: Engine, code: str) -> None:
    answer = client.post("/v1/activations", json={"phone": PHONE, "code": code})
    assert answer.status_code == 200, answer.get_json()
    [user] = rows(engine, "users")
    assert user["status"] == "active" and user["phone_proven_at"] is not None


def test_a_dsn_piped_to_outbox_relay_bounce_sends_the_code_by_sms_once(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    delivery_id, envelope = registered(client, relay, smtp)
    keep_draining(relay, QUIET)
    assert gateway.requests == []
    piped(env, dsn(envelope, delivery_id), envelope)
    drain_until(relay, lambda: gateway.requests)
    [(fallback_id, code)] = texted(gateway)
    mailed = shown(client, delivery_id)
    assert (mailed["status"], mailed["reason"]) == ("failed", "address_rejected")
    assert mailed["fallback"] == {"id": fallback_id, "channel": "sms"}
    # The same bounce again (the MTA's retry, a second report): no second fallback.
    piped(env, dsn(envelope, delivery_id), envelope)
    keep_draining(relay, QUIET)
    assert len(gateway.requests) == 1
    assert shown(client, delivery_id)["fallback"] == {"id": fallback_id, "channel": "sms"}
    activates(client, engine, code)


def test_a_forged_or_a_delayed_report_sends_nothing_and_a_real_one_the_code(
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    delivery_id, envelope = registered(client, relay, smtp)
    made_up = verp_address(BOUNCES, delivery_id, "not the key " * 3)
    assert posted(client, dsn(made_up, delivery_id)) == {"accepted": 0, "unknown": 1}
    delayed = dsn(envelope, delivery_id, "delayed", "4.4.7")
    assert posted(client, delayed) == {"accepted": 1, "unknown": 0}
    keep_draining(relay, QUIET)
    assert gateway.requests == []
    mailed = shown(client, delivery_id)
    assert mailed["status"] == "sent" and "fallback" not in mailed
    assert posted(client, dsn(envelope, delivery_id)) == {"accepted": 1, "unknown": 0}
    drain_until(relay, lambda: gateway.requests)
    [(fallback_id, code)] = texted(gateway)
    assert shown(client, delivery_id)["fallback"] == {"id": fallback_id, "channel": "sms"}
    activates(client, engine, code)


def test_postmarks_hard_bounce_sends_the_code_by_sms_and_a_soft_one_nothing(
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    """Matched by the id the provider answered the send with, as Postmark's records are."""
    provider_id = str(uuid.uuid4())
    smtp.sink.accepted = f"250 Ok {provider_id}"
    delivery_id, _ = registered(client, relay, smtp)
    for name, accepted in (("bounce_soft", 1), ("bounce", 1)):
        record = fixture("postmark", name, provider_id=provider_id, recipient=EMAIL)
        answer = post(client, "postmark", postmark(record))
        assert (answer.status_code, answer.get_json()["accepted"]) == (200, accepted)
        if name == "bounce_soft":
            keep_draining(relay, QUIET)
            assert gateway.requests == []
    drain_until(relay, lambda: gateway.requests)
    [(fallback_id, code)] = texted(gateway)
    mailed = shown(client, delivery_id)
    assert (mailed["status"], mailed["reason"]) == ("failed", "address_rejected")
    assert mailed["fallback"] == {"id": fallback_id, "channel": "sms"}
    activates(client, engine, code)


def test_a_bounced_reset_code_never_goes_to_an_unproven_phone(
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    registered(client, relay, smtp)
    [activation] = smtp.sink.received
    [code] = re.findall(r"\b\d{6}\b", activation.get_body(("plain",)).get_content())
    assert client.post("/v1/activations", json={"email": EMAIL, "code": code}).status_code == 200
    answer = client.post("/v1/password-resets", json={"email": EMAIL})
    assert answer.status_code == 202, answer.get_json()
    reset_id = answer.get_json()["delivery"]["id"]
    drain_until(relay, lambda: shown(client, reset_id)["status"] == "sent")
    envelope = verp_address(BOUNCES, reset_id, SECRET_KEY)
    assert envelope in [sender for sender, _, _ in smtp.sink.envelopes]
    assert posted(client, dsn(envelope, reset_id)) == {"accepted": 1, "unknown": 0}
    keep_draining(relay, QUIET)
    assert gateway.requests == []
    [reset] = [row for row in rows(engine, "outbox") if row["public_id"] == reset_id]
    assert (reset["status"], reset["fallback_at"] is not None, reset["fallback_id"]) == (
        "bounced",
        True,
        None,
    )


def test_a_bounce_of_a_code_a_newer_one_replaced_sends_nothing(
    client: FlaskClient,
    engine: Engine,
    relay: Relay,
    smtp: SinkServer,
    gateway: SmsGateway,
) -> None:
    """Only while the bounced message's code still works: a resend ended it."""
    delivery_id, envelope = registered(client, relay, smtp)
    let_time_pass(engine, 61)
    answer = client.post("/v1/activations/resend", json={"email": EMAIL})
    assert answer.status_code == 202, answer.get_json()
    drain_until(relay, lambda: len(smtp.sink.received) == 2)
    assert posted(client, dsn(envelope, delivery_id)) == {"accepted": 1, "unknown": 0}
    keep_draining(relay, QUIET)
    assert gateway.requests == []
    assert "fallback" not in shown(client, delivery_id)


def test_a_bounce_never_passes_the_hour_of_the_client_that_asked_for_the_code(
    env: dict[str, str], make_relay: MakeRelay, smtp: SinkServer, gateway: SmsGateway
) -> None:
    """The registration naming a phone paid its client's one SMS up front; the fallback, which
    the API writes as it records the report, would be a second."""
    app = create_app({**env, "SMS_CLIENT_HOURLY_LIMIT": "1"})
    client = app.test_client()
    relay = make_relay(sms_client_hourly_limit=1)
    try:
        _nothing_past_the_hour(client, relay, smtp, gateway)
    finally:
        app.extensions["outpost"].engine.dispose()


def _nothing_past_the_hour(
    client: FlaskClient, relay: Relay, smtp: SinkServer, gateway: SmsGateway
) -> None:
    delivery_id, envelope = registered(client, relay, smtp)
    assert posted(client, dsn(envelope, delivery_id)) == {"accepted": 1, "unknown": 0}
    keep_draining(relay, QUIET)
    assert gateway.requests == []
    assert "fallback" not in shown(client, delivery_id)
