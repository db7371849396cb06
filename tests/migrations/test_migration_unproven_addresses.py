"""Revision 0027 (an unproven address holds nothing) on a populated database: an address is
unique among the accounts holding it (pending, or proven), so a registration naming a number an
active account carries unproven makes an account of its own, and its proof takes the number;
the downgrade gives each address back to one account and keeps every other row."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from shared.clock import utcnow
from shared.database.db import alembic_config
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from support.bulk import queue_one
from support.rows import forget_throttles, rows

CARRIED = "+33655555555"
# (id, email, phone, status, email proven, phone proven)
ACCOUNTS = [
    (1000, "mail@example.com", CARRIED, "active", True, False),
    (1001, "both@example.com", "+33656666666", "active", True, True),
    (1002, "pending@example.com", "+33657777777", "pending", False, False),
]


def _populate(engine: Engine) -> None:
    """The accounts of ACCOUNTS as revision 0026 held them."""
    at = utcnow() - timedelta(days=1)
    with engine.begin() as connection:
        for user_id, email, phone, status, email_proven, phone_proven in ACCOUNTS:
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, email, phone, password_hash, locale, status,"
                    " created_at, activated_at, email_proven_at, phone_proven_at)"
                    " VALUES (:id, :email, :phone, '!', 'en', :status, :at, :activated,"
                    " :email_proven, :phone_proven)"
                ),
                {
                    "id": user_id,
                    "email": email,
                    "phone": phone,
                    "status": status,
                    "at": at,
                    "activated": at if status == "active" else None,
                    "email_proven": at if email_proven else None,
                    "phone_proven": at if phone_proven else None,
                },
            )


def test_0027_lets_a_carried_address_be_registered_and_proven_and_downgrades(
    database_url: str, engine: Engine, client: FlaskClient, settings: Settings
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0026")
    _populate(engine)
    queued = queue_one(engine, "queued@example.com")

    command.upgrade(config, "head")
    # Her number, carried unproven by account 1000: a sign-up of its own, with a real code.
    body = {"phone": CARRIED, "password": "her very own passphrase"}
    assert client.post("/v1/registrations", json=body).status_code == 202
    forget_throttles(engine)
    [new] = [u for u in rows(engine, "users") if u["id"] not in {a[0] for a in ACCOUNTS}]
    assert (new["phone"], new["status"]) == (CARRIED, "pending")
    # A second pending account cannot hold it, nor can another account prove the same.
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO users (email, phone, password_hash, locale, status, created_at)"
                " VALUES ('x@example.com', :phone, '!', 'en', 'pending', :now)"
            ),
            {"phone": CARRIED, "now": utcnow()},
        )
    [message] = [r for r in rows(engine, "outbox") if r["recipient"] == CARRIED]
    code = SecretBox(settings.secret_key).open(message["secret_params"])["code"]
    activation = {"phone": CARRIED, "code": code}
    assert client.post("/v1/activations", json=activation).status_code == 200
    by_id = {u["id"]: u for u in rows(engine, "users")}
    assert by_id[1000]["phone"] is None and by_id[new["id"]]["phone_proven_at"] is not None

    # The downgrade: one account for each address again, the carrier losing it.
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE users SET phone = :phone WHERE id = 1000"), {"phone": CARRIED}
        )
    command.downgrade(config, "0026")
    by_id = {u["id"]: u for u in rows(engine, "users")}
    assert len(by_id) == len(ACCOUNTS) + 1
    assert (by_id[1000]["phone"], by_id[new["id"]]["phone"]) == (None, CARRIED)
    assert by_id[1001]["phone"] == "+33656666666"
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("UPDATE users SET email = 'mail@example.com' WHERE id = 1001"))
    assert queued in {r["public_id"] for r in rows(engine, "outbox")}
    command.upgrade(config, "head")
