"""Queueing many outbox rows at once, through the API's own writer, for relay tests."""

from __future__ import annotations

from sqlalchemy import Engine

from shared.clock import utcnow
from shared.outbox import enqueue
from shared.secretbox import SecretBox
from tests.conftest import SECRET_KEY


def queue_emails(engine: Engine, count: int, *, prefix: str = "user") -> list[str]:
    """Queue `count` welcome emails to `<prefix><n>@example.com`; their public ids, in order."""
    box = SecretBox(SECRET_KEY)
    now = utcnow()
    with engine.begin() as connection:
        return [
            enqueue(
                connection,
                box,
                now=now,
                channel="email",
                purpose="welcome",
                recipient=f"{prefix}{n}@example.com",
                locale="en",
                params={"full_name": f"User {n}"},
            ).id
            for n in range(count)
        ]
