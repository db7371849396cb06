"""Mail providers' webhooks through the real API, one suite over every reader in
api_service/mail_reports: each provider's documented payloads (tests/fixtures/<provider>/),
signed as the provider signs them, about a message the real relay sent through a real SMTP
server; a forged or replayed post acts on nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from api_service import create_app
from api_service.mail_reports.registry import READERS
from outbox_relay.relay import Relay
from shared.reports.provider_events import MAIL_REPORTERS
from support.mail_reports import ENV, SIGNERS, fixture, mailgun, post, resend
from support.rows import count, rows
from support.smtp_sink import SinkServer
from support.sns import PASSWORD


@dataclass(frozen=True)
class Case:
    """A provider's fixtures for each kind of report, and how its reports name the message:
    by the Message-ID Outpost sent, or by the id the provider answered the send with."""

    provider: str
    bounce: str
    complaint: str
    transient: str
    delivery: str
    ignored: str
    provider_id: str
    # A permanent failure of the message that does not refuse the address.
    message_only: str


CASES = [
    Case(
        "mailgun",
        "failed_permanent",
        "complained",
        "failed_temporary",
        "delivered",
        "opened",
        "<20260203192638.000be97f99f8cea1@outpost.test>",
        "failed_old",
    ),
    Case(
        "sendgrid",
        "bounce",
        "spamreport",
        "deferred",
        "delivered",
        "open",
        "W86EgYT6SQKk0lRflfLRsA",
        "bounce_blocked",
    ),
    Case(
        "postmark",
        "bounce",
        "spam_complaint",
        "bounce_soft",
        "delivery",
        "open",
        str(uuid.uuid4()),
        "bounce_blocked",
    ),
    Case(
        "resend",
        "bounced",
        "complained",
        "delivery_delayed",
        "delivered",
        "opened",
        str(uuid.uuid4()),
        "bounced_content",
    ),
]
BY_NAME = pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])


@pytest.fixture
def reports_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API with every mail provider's key set."""
    app = create_app({**env, **ENV})
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def reports(reports_app: Flask) -> FlaskClient:
    """A test client of the API taking mail providers' reports."""
    return reports_app.test_client()


def sent(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str, provider_id: str) -> str:
    """Register `email`, its activation sent through a provider answering `provider_id`."""
    smtp.sink.accepted = f"250 Ok {provider_id}"
    answer = api.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 202
    delivery_id: str = answer.get_json()["delivery"]["id"]
    relay.drain()
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"
    return delivery_id


def report(
    case: Case, name: str, delivery_id: str, email: str, *, provider_id: str | None = None
) -> bytes:
    """Fixture `name` of the case's provider about that delivery's message (named by the
    Message-ID Outpost sent where the provider's reports carry it, and by the provider's id;
    with `provider_id`, by that id and a Message-ID of the provider's own, which is that id for
    Mailgun)."""
    message_id = f"{delivery_id}@outpost.test"
    if case.provider == "sendgrid":
        message_id = f"<{message_id}>"
    if provider_id is not None:
        message_id = provider_id if case.provider == "mailgun" else "<20260203.4f@mx.example.net>"
    return fixture(
        case.provider,
        name,
        message_id=message_id,
        provider_id=case.provider_id if provider_id is None else provider_id,
        recipient=email,
    )


def with_outpost_id(provider: str, body: bytes, public_id: str) -> bytes:
    """The report with the message's public id in the provider's custom data, where the sending
    side puts it (SendGrid's custom_args, Mailgun's user-variables, Postmark's Metadata,
    Resend's tags)."""
    payload = json.loads(body)
    if provider == "mailgun":
        payload["event-data"]["user-variables"]["outpost_id"] = public_id
    elif provider == "sendgrid":
        for event in payload:
            event["outpost_id"] = public_id
    elif provider == "postmark":
        payload["Metadata"]["outpost_id"] = public_id
    else:
        payload["data"]["tags"]["outpost_id"] = public_id
    return json.dumps(payload).encode()


