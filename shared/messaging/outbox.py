"""The outbox row: its vocabulary, how it is written in the caller's transaction, and how
clients see its status (every change of its status is shared/messaging/transitions.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, insert, select

from shared.database.driver import DriverStatement, bound
from shared.database.models import outbox, verification_tokens
from shared.runtime import tracing
from shared.secrets.secretbox import SecretBox

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import CODED as CODED
from shared.vocabulary import PURPOSES as PURPOSES
from shared.vocabulary import AttemptOutcome as AttemptOutcome
from shared.vocabulary import Channel as Channel
from shared.vocabulary import DeadReason as DeadReason
from shared.vocabulary import EventType
from shared.vocabulary import Purpose as Purpose
from shared.vocabulary import Status as Status
from shared.vocabulary import values_of as values_of

# Where PostgreSQL announces new rows: a trigger on outbox (migration 0005) notifies it when
# the inserting transaction commits.
NOTIFY_CHANNEL = "outbox"


class ClientStatus(StrEnum):
    """A delivery as its client sees it (shared.messaging.views.client_status)."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# Attempts that failed for the message, and so count towards RELAY_MAX_ATTEMPTS.
FAILED_ATTEMPTS = (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT)


class Ending(StrEnum):
    """How a claimed row ends an attempt: the attempt it records (None: no try, nothing
    recorded), the reason it dies of (None: it lives on) and whether it counts as a try."""

    attempt: AttemptOutcome | None
    dead_reason: DeadReason | None
    counts: bool

    def __new__(
        cls,
        value: str,
        attempt: AttemptOutcome | None,
        dead_reason: DeadReason | None,
        counts: bool,
    ) -> Ending:
        member = str.__new__(cls, value)
        member._value_ = value
        member.attempt = attempt
        member.dead_reason = dead_reason
        member.counts = counts
        return member

    SENT = "sent", AttemptOutcome.SENT, None, True
    RETRY = "retry", AttemptOutcome.TRANSIENT, None, True
    PROVIDER_DOWN = "provider_down", AttemptOutcome.PROVIDER_DOWN, None, False
    PERMANENT_ERROR = "permanent_error", AttemptOutcome.PERMANENT, DeadReason.PERMANENT_ERROR, True
    MAX_ATTEMPTS = "max_attempts", AttemptOutcome.TRANSIENT, DeadReason.MAX_ATTEMPTS, True
    EXPIRED = "expired", AttemptOutcome.EXPIRED, DeadReason.EXPIRED, False
    SUPPRESSED = "suppressed", None, DeadReason.SUPPRESSED, False
    # Counted, though no provider was tried: its client sees the attempt a sent message shows.
    WITHHELD = "withheld", None, None, True


# What clients may ask for; the webhook channel is never asked for.
CHANNELS = values_of((Channel.EMAIL, Channel.SMS))
WEBHOOK = Channel.WEBHOOK
# What an erased account's address is replaced with wherever a message kept it: no address.
ERASED = "erased"
ALL_CHANNELS = values_of(Channel)
DEAD_REASONS = values_of(DeadReason)
# What operators filter dead letters by: the reasons, and bounced messages.
FAILURES = (*DEAD_REASONS, Status.BOUNCED.value)
# Rows that failed for good: operators list, retry and purge them alike.
FAILED = (Status.DEAD, Status.BOUNCED)
# A row no relay holds; what a row keeps no more once it is not to be sent: its secret and the
# hash of its recipient, which only claims read (7 days of sent rows need not carry it); and
# what it keeps no more once terminal: those and its claim.
RELEASED: dict[str, None] = {"locked_until": None, "claim_token": None}
SECRETS: dict[str, None] = {"secret_params": None, "recipient_hash": None}
WIPED: dict[str, None] = {**RELEASED, **SECRETS}
# Codes that prove an address the account does not hold yet: each is bound to the address it
# was sent to, and works only with it.
BOUND_TO_ADDRESS = (Purpose.ADDRESS_CHANGE,)


def priority_of(purpose: Purpose | EventType) -> int:
    """The claim priority of a message: 0 (first) when it carries a code, else 1."""
    return 0 if purpose in CODED else 1


# A code's token (shared.accounts.accounts); here because a code's message may write it (enqueue).
INSERT_TOKEN = insert(verification_tokens).returning(verification_tokens.c.id)


@dataclass(frozen=True)
class Delivery:
    """What a client is told about a queued message; `withheld` only the API's counts know."""

    id: str
    channel: Channel
    status: ClientStatus
    withheld: bool = False

    def shown(self) -> dict[str, str]:
        """What the client is told: never whether it is withheld."""
        return {"id": self.id, "channel": self.channel, "status": self.status}


