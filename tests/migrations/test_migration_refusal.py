"""Revision 0015 (`outbox.refusal`) on a populated database: each dead or bounced message gets
the refusal the earlier rules read from its words, so its client's reason and what its death
suppressed stay as they were; pending messages and dead letters survive and still work; the
downgrade drops the column and keeps every row."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import alembic_config
from support.bulk import queue_one
from support.commands import here, ok
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer

# Each message's state at 0014 (status, dead_reason, last_error, its reports), the refusal
# 0015 gives it and the reason its client is told, before and after alike.
CASES = {
    "mailbox": ("dead", "permanent_error", "SMTP 550 5.1.1 no such user at rcpt", "address"),
    "number": ("dead", "permanent_error", "Twilio 21211 number refused: bad To", "address"),
    "stop": ("dead", "permanent_error", "Twilio 21610 recipient opted out: STOP", "opted_out"),
    "policy": ("dead", "permanent_error", "SMTP 554 5.7.1 rejected at data", None),
    "expired": ("dead", "expired", "SMTP 550 5.1.1 no such user at rcpt", None),
    "complaint": ("bounced", None, "complaint", "complaint"),
    "hard": ("bounced", None, "smtp; 550 5.1.1 unknown", "hard_bounce"),
    "message": ("bounced", "permanent_error", "smtp; 552 5.3.4 too big", None),
}
REASONS = {
    "mailbox": "address_rejected",
    "number": "address_rejected",
    "stop": "undeliverable",
    "policy": "undeliverable",
    "expired": None,
    "complaint": "address_rejected",
    "hard": "address_rejected",
    "message": "undeliverable",
}


def _reasons(api: FlaskClient, ids: dict[str, str]) -> dict[str, str | None]:
    return {name: api.get(f"/v1/deliveries/{i}").get_json()["reason"] for name, i in ids.items()}


def test_0015_gives_each_failed_message_the_refusal_its_words_said(
    database_url: str,
    env: dict[str, str],
    engine: Engine,
    api: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
    tmp_path: Path,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0014")
    ids = {name: queue_one(engine, f"{name}@example.com") for name in CASES}
    pending = queue_one(engine, "pending@example.com")
    with engine.begin() as connection:
        for name, (status, dead_reason, error, _) in CASES.items():
            connection.execute(
                sa.text(
                    "UPDATE outbox SET status = :status, dead_reason = :dead_reason,"
                    " last_error = :error WHERE public_id = :id"
                ),
                {"status": status, "dead_reason": dead_reason, "error": error, "id": ids[name]},
            )
        connection.execute(
            sa.text(
                "INSERT INTO provider_events (outbox_id, type, permanent, source, at)"
                " SELECT id, 'complaint', true, 'ses', :at FROM outbox WHERE public_id = :id"
            ),
            {"at": utcnow(), "id": ids["complaint"]},
        )

    command.upgrade(config, "head")
    refusals = {str(r["public_id"]): r["refusal"] for r in rows(engine, "outbox")}
    assert {name: refusals[i] for name, i in ids.items()} == {
        name: case[3] for name, case in CASES.items()
    }
    assert refusals[pending] is None
    assert _reasons(api, ids) == REASONS
    # A dead letter retried is the queue's again, refusal and all forgotten; the pending one
    # and it are sent.
    ok(here(env, tmp_path, "dead", "retry", ids["mailbox"]))
    assert make_relay().drain() == 2
    assert sorted(str(m["To"]) for m in smtp.sink.received) == [
        "mailbox@example.com",
        "pending@example.com",
    ]
    assert {str(r["public_id"]): r["refusal"] for r in rows(engine, "outbox")}[
        ids["mailbox"]
    ] is None

    command.downgrade(config, "0014")
    down = rows(engine, "outbox")
    assert len(down) == len(CASES) + 1 and "refusal" not in down[0]
    command.upgrade(config, "head")
    assert _reasons(api, ids) == {**REASONS, "mailbox": None}
