"""Writing outbox rows inside the caller's transaction, and how clients see their status."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from shared.models import outbox
from shared.secretbox import SecretBox

# Where PostgreSQL announces new rows: a trigger on outbox (migration 0005) notifies it when
# the inserting transaction commits.
NOTIFY_CHANNEL = "outbox"
# What clients may ask for; `webhook` carries the application's lifecycle events, never asked.
CHANNELS = ("email", "sms")
WEBHOOK = "webhook"
ALL_CHANNELS = (*CHANNELS, WEBHOOK)
LOCALES = ("en", "fr")
PURPOSES = ("activation", "password_reset", "password_changed", "welcome", "account_exists")
# Why a dead message died; and what operators filter dead letters by (bounced ones too).
DEAD_REASONS = ("permanent_error", "max_attempts", "expired", "suppressed")
FAILURES = (*DEAD_REASONS, "bounced")
# Lifecycle events: the purpose of a webhook row.
EVENTS = (
    "account.registered",
    "account.activated",
    "account.password_changed",
    "account.erased",
    "delivery.failed",
)
# Messages that carry a code: claimed before the others when a backlog forms.
CODED = ("activation", "password_reset")


def priority_of(purpose: str) -> int:
    """The claim priority of a message: 0 (first) when it carries a code, else 1."""
    return 0 if purpose in CODED else 1


# Built once: each message only binds its values.
_INSERT = insert(outbox)


@dataclass(frozen=True)
class Delivery:
    """What a client is told about a queued message."""

    id: str
    channel: str
    status: str


# The params key keeping the channel a client asked for, when the message takes another.
ASKED_CHANNEL = "asked_channel"


def enqueue(
    connection: Connection,
    box: SecretBox,
    *,
    now: datetime,
    channel: str,
    purpose: str,
    recipient: str,
    locale: str,
    params: dict[str, Any],
    secret_params: dict[str, Any] | None = None,
    user_id: int | None = None,
    token_id: int | None = None,
    expires_at: datetime | None = None,
    asked_channel: str | None = None,
) -> Delivery:
    """Add a message to the outbox in the open transaction; it leaves only if that commits.

    `expires_at` is the message's horizon: never sent after it (a code's expiry, or
    NOTICE_TTL after it was written for a notice). `asked_channel` is the channel the client
    asked for when the message takes another (to an existing account's owner): the client is
    told that one, now and by GET /v1/deliveries, so that the answer reveals no account.
    """
    public_id = str(uuid.uuid4())
    if asked_channel is not None and asked_channel != channel:
        params = {**params, ASKED_CHANNEL: asked_channel}
    connection.execute(
        _INSERT,
        {
            "public_id": public_id,
            "created_at": now,
            "channel": channel,
            "purpose": purpose,
            "recipient": recipient,
            "locale": locale,
            "template": purpose,
            "params": params,
            "secret_params": box.seal(secret_params) if secret_params else None,
            "user_id": user_id,
            "token_id": token_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": expires_at,
            "priority": priority_of(purpose),
        },
    )
    return Delivery(id=public_id, channel=asked_channel or channel, status="queued")


# A refusal of the recipient's address itself (RFC 3463 class 5.1), as failures.py records it.
_ADDRESS_REFUSED = re.compile(r"\bSMTP 5\d\d 5\.1\.\d{1,3}\b")


def failure_reason(dead_reason: str | None, last_error: str | None) -> str:
    """Why a message failed, as a client or the application can act on it: `address_rejected`
    (ask for another address) or `undeliverable` (any other failure)."""
    if dead_reason in ("suppressed", "bounced"):
        return "address_rejected"
    if dead_reason == "permanent_error" and _ADDRESS_REFUSED.search(last_error or ""):
        return "address_rejected"
    return "undeliverable"


def client_status(status: str, dead_reason: str | None) -> str:
    """The status a client sees: queued, sent, failed, expired or cancelled."""
    if status == "pending":
        return "queued"
    if status == "dead":
        return "expired" if dead_reason == "expired" else "failed"
    if status == "bounced":
        return "failed"
    return status
