"""Revision 0021 (proof of address) on a populated database: each active account is proven at
the address its used code went to, else at its email; pending accounts nowhere; a password
reset then goes only to a proven address; pending messages and dead letters survive and work;
the downgrade keeps every row."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.db import alembic_config
from support.bulk import queue_one
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer

# (email, phone, status, where its used code went: None for no message left)
ACCOUNTS = {
    "by_mail": ("mail@example.com", "+34600000001", "active", "mail@example.com"),
    "by_sms": ("sms@example.com", "+34600000002", "active", "+34600000002"),
    "purged": ("purged@example.com", "+34600000003", "active", None),
    "phone_only": (None, "+34600000004", "active", None),
    "pending": ("pending@example.com", "+34600000005", "pending", None),
}


# Ids given where no sequence draws them: PostgreSQL's would hand them out again.
FIRST_ID = 1000


def _populate(engine: Engine) -> None:
    """The accounts of ACCOUNTS as revision 0020 held them, with their used codes' messages."""
    now = utcnow() - timedelta(days=1)
    with engine.begin() as connection:
        for n, (email, phone, status, sent_to) in enumerate(ACCOUNTS.values(), start=FIRST_ID):
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, email, phone, password_hash, locale, status,"
                    " created_at, activated_at) VALUES (:id, :email, :phone, '!', 'en',"
                    " :status, :now, :activated)"
                ),
                {
                    "id": n,
                    "email": email,
                    "phone": phone,
                    "status": status,
                    "now": now,
                    "activated": now if status == "active" else None,
                },
            )
            if sent_to is None:
                continue
            connection.execute(
                sa.text(
                    "INSERT INTO verification_tokens (id, user_id, purpose, code_hmac, status,"
                    " failed_attempts, created_at, expires_at, used_at) VALUES (:id, :id,"
                    " 'activation', :hmac, 'used', 0, :now, :now, :now)"
                ),
                {"id": n, "hmac": "0" * 64, "now": now},
            )
    # Each used code's message, written as revision 0020's code did.
    for n, (*_, sent_to) in enumerate(ACCOUNTS.values(), start=FIRST_ID):
        if sent_to is None:
            continue
        public_id = queue_one(engine, sent_to, purpose="activation")
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE outbox SET token_id = :id, status = 'sent' WHERE public_id = :p"),
                {"id": n, "p": public_id},
            )


def test_0021_proves_each_active_account_where_its_code_went_and_keeps_every_row(
    database_url: str,
    engine: Engine,
    client: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0020")
    _populate(engine)
    queued = queue_one(engine, "queued@example.com")
    dead = queue_one(engine, "dead@example.com")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE outbox SET status = 'dead', dead_reason = 'expired' WHERE public_id = :p"
            ),
            {"p": dead},
        )

    command.upgrade(config, "head")
    proven = {
        user["email"] or user["phone"]: (
            user["email_proven_at"] is not None,
            user["phone_proven_at"] is not None,
            user["contested"],
        )
        for user in rows(engine, "users")
    }
    assert proven == {
        "mail@example.com": (True, False, False),
        "sms@example.com": (False, True, False),
        "purged@example.com": (True, False, False),
        "+34600000004": (False, True, False),
        "pending@example.com": (False, False, False),
    }
    # A reset goes to a proven address and is withheld at an unproven one.
    for body in ({"email": "mail@example.com"}, {"phone": "+34600000001"}):
        assert client.post("/v1/password-resets", json=body).status_code == 202
    resets = [r for r in rows(engine, "outbox") if r["purpose"] == "password_reset"]
    assert [(r["recipient"], r["withhold"]) for r in resets] == [
        ("mail@example.com", False),
        ("+34600000001", True),
    ]
    assert make_relay().drain() >= 2
    assert "queued@example.com" in {str(m["To"]) for m in smtp.sink.received}
    statuses = {r["public_id"]: r["status"] for r in rows(engine, "outbox")}
    assert (statuses[queued], statuses[dead]) == ("sent", "dead")

    command.downgrade(config, "0020")
    assert len(rows(engine, "users")) == len(ACCOUNTS)
    assert {r["public_id"] for r in rows(engine, "outbox")} >= {queued, dead}
    command.upgrade(config, "head")
