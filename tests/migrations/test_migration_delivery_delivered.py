"""Revision 0026 (`delivery.delivered`) on a populated database: messages, events and dead
letters survive and still work, a receipt about a message written before it tells the
application's endpoint subscribed to it; the downgrade removes those events alone, and the
older constraint refuses them again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.relay import Relay
from shared.database.db import alembic_config
from shared.vocabulary import EventType
from support.bulk import dead_one, queue_one
from support.constants import PASSWORD, WEBHOOK_SECRET
from support.rows import rows
from support.sns import BEARER, TOKEN
from support.webhooks import subscribe

ADA = "ada@example.com"
DELIVERED = "delivery.delivered"


def test_0026_keeps_the_outbox_and_tells_the_application_of_an_older_messages_receipt(
    database_url: str, env: dict[str, str], engine: Engine, relay: Relay
) -> None:
    config = alembic_config(database_url)
    served = {
        **env,
        "WEBHOOK_URL": "http://127.0.0.1:9/hooks",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROVIDER_EVENTS_TOKEN": TOKEN,
    }
    app = create_app(served)
    try:
        api = app.test_client()
        # Written at the head (this code reads its endpoints), kept at 0025 by its downgrade.
        registered = api.post("/v1/registrations", json={"email": ADA, "password": PASSWORD})
        delivery_id = registered.get_json()["delivery"]["id"]
        command.downgrade(config, "0025")
        dead = dead_one(engine, "dead@example.com")
        with pytest.raises(sa.exc.IntegrityError):
            queue_one(engine, "early@example.com", purpose=DELIVERED, channel="webhook")
        before = {r["public_id"]: r["status"] for r in rows(engine, "outbox")}

        command.upgrade(config, "head")
        assert {r["public_id"]: r["status"] for r in rows(engine, "outbox")} == before
        # `delivery.delivered` goes to the endpoints that subscribe to it.
        subscribe(engine, "http://127.0.0.1:9/delivered", EventType.DELIVERY_DELIVERED)
        with engine.connect() as connection:
            listed = connection.execute(sa.text("SELECT public_id FROM outbox_dead_letters"))
            assert list(listed.scalars()) == [dead]
        assert relay.drain() >= 1
        report = {"events": [{"type": "delivery", "delivery_id": delivery_id}]}
        answer = api.post("/v1/provider-events", json=report, headers=BEARER)
        assert answer.get_json() == {"accepted": 1, "unknown": 0}
    finally:
        app.extensions["outpost"].engine.dispose()
    [told] = [r for r in rows(engine, "outbox") if r["purpose"] == DELIVERED]
    assert told["params"]["data"]["delivery_id"] == delivery_id
    kept = [r["public_id"] for r in rows(engine, "outbox") if r["purpose"] != DELIVERED]

    command.downgrade(config, "0025")
    assert [r["public_id"] for r in rows(engine, "outbox")] == kept
    assert [e["type"] for e in rows(engine, "provider_events")] == ["delivery"]
    with pytest.raises(sa.exc.IntegrityError):
        queue_one(engine, "late@example.com", purpose=DELIVERED, channel="webhook")
    command.upgrade(config, "head")
    assert len(rows(engine, "outbox")) == len(kept)
