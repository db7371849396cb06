"""Queueing many outbox rows at once, through the API's own writer, for relay tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text, update

from shared.clock import utcnow
from shared.database.models import outbox
from shared.messaging.outbox import CODED, DeadReason, Status, enqueue
from shared.messaging.suppressions import Suppressor
from shared.secrets.secretbox import SecretBox
from shared.vocabulary import Channel, Purpose
from support.constants import SECRET_KEY


def queue_emails(
    engine: Engine,
    count: int,
    *,
    prefix: str = "user",
    purpose: Purpose = Purpose.WELCOME,
    domain: str = "example.com",
) -> list[str]:
    """Queue `count` emails to `<prefix><n>@<domain>`; their public ids, in order. Welcome
    notices, or with `purpose` activation messages carrying a code for an hour."""
    box, suppressor = SecretBox(SECRET_KEY), Suppressor.under(SECRET_KEY)
    now = utcnow()
    coded = purpose in CODED
    with engine.begin() as connection:
        return [
            enqueue(
                connection,
                box,
                now=now,
                channel=Channel.EMAIL,
                purpose=purpose,
                recipient=f"{prefix}{n}@{domain}",
                recipient_hash=suppressor.hash(f"{prefix}{n}@{domain}"),
                locale="en",
                params={"expires_minutes": 60} if coded else {"full_name": f"User {n}"},
                secret_params={"code": f"{n:06d}"} if coded else None,
                expires_at=now + timedelta(hours=1) if coded else None,
            ).id
            for n in range(count)
        ]


def queue_one(
    engine: Engine,
    recipient: str,
    *,
    purpose: Purpose = Purpose.WELCOME,
    channel: Channel = Channel.EMAIL,
    params: dict[str, Any] | None = None,
) -> str:
    """One message due for a day, as an older revision's code wrote it (no recipient hash,
    no code): its public id. For the migration tests' populated databases."""
    now = utcnow()
    with engine.begin() as connection:
        delivery = enqueue(
            connection,
            SecretBox(SECRET_KEY),
            now=now,
            channel=channel,
            purpose=purpose,
            recipient=recipient,
            locale="en",
            params=params or {},
            expires_at=now + timedelta(days=1),
        )
    return delivery.id


def dead_one(engine: Engine, recipient: str) -> str:
    """One dead letter (expired), as an older revision's code left it: its public id."""
    public_id = queue_one(engine, recipient)
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == public_id)
            .values(status=Status.DEAD, dead_reason=DeadReason.EXPIRED)
        )
    return public_id


def add_rows(
    engine: Engine,
    n: int,
    *,
    status: str = "sent",
    created_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Add `n` welcome emails in one statement, created at `created_at` (a day ago), next
    attempted at `next_attempt_at` (then), in `status`, sent then if sent: what a busy database
    holds."""
    postgresql = engine.dialect.name == "postgresql"
    uuid = "gen_random_uuid()::text" if postgresql else "lower(hex(randomblob(16)))"
    series = (
        f"generate_series(1, {n}) AS s(i)"
        if postgresql
        else f"(WITH RECURSIVE c(i) AS (SELECT 1 WHERE {n} > 0 UNION ALL SELECT i + 1 FROM c "
        f"WHERE i < {n}) "
        "SELECT i FROM c) AS s"
    )
    created = created_at or utcnow() - timedelta(days=1)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (public_id, created_at, channel, purpose, recipient, locale, "
                "template, params, status, attempts, next_attempt_at, sent_at, priority) "
                f"SELECT {uuid}, :t, 'email', 'welcome', 'x@example.com', 'en', 'welcome', "
                f"'{{}}', :status, 1, :next, CASE WHEN :sent THEN :t END, 1 "
                f"FROM {series}"
            ),
            {
                "t": created,
                "status": status,
                "next": next_attempt_at or created,
                "sent": status == "sent",
            },
        )


def add_attempts(
    connection: Connection, public_id: str, attempts: list[tuple[str, int]], now: datetime
) -> None:
    """Message `public_id`'s attempts, each an outcome and the minutes before `now` it was
    made, in SQL that every revision takes (for the migration tests)."""
    for outcome, minutes in attempts:
        connection.execute(
            text(
                "INSERT INTO outbox_attempts (outbox_id, attempted_at, outcome, "
                "duration_ms) SELECT id, :at, :outcome, 1 FROM outbox WHERE public_id = :id"
            ),
            {"at": now - timedelta(minutes=minutes), "outcome": outcome, "id": public_id},
        )
