"""What one attempt did to a claimed row, as the relay's writes (store.py) take it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from outbox_relay.claims import Claimed
from shared.messaging.outbox import AttemptOutcome, DeadReason
from shared.messaging.refusals import Refusal


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, as `outbox_attempts` records it."""

    outcome: (
        AttemptOutcome | None
    )  # None: no try (shared/messaging/outbox.Ending), so never recorded
    at: datetime
    duration_ms: int
    error: str | None = None


@dataclass(frozen=True)
class Mark:
    """What one attempt did to its row: sent, dead with a reason, or due again at `retry_at`."""

    row: Claimed
    attempt: Attempt
    dead_reason: DeadReason | None = None
    refusal: Refusal | None = None  # with a dead_reason: what the failure refused (kept)
    retry_at: datetime | None = None
    provider_id: str | None = None
    withheld: bool = False  # ended `withheld`: no provider was called
    fallback: bool = False  # its code goes again on the other channel (shared.messaging.fallbacks)
