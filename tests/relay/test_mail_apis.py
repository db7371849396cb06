"""Mail through a provider's HTTP API end to end (spec: `MAIL_URL`): a real relay against the
stand-ins built from each provider's documentation, a registration through the API,
the row, its provider id, the suppression list and what GET /v1/deliveries says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.mail_providers.registry import parse_mail_url
from support import resend_api
from support.constants import MakeRelay
from support.http_stand_in import GatewayRequest
from support.mail_case import Sent
from support.mail_conformance import CASES
from support.mail_stand_in import REFUSED, MailStandIn
from support.mailgun_api import MailgunApi
from support.postmark_api import PostmarkApi
from support.relays import drain_until
from support.resend_api import ResendApi
from support.rows import rows
from support.sendgrid_api import SendGridApi
from support.ses_api import SesApi

REFUSING = {"postmark": PostmarkApi, "sendgrid": SendGridApi, "mailgun": MailgunApi}
REFUSING["resend"] = ResendApi
# SES refuses no recipient when asked: its bounce comes later, as a report.
APIS = {**REFUSING, "ses": SesApi}
each_api = pytest.mark.parametrize("make_api", APIS.values(), ids=APIS.keys())
each_refusing = pytest.mark.parametrize("make_api", REFUSING.values(), ids=REFUSING.keys())


@pytest.fixture
def api(make_api: type[MailStandIn]) -> Iterator[MailStandIn]:
    """The provider's stand-in, listening with its own key."""
    served = make_api()  # type: ignore[call-arg]
    served.start()
    yield served
    served.stop()


def read_request(api: MailStandIn, request: GatewayRequest) -> Sent:
    """The mail a request to `api` carries, as its conformance case reads it."""
    [name] = [name for name, made in APIS.items() if isinstance(api, made)]
    case = CASES[name].api
    assert case is not None
    return case.read(request)


def register(client: FlaskClient, email: str) -> str:
    body = {"email": email, "password": "correct horse battery staple"}
    response = client.post("/v1/registrations", json=body)
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def by_id(engine: Engine, public_id: str) -> dict[str, Any]:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == public_id]
    return row


def shown(client: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    answer = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return answer["status"], answer["reason"]


@each_api
def test_a_registrations_mail_arrives_through_the_api(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, api: MailStandIn
) -> None:
    relay = make_relay(mail_url_provider=parse_mail_url(api.mail_url()))
    delivery_id = register(client, "ada@example.com")
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["provider_message_id"]) == ("sent", api.sent[0])
    assert shown(client, delivery_id) == ("sent", None)
    [request] = api.requests
    sent = read_request(api, request)
    assert api.problems == [] and sent.to == "ada@example.com"
    assert re.search(r"\b\d{6}\b", sent.text), "the code travels in the mail"
    assert sent.headers["Message-ID"].startswith(f"<{delivery_id}@"), "as SMTP would carry it"


@each_refusing
def test_a_recipient_the_api_refuses_reads_failed_address_rejected(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, api: MailStandIn
) -> None:
    relay = make_relay(mail_url_provider=parse_mail_url(api.mail_url()))
    delivery_id = register(client, REFUSED)
    assert relay.drain() == 1
    row = by_id(engine, delivery_id)
    assert (row["status"], row["dead_reason"]) == ("dead", "permanent_error")
    assert shown(client, delivery_id) == ("failed", "address_rejected")
    assert [s["address"] for s in rows(engine, "suppressions")] == [REFUSED]
    assert relay.providers.status() == []


@each_api
def test_a_wrong_key_reads_queued_provider_unavailable(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    api: MailStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = api.mail_url("not-the-key")
    relay = make_relay(
        mail_url_provider=parse_mail_url(wrong), relay_backoff_base=30.0, relay_backoff_cap=30.0
    )
    delivery_id = register(client, "bob@example.com")
    relay.drain()
    assert "email" in relay.providers.paused_channels()
    assert shown(client, delivery_id) == ("queued", "provider_unavailable")
    assert by_id(engine, delivery_id)["status"] == "pending"
    assert api.sent == [] and len(api.requests) == 1
    assert "not-the-key" not in str(by_id(engine, delivery_id)["last_error"])
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "provider paused" in logged and "not-the-key" not in logged


def test_a_paused_api_primary_hands_its_mail_to_an_api_fallback(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine
) -> None:
    primary, fallback = PostmarkApi(), SendGridApi()
    for served in (primary, fallback):
        served.start()
    try:
        relay = make_relay(
            mail_url_provider=parse_mail_url(primary.mail_url("not-the-key")),
            mail_fallback_url_provider=parse_mail_url(fallback.mail_url()),
            relay_backoff_base=30.0,
            relay_backoff_cap=30.0,
        )
        delivery_id = register(client, "ada@example.com")
        drain_until(relay, lambda: by_id(engine, delivery_id)["status"] == "sent", 20)
        assert by_id(engine, delivery_id)["provider_message_id"] == fallback.sent[0]
        assert primary.sent == [] and len(primary.requests) == 1
        [line] = relay.providers.status()
        assert line.startswith("provider smtp down since ") and "not-the-key" not in line
    finally:
        for served in (primary, fallback):
            served.stop()


def test_a_throttles_retry_after_holds_the_probe_back(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine
) -> None:
    """Resend's 429 asks for 120 s: the provider is paused and the mail is due no sooner,
    though the backoff alone would probe it within a second."""
    api = ResendApi()
    api.start()
    try:
        api.retry_after = 120
        api.script = [resend_api.behaviour("rate_limit_exceeded")]
        relay = make_relay(
            mail_url_provider=parse_mail_url(api.mail_url()),
            relay_backoff_base=0.05,
            relay_backoff_cap=0.5,
        )
        delivery_id = register(client, "ada@example.com")
        before = utcnow()
        relay.drain()
        row = by_id(engine, delivery_id)
        assert row["status"] == "pending" and "rate_limit_exceeded" in str(row["last_error"])
        assert row["next_attempt_at"] >= before + timedelta(seconds=119)
        assert "email" in relay.providers.paused_channels()
    finally:
        api.stop()