# The params key keeping the channel a client asked for, when the message takes another.
ASKED_CHANNEL = "asked_channel"
# The params key keeping the purpose of the code a "no account" notice stands in for: the
# notice answers as that code's message would, so that it tells no account apart.
ANSWERS_AS = "answers_as"
# The params key marking a message whose request must not tell known from unknown addresses:
# its client sees no more of it than a withheld message shows (shared.messaging.views).
DISCREET = "discreet"
# The params key keeping, sealed, whose SMS hour pays for a code's fallback
# (shared.messaging.causes).
PAID_BY = "paid_by"


def enqueue(
    connection: Connection,
    box: SecretBox,
    *,
    now: datetime,
    channel: Channel,
    purpose: Purpose | EventType,
    recipient: str,
    locale: str,
    params: dict[str, Any],
    secret_params: dict[str, Any] | None = None,
    user_id: int | None = None,
    token_id: int | None = None,
    expires_at: datetime | None = None,
    asked_channel: Channel | None = None,
    recipient_hash: str | None = None,
    token: dict[str, Any] | None = None,
    withhold: bool = False,
) -> Delivery:
    """Add a message to the outbox in the open transaction; it leaves only if that commits.

    `expires_at` is the message's horizon: never sent after it (a code's expiry, or
    NOTICE_TTL after it was written for a notice). `asked_channel` is the channel the client
    asked for when the message takes another (to an existing account's owner): the client is
    told that one, now and by GET /v1/deliveries, so that the answer reveals no account.
    `recipient_hash` is the suppression list's hash of the recipient, which lets the relay's
    claim tell whether the address is suppressed (events have none). `token` is the row of
    the code the message carries, not yet written (shared.accounts.verification.fresh_code): written
    with the message, which takes its id; on PostgreSQL in the same statement, a round trip less.
    `withhold`: the relay is to end the row `withheld` instead of sending it, in the time a
    send takes, so that its client sees what a sent message shows.
    """
    public_id = str(uuid.uuid4())
    if asked_channel is not None and asked_channel != channel:
        params = {**params, ASKED_CHANNEL: asked_channel}
    row = {
        "public_id": public_id,
        "created_at": now,
        "channel": channel,
        "purpose": purpose,
        "recipient": recipient,
        "recipient_hash": recipient_hash,
        "locale": locale,
        "template": purpose,
        "params": tracing.kept(params),
        "secret_params": box.seal(secret_params) if secret_params else None,
        "user_id": user_id,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "expires_at": expires_at,
        "priority": priority_of(purpose),
    }
    if withhold:
        # Named only when set: the column's default is false.
        row["withhold"] = True
    _insert(connection, row, token, token_id)
    return Delivery(public_id, Channel(asked_channel or channel), ClientStatus.QUEUED, withhold)


def _insert(
    connection: Connection, row: dict[str, Any], token: dict[str, Any] | None, token_id: int | None
) -> None:
    """Write the message's row, and first the code's `token` row if given."""
    if token is None:
        _inserting((*row, "token_id")).run(connection, {**row, "token_id": token_id})
    elif connection.dialect.name == "postgresql":
        values = {f"token_{k}": v for k, v in token.items()}
        values.update({f"message_{k}": v for k, v in row.items()})
        _insert_with_token(tuple(token), tuple(row)).run(connection, values)
    else:
        # SQLite has RETURNING but no data-modifying CTE; and no network round trip to save.
        token_id = connection.execute(INSERT_TOKEN, token).scalar_one()
        _inserting((*row, "token_id")).run(connection, {**row, "token_id": token_id})


@cache
def _inserting(columns: tuple[str, ...]) -> DriverStatement:
    """A message's insert naming `columns`; built once per set of columns, which the callers
    keep the same."""
    # Inline: nothing reads the new row's id, so no RETURNING is asked for it.
    return DriverStatement(insert(outbox).inline().values(bound(outbox, columns)))


@cache
def _insert_with_token(
    token_columns: tuple[str, ...], message_columns: tuple[str, ...]
) -> DriverStatement:
    """A token's row (:token_…) and its message's (:message_…, with the token's id) in one
    statement; built once per set of columns, which the callers keep the same."""
    token = (
        insert(verification_tokens)
        .values(bound(verification_tokens, token_columns, "token_"))
        .returning(verification_tokens.c.id)
        .cte("token")
    )
    message = bound(outbox, message_columns, "message_").values()
    return DriverStatement(
        insert(outbox).from_select([*message_columns, "token_id"], select(*message, token.c.id))
    )
