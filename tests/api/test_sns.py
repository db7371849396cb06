"""Amazon SNS as it posts: credentials only after a challenge, retries of one notification,
SES reports naming many recipients, and SES event types Outpost does not act on."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared import operations
from shared.clock import utcnow
from shared.reports.provider_events import first_seen
from shared.settings.config import Settings
from support.constants import ADMIN_TOKEN
from support.rows import count, rows
from support.smtp_sink import SinkServer
from support.sns import PROVIDER_ID, TOKEN, basic, post_sns, sent_activation, ses

WRONG = basic("not-the-token")


def as_sns_posts(api: FlaskClient, payload: dict[str, Any]) -> int:
    """Post as SNS does: no credentials, then Basic ones once challenged; the last status."""
    first = post_sns(api, payload, headers={})
    if first.status_code != 401 or not first.headers.get("WWW-Authenticate", "").startswith(
        "Basic"
    ):
        return first.status_code
    return post_sns(api, payload).status_code


def test_a_client_that_waits_for_the_challenge_is_heard_every_time(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    """SNS brings no credentials until challenged: a first post without them is never counted
    as a wrong token, so 100 notifications from one address in a minute are all processed."""
    sent_activation(api, relay, smtp, "jane@example.com")
    delivery = ses("delivery", provider_id=PROVIDER_ID, recipient="jane@example.com")
    statuses = [as_sns_posts(api, {**delivery, "MessageId": f"sns-{n}"}) for n in range(100)]
    assert statuses == [200] * 100
    assert count(engine, "provider_events") == 100


def test_only_wrong_credentials_count_and_a_request_without_any_is_still_challenged(
    api: FlaskClient,
) -> None:
    report = ses("delivery", provider_id=PROVIDER_ID, recipient="jane@example.com")
    assert [post_sns(api, report, headers=WRONG).status_code for _ in range(11)] == [401] * 10 + [
        429
    ]
    challenged = post_sns(api, report, headers={})
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"].startswith("Basic")
    # The guesser's right password goes unread until its window passes; SNS, posting from
    # elsewhere, is unaffected.
    assert post_sns(api, report).status_code == 429
    assert post_sns(api, report, client="203.0.113.9").status_code == 200


def test_a_notification_sns_posts_again_records_one_event(
    api: FlaskClient, env: dict[str, str], relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    """SNS retries a notification it thinks undelivered, with the same MessageId; another API
    worker, or the API after a restart, may get the retry."""
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    bounce = ses("bounce_transient", provider_id=PROVIDER_ID, recipient="jane@example.com")
    assert post_sns(api, bounce).get_json() == {"accepted": 1, "unknown": 0}
    other: Flask = create_app({**env, "PROVIDER_EVENTS_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        again = post_sns(other.test_client(), bounce)
    finally:
        other.extensions["outpost"].engine.dispose()
    assert (again.status_code, again.get_json()) == (200, {"accepted": 0, "unknown": 0})
    assert count(engine, "provider_events") == 1
    # Another notification about the same message is no replay.
    assert post_sns(api, ses("delivery", provider_id=PROVIDER_ID)).get_json()["accepted"] == 1
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def many_recipients(
    kind: str, path: str, recipients: list[Any], delivery_id: str, provider_id: str = PROVIDER_ID
) -> dict[str, Any]:
    """An SNS post of fixture `kind` about a message, whose list at `path` names `recipients`."""
    message_id = f"<{delivery_id}@outpost.test>"
    post = ses(kind, provider_id=provider_id, message_id=message_id, recipient="jane@example.com")
    notification = json.loads(post["Message"])
    part, field = path.split("/")
    notification[part][field] = recipients
    return {**post, "Message": json.dumps(notification)}


@pytest.mark.parametrize(
    ("kind", "path", "entry"),
    [
        ("bounce_permanent", "bounce/bouncedRecipients", lambda a: {"emailAddress": a}),
        ("complaint", "complaint/complainedRecipients", lambda a: {"emailAddress": a}),
        ("delivery", "delivery/recipients", lambda a: a),
    ],
)
def test_a_report_naming_ten_thousand_recipients_records_one_event_for_its_message(
    api: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    kind: str,
    path: str,
    entry: Any,
) -> None:
    """Outpost sends each message to one recipient: the others an SES report names are no
    message of ours, and are counted, not recorded."""
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    named = [entry("jane@example.com")] + [entry(f"r{n}@example.com") for n in range(9_999)]
    answer = post_sns(api, many_recipients(kind, path, named, delivery_id))
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 1, "unknown": 9_999})
    assert count(engine, "provider_events") == 1
    assert [s["address"] for s in rows(engine, "suppressions")] == (
        [] if kind == "delivery" else ["jane@example.com"]
    )

    unmatched = many_recipients(kind, path, named, str(uuid.uuid4()), "not-a-message-of-ours")
    answer = post_sns(api, unmatched)
    assert answer.get_json() == {"accepted": 0, "unknown": 10_000}
    assert count(engine, "provider_events") == 1


IGNORED = {
    "Send": "send",
    "DeliveryDelay": "delivery_delay",
    "Reject": "reject",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "rendering_failure",
    "Subscription": "subscription",
    "AmazonSnsSubscriptionSucceeded": "subscription_succeeded",
}


@pytest.mark.parametrize("field", ["eventType", "notificationType"])
@pytest.mark.parametrize("kind", sorted(IGNORED))
def test_ses_event_types_outpost_does_not_act_on_are_answered_200_and_counted(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine, field: str, kind: str
) -> None:
    """Refused, SNS would retry them for hours; they are counted in the API's metrics."""
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    post = ses("delivery", provider_id=PROVIDER_ID, recipient="jane@example.com")
    notification = json.loads(post["Message"])
    del notification["delivery"], notification["notificationType"]
    notification[field] = kind
    labels = {"source": "ses", "type": IGNORED[kind]}
    before = REGISTRY.get_sample_value("outpost_provider_events_total", labels) or 0.0
    answer = post_sns(api, {**post, "Message": json.dumps(notification)})
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 0, "unknown": 0})
    assert REGISTRY.get_sample_value("outpost_provider_events_total", labels) == before + 1
    assert count(engine, "provider_events") == 0
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


