"""Mail through a provider's HTTP API end to end (spec: `MAIL_URL`): a real relay against the
stand-ins built from Postmark's and SendGrid's documentation, a registration through the API,
the row, its provider id, the suppression list and what GET /v1/deliveries says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.mail_providers.registry import parse_mail_url
from support.constants import MakeRelay
from support.mail_stand_in import REFUSED, MailStandIn
from support.postmark_api import PostmarkApi
from support.rows import rows
from support.sendgrid_api import SendGridApi

each_api = pytest.mark.parametrize("make_api", [PostmarkApi, SendGridApi], ids=["postmark", "sendgrid"])


@pytest.fixture
def api(make_api: type[MailStandIn]) -> Iterator[MailStandIn]:
    """The provider's stand-in, listening with its own key."""
    served = make_api()  # type: ignore[call-arg]
    served.start()
    yield served
    served.stop()


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
    assert api.problems == [] and b"ada@example.com" in request.body
    assert re.search(rb"\b\d{6}\b", request.body), "the code travels in the mail"
    assert f"<{delivery_id}@".encode() in request.body, "the Message-ID SMTP would carry"


@each_api
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
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, api: MailStandIn
) -> None:
    wrong = api.mail_url().replace(api.key, "not-the-key", 1)
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
