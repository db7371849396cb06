"""Amazon SNS as it posts: credentials only after a challenge, retries of one notification,
SES reports naming many recipients, and SES event types Outpost does not act on."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from support.rows import count
from support.smtp_sink import SinkServer
from support.sns import PROVIDER_ID, basic, post_sns, sent_activation, ses

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


def test_only_wrong_credentials_wait_and_a_request_without_any_is_still_challenged(
    api: FlaskClient,
) -> None:
    report = ses("delivery", provider_id=PROVIDER_ID, recipient="jane@example.com")
    assert [post_sns(api, report, headers=WRONG).status_code for _ in range(11)] == [401] * 10 + [
        429
    ]
    challenged = post_sns(api, report, headers={})
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"].startswith("Basic")
    assert post_sns(api, report).status_code == 200
