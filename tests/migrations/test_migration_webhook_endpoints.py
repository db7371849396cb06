"""Revision 0030 (webhook endpoints, `delivery.sent`) on a populated database: messages, events
and dead letters written at 0028 survive and still leave, an endpoint added after it hears of
the events it lists; the downgrade removes the endpoints and the events queued for them or of
the new purpose alone, and the older constraint refuses `delivery.sent` again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.database.db import alembic_config
from support.bulk import dead_one, queue_one
from support.constants import ADMIN_TOKEN
from support.rows import on_common_columns, rows
from support.sms_gateway import SmsGateway
from support.webhooks import emit_activated

SENT = "delivery.sent"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_0030_keeps_the_outbox_and_endpoints_hear_of_their_events(
    database_url: str,
    engine: Engine,
    admin: FlaskClient,
    relay: Relay,
    receiver: SmsGateway,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0028")
    welcome = queue_one(engine, "ada@example.com")
    event = queue_one(engine, "webhook", purpose="account.registered", channel="webhook")
    dead = dead_one(engine, "dead@example.com")
    with pytest.raises(sa.exc.IntegrityError):
        queue_one(engine, "webhook", purpose=SENT, channel="webhook")
    before = {r["public_id"]: r for r in rows(engine, "outbox")}
    assert set(before) == {welcome, event, dead}

    command.upgrade(config, "head")
    kept, was = on_common_columns(rows(engine, "outbox"), list(before.values()))
    assert {r["public_id"]: r for r in kept} == {r["public_id"]: r for r in was}
    body = {"url": receiver.url + "/e", "events": ["account.activated", SENT]}
    endpoint = admin.post("/v1/admin/webhook-endpoints", json=body, headers=ADMIN).get_json()
    emit_activated(engine, relay)
    queue_one(engine, "webhook", purpose=SENT, channel="webhook")
    relay.drain()
    statuses = {r["public_id"]: r["status"] for r in rows(engine, "outbox")}
    assert statuses[welcome] == "sent" and statuses[dead] == "dead"
    # An event for WEBHOOK_URL waits, untried, on a relay without it.
    [waiting] = [r for r in rows(engine, "outbox") if r["public_id"] == event]
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
    assert [r.json["type"] for r in receiver.requests] == ["account.activated"]
    assert [r["recipient"] for r in rows(engine, "outbox") if r["purpose"] != SENT].count(
        endpoint["id"]
    ) == 1

    command.downgrade(config, "0028")
    assert {r["public_id"] for r in rows(engine, "outbox")} == {welcome, event, dead}
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("webhook_endpoints")
    with pytest.raises(sa.exc.IntegrityError):
        queue_one(engine, "webhook", purpose=SENT, channel="webhook")
    command.upgrade(config, "head")
    assert rows(engine, "webhook_endpoints") == []
