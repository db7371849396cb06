"""GET /v1/deliveries tells a client why a queued message waits and when the relay tries it
again: `provider_unavailable` while its provider is paused, `next_attempt_after` after a
transient failure."""

from __future__ import annotations

import math
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.settings.smtp_url import parse_smtp_url
from support.constants import PASSWORD, MakeRelay
from support.relays import drain_until, wait_until_up
from support.rows import rows
from support.smtp_stages import StagedSmtp


def _register(client: FlaskClient, email: str) -> str:
    response = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def _shown(client: FlaskClient, delivery_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/deliveries/{delivery_id}")
    assert response.status_code == 200
    shown: dict[str, Any] = response.get_json()
    return shown


def test_queued_messages_say_their_provider_is_unavailable_while_it_is_paused(
    client: FlaskClient, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """The message that paused the provider and one queued during the pause, never tried,
    both say so; once the provider is back and they are sent, neither does."""
    server.script.set(mail="451 4.3.0 try later")
    # The probe 3 to 6 s after the pause: past what the checks below take on a loaded machine
    # (with 0.05 s, the message queued during the pause was at times taken as the probe).
    relay = make_relay(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=3.0, relay_backoff_cap=3.0
    )
    tried = _register(client, "ada@example.com")
    relay.drain()
    assert "email" in relay.providers.paused_channels()
    untried = _register(client, "bob@example.com")
    relay.drain()
    for delivery_id in (tried, untried):
        shown = _shown(client, delivery_id)
        assert (shown["status"], shown["reason"], shown["attempts"]) == (
            "queued",
            "provider_unavailable",
            0,
        )
    # The untried one is due now: it goes as the probe, or as soon as the provider answers.
    # The one that paused it waits until just after the probe, which is then another message.
    assert _shown(client, untried)["next_attempt_after"] is None
    assert _shown(client, tried)["next_attempt_after"] is not None

    server.script.set(mail=None)
    wait_until_up(relay, timeout=15)
    # The message whose failure paused the provider may wait out its backoff (a probe answered
    # at once makes that failure a try): drained until both are sent.
    drain_until(
        relay,
        lambda: all(_shown(client, d)["status"] == "sent" for d in (tried, untried)),
        timeout=10,
    )
    for delivery_id in (tried, untried):
        shown = _shown(client, delivery_id)
        assert (shown["status"], shown["reason"], shown["next_attempt_after"]) == (
            "sent",
            None,
            None,
        )


def test_a_transient_failure_says_when_the_relay_tries_again(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, server: StagedSmtp
) -> None:
    """The recipient's own 4xx is no provider's pause: no reason, and the seconds left of the
    message's backoff."""
    server.script.recipients["ada@example.com"] = "450 4.2.0 mailbox busy"
    relay = make_relay(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=600, relay_backoff_cap=600
    )
    delivery_id = _register(client, "ada@example.com")
    fresh = _shown(client, delivery_id)
    assert (fresh["reason"], fresh["next_attempt_after"]) == (None, None)
    relay.drain()
    shown = _shown(client, delivery_id)
    [row] = rows(engine, "outbox")
    left = (row["next_attempt_at"] - utcnow()).total_seconds()
    assert (shown["status"], shown["reason"], shown["attempts"]) == ("queued", None, 1)
    assert shown["next_attempt_after"] in (math.ceil(left), math.ceil(left) + 1)
