"""POST /v1/provider-events/mail: a report by mail as a server that receives BOUNCE_ADDRESS's
mail posts it (message/rfc822, the provider-events token), found by the Delivered-To its
receiving server wrote: RFC 3464's example report made ours fails the delivery; forged
reports act on nothing and read as unknown."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service.metrics import PROVIDER_EVENTS
from outbox_relay.relay import Relay
from shared.reports.bounce_tokens import verp_address
from support.bounce_reports import Recipient, delivery_status
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer
from support.sns import BEARER, PASSWORD

BOUNCES = "bounces@mail.outpost.test"
RFC822 = {**BEARER, "Content-Type": "message/rfc822"}


def sent(api: FlaskClient, relay: Relay, smtp: SinkServer, email: str) -> tuple[str, str]:
    """Register `email`, deliver its activation from BOUNCE_ADDRESS; its id and sender."""
    response = api.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    relay.drain()
    return response.get_json()["delivery"]["id"], smtp.sink.envelopes[-1][0]


def counted(kind: str) -> float:
    return PROVIDER_EVENTS.labels("mail", kind)._value.get()


def test_a_posted_report_fails_its_delivery_and_a_forged_one_nothing(
    api: FlaskClient, make_relay: MakeRelay, smtp: SinkServer, engine: Engine
) -> None:
    relay = make_relay(bounce_address=BOUNCES)
    victim, _ = sent(api, relay, smtp, "jane@example.com")
    forger, own = sent(api, relay, smtp, "mallory@example.com")
    forged_before = counted("forged")
    someone_else = delivery_status(BOUNCES, [Recipient("jane@example.com")], delivered_to=own)
    answer = api.post("/v1/provider-events/mail", data=someone_else, headers=RFC822)
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 1})
    made_up = verp_address(BOUNCES, victim, "not the key " * 3)
    guessed = delivery_status(BOUNCES, [Recipient("jane@example.com")], delivered_to=made_up)
    answer = api.post("/v1/provider-events/mail", data=guessed, headers=RFC822)
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 1})
    assert counted("forged") == forged_before + 2
    assert rows(engine, "provider_events") == []

    own_report = delivery_status(BOUNCES, [Recipient("mallory@example.com")], delivered_to=own)
    answer = api.post("/v1/provider-events/mail", data=own_report, headers=RFC822)
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 1, "unknown": 0})
    states = {row["public_id"]: row["status"] for row in rows(engine, "outbox")}
    assert (states[victim], states[forger]) == ("sent", "bounced")
    assert [row["address"] for row in rows(engine, "suppressions")] == ["mallory@example.com"]


def test_what_is_no_mail_or_no_rfc822_body_is_refused(api: FlaskClient) -> None:
    answer = api.post("/v1/provider-events/mail", data=b"not a mail", headers=RFC822)
    assert answer.status_code == 422
    assert [error["pointer"] for error in answer.get_json()["errors"]] == ["#/body"]
    mail = b"Subject: x\r\n\r\n"
    plain = {**BEARER, "Content-Type": "text/plain"}
    assert api.post("/v1/provider-events/mail", data=mail, headers=plain).status_code == 415
    bare = {"Content-Type": "message/rfc822"}
    assert api.post("/v1/provider-events/mail", data=mail, headers=bare).status_code == 401