def test_an_unknown_ses_type_is_still_refused_naming_the_message(api: FlaskClient) -> None:
    post = ses("delivery", provider_id=PROVIDER_ID, recipient="jane@example.com")
    answer = post_sns(api, {**post, "Message": json.dumps({"eventType": "Teleport"})})
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.get_json()["errors"]] == ["#/Message"]


def test_a_late_complaint_about_an_erased_accounts_message_suppresses_no_placeholder(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    """Erasure replaces a message's recipient with a placeholder: a complaint arriving after
    it marks the message, and suppresses nothing (the placeholder is no address)."""
    delivery_id = sent_activation(api, relay, smtp, "rick@example.com")
    [user] = rows(engine, "users")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert api.delete(f"/v1/admin/users/{user['id']}", headers=admin).status_code == 200
    complaint = ses("complaint", message_id=f"<{delivery_id}@outpost.test>", recipient="erased")
    assert post_sns(api, complaint).get_json() == {"accepted": 1, "unknown": 0}
    assert rows(engine, "suppressions") == []
    [message] = rows(engine, "outbox")
    assert message["status"] == "bounced"


def test_the_purge_forgets_notifications_a_day_old(settings: Settings, engine: Engine) -> None:
    """SNS retries a notification for an hour at most: a day later its id is no use."""
    for age in (timedelta(hours=25), timedelta(hours=23)):
        with engine.begin() as connection:
            assert first_seen(connection, "ses", f"sns-{age}", utcnow() - age)
    with engine.connect() as connection:
        purged = operations.purge(connection, settings, actor="test", now=utcnow())
    assert purged.provider_notifications == 1
    assert count(engine, "provider_notifications") == 1
    assert count(engine, "provider_notifications", notification_id=f"sns-{timedelta(hours=23)}")