def test_every_reader_is_a_source_of_events() -> None:
    assert tuple(reader.name for reader in READERS) == MAIL_REPORTERS
    assert [case.provider for case in CASES] == list(MAIL_REPORTERS)


@BY_NAME
@pytest.mark.parametrize("kind", ["bounce", "complaint"])
def test_a_permanent_bounce_or_a_complaint_fails_the_delivery_and_suppresses_the_address(
    case: Case, kind: str, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    body = report(case, getattr(case, kind), delivery_id, "jane@example.com")
    answer = post(reports, case.provider, SIGNERS[case.provider](body))
    assert (answer.status_code, answer.get_json()["accepted"]) == (200, 1)
    delivery = reports.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (delivery["status"], delivery["reason"]) == ("failed", "address_rejected")
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"], event["source"]) == (kind, True, case.provider)
    [entry] = rows(engine, "suppressions")
    reason = "hard_bounce" if kind == "bounce" else "complaint"
    assert (entry["address"], entry["reason"], entry["event_id"]) == (
        "jane@example.com",
        reason,
        event["id"],
    )


@BY_NAME
def test_a_temporary_failure_and_a_delivery_are_only_recorded(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent(reports, relay, smtp, "mary@example.com", case.provider_id)
    for name in (case.transient, case.delivery):
        body = report(case, name, delivery_id, "mary@example.com")
        answer = post(reports, case.provider, SIGNERS[case.provider](body))
        assert (answer.status_code, answer.get_json()["accepted"]) == (200, 1)
    assert reports.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"
    recorded = [(e["type"], e["permanent"]) for e in rows(engine, "provider_events")]
    assert recorded == [("bounce", False), ("delivery", False)]
    assert count(engine, "suppressions") == 0


@BY_NAME
def test_a_forged_report_is_401_and_acts_on_nothing(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent(reports, relay, smtp, "john@example.com", case.provider_id)
    body = report(case, case.bounce, delivery_id, "john@example.com")
    forged = SIGNERS[case.provider](body, wrong=True)
    answer = post(reports, case.provider, forged)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    unsigned = post(reports, case.provider, SIGNERS[case.provider](body).__class__(body, {}))
    assert unsigned.status_code == 401
    assert reports.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"
    assert (count(engine, "provider_events"), count(engine, "suppressions")) == (0, 0)


@BY_NAME
def test_what_outpost_does_not_act_on_is_answered_200_and_counted(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    """An open (as each provider names it) is counted in the API's metrics, never refused."""
    delivery_id = sent(reports, relay, smtp, "ann@example.com", case.provider_id)
    body = report(case, case.ignored, delivery_id, "ann@example.com")
    labels = {"source": case.provider, "type": case.ignored}
    before = REGISTRY.get_sample_value("outpost_provider_events_total", labels) or 0.0
    answer = post(reports, case.provider, SIGNERS[case.provider](body))
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 0})
    assert REGISTRY.get_sample_value("outpost_provider_events_total", labels) == before + 1
    assert count(engine, "provider_events") == 0


@BY_NAME
def test_a_route_is_absent_until_its_key_is_set(case: Case, client: FlaskClient) -> None:
    body = fixture(case.provider, case.delivery, message_id="x", provider_id="y", recipient="z")
    assert post(client, case.provider, SIGNERS[case.provider](body)).status_code == 404


def test_a_replayed_mailgun_token_is_refused(
    reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    case = CASES[0]
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    opened = mailgun(report(case, "opened", delivery_id, "jane@example.com"), token="t" * 50)
    assert post(reports, "mailgun", opened).status_code == 200
    # The signature covers the timestamp and token only: the same, over another event.
    bounce = mailgun(report(case, case.bounce, delivery_id, "jane@example.com"), token="t" * 50)
    answer = post(reports, "mailgun", bounce)
    assert answer.status_code == 401
    assert "replay" in answer.get_json()["detail"]
    assert reports.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"
    assert (count(engine, "provider_events"), count(engine, "suppressions")) == (0, 0)


@pytest.mark.parametrize("signer", [mailgun, resend], ids=["mailgun", "resend"])
def test_a_signature_older_than_five_minutes_is_refused(
    signer: object, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    case = CASES[0] if signer is mailgun else CASES[3]
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    body = report(case, case.bounce, delivery_id, "jane@example.com")
    stale = SIGNERS[case.provider](body, at=time.time() - 330)
    assert post(reports, case.provider, stale).status_code == 401
    assert (count(engine, "provider_events"), count(engine, "suppressions")) == (0, 0)


def test_a_resend_retry_is_recorded_once(
    reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    case = CASES[3]
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    signed = resend(report(case, case.transient, delivery_id, "jane@example.com"))
    assert post(reports, "resend", signed).get_json()["accepted"] == 1
    again = post(reports, "resend", signed)
    assert (again.status_code, again.get_json()["accepted"]) == (200, 0)
    assert count(engine, "provider_events") == 1


@BY_NAME
def test_a_failure_of_the_message_alone_suppresses_nothing(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    body = report(case, case.message_only, delivery_id, "jane@example.com")
    answer = post(reports, case.provider, SIGNERS[case.provider](body))
    assert (answer.status_code, answer.get_json()["accepted"]) == (200, 1)
    delivery = reports.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (delivery["status"], delivery["reason"]) == ("failed", "undeliverable")
    assert count(engine, "suppressions") == 0


@BY_NAME
def test_a_report_finds_its_message_by_the_providers_id_alone(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    # Mailgun's events give its id without <>; SendGrid's start sg_message_id with it.
    given = case.provider_id.strip("<>")
    body = report(case, case.bounce, delivery_id, "jane@example.com", provider_id=given)
    answer = post(reports, case.provider, SIGNERS[case.provider](body))
    assert (answer.status_code, answer.get_json()["accepted"]) == (200, 1)
    assert reports.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


@BY_NAME
def test_a_report_finds_its_message_by_the_id_in_the_providers_custom_data(
    case: Case, reports: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    delivery_id = sent(reports, relay, smtp, "jane@example.com", case.provider_id)
    # A report naming neither the Message-ID Outpost sent nor the provider's id finds nothing.
    foreign = report(case, case.transient, delivery_id, "jane@example.com", provider_id="else-1")
    answer = post(reports, case.provider, SIGNERS[case.provider](foreign))
    assert answer.get_json()["accepted"] == 0
    body = report(case, case.bounce, delivery_id, "jane@example.com", provider_id="else-1")
    body = with_outpost_id(case.provider, body, delivery_id)
    answer = post(reports, case.provider, SIGNERS[case.provider](body))
    assert (answer.status_code, answer.get_json()["accepted"]) == (200, 1)
    assert reports.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


@BY_NAME
def test_wrong_signatures_are_counted_against_the_client(case: Case, reports: FlaskClient) -> None:
    body = fixture(case.provider, case.delivery, message_id="x", provider_id="y", recipient="z")
    answers = [
        post(reports, case.provider, SIGNERS[case.provider](body, wrong=True), "192.0.2.7")
        for _ in range(11)
    ]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    # Another client is not held back by them.
    assert post(reports, case.provider, SIGNERS[case.provider](body)).status_code == 200


def test_a_sendgrid_batch_is_a_list_of_at_most_a_thousand_events(reports: FlaskClient) -> None:
    one = fixture("sendgrid", "delivered", message_id="x", provider_id="y", recipient="z")
    many = json.dumps(json.loads(one) * 1001).encode()
    assert post(reports, "sendgrid", SIGNERS["sendgrid"](many)).status_code == 422
    assert post(reports, "sendgrid", SIGNERS["sendgrid"](b"{}")).status_code == 422
