"""A mail sent through a provider's API, then that provider's own report of it: the id the send
recorded (provider_message_id) is the one the provider's webhook names, so a bounce reported by
the provider reaches its row (spec: `MAIL_URL`, "Mail providers' webhooks"). The sending side is
the relay against each stand-in; the report is the provider's fixture, signed as it signs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api_service import create_app
from shared.mail_providers.registry import parse_mail_url
from support.constants import PASSWORD, MakeRelay
from support.mail_reports import ENV, SIGNERS, fixture, post
from support.mail_stand_in import MailStandIn
from support.mailgun_api import MailgunApi
from support.postmark_api import PostmarkApi
from support.resend_api import ResendApi
from support.sendgrid_api import SendGridApi


class Provider(NamedTuple):
    """A provider's stand-in and the fixture of its report of a hard bounce."""

    name: str
    stand_in: type[MailStandIn]
    bounce: str


PROVIDERS = [
    Provider("postmark", PostmarkApi, "bounce"),
    Provider("sendgrid", SendGridApi, "bounce"),
    Provider("mailgun", MailgunApi, "failed_permanent"),
    Provider("resend", ResendApi, "bounced"),
]


@pytest.fixture
def reports(env: dict[str, str]) -> Iterator[FlaskClient]:
    """The API taking every mail provider's reports."""
    app: Flask = create_app({**env, **ENV})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.name for p in PROVIDERS])
def test_the_providers_report_of_a_mail_sent_through_its_api_reaches_its_row(
    reports: FlaskClient, make_relay: MakeRelay, provider: Provider
) -> None:
    api = provider.stand_in()  # type: ignore[call-arg]
    api.start()
    try:
        relay = make_relay(mail_url_provider=parse_mail_url(api.mail_url()))
        email = "ada@example.com"
        answer = reports.post("/v1/registrations", json={"email": email, "password": PASSWORD})
        delivery_id = answer.get_json()["delivery"]["id"]
        assert relay.drain() == 1
        [given] = api.sent
    finally:
        api.stop()
    # Named by the provider's id alone: a Message-ID of the provider's own, no custom data.
    foreign = given.strip("<>") if provider.name == "mailgun" else "<20260203.4f@mx.example.net>"
    body = fixture(
        provider.name,
        provider.bounce,
        message_id=foreign,
        provider_id=given.strip("<>"),
        recipient=email,
    )
    assert post(reports, provider.name, SIGNERS[provider.name](body)).status_code in (200, 204)
    shown = reports.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (shown["status"], shown["reason"]) == ("failed", "address_rejected")
