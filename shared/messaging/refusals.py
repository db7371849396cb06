"""What a permanent failure refused beyond the message, as data: decided once where the
provider's answer is judged (outbox_relay/failures.py, an SMS provider's spec, a provider's
report), stored with the
message (`outbox.refusal`), and turned here, in one table, into what the client is told and
what the suppression list keeps. No code reads an error's wording for its meaning."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from shared.messaging.outbox import DeadReason, Status
from shared.messaging.suppressions import SuppressionReason

# The kinds of refusal live beside the verdicts, which the SMS providers' specs judge with
# (shared/verdicts.py imports nothing heavier); read here with their consequences.
from shared.verdicts import Refusal as Refusal


class Consequence(NamedTuple):
    """What a refusal means to the client (`reason`) and to the suppression list."""

    reason: FailureReason
    suppression: SuppressionReason | None


class FailureReason(StrEnum):
    """Why a message failed, as its client or the application can act on it."""

    ADDRESS_REJECTED = "address_rejected"  # ask for another address
    UNDELIVERABLE = "undeliverable"  # any other failure


ADDRESS_REJECTED, UNDELIVERABLE = FailureReason.ADDRESS_REJECTED, FailureReason.UNDELIVERABLE

CONSEQUENCES: dict[Refusal, Consequence] = {
    Refusal.ADDRESS: Consequence(ADDRESS_REJECTED, SuppressionReason.REJECTED),
    # The number is fine; its owner said stop: another address would not help the client.
    Refusal.OPTED_OUT: Consequence(UNDELIVERABLE, SuppressionReason.COMPLAINT),
    Refusal.HARD_BOUNCE: Consequence(ADDRESS_REJECTED, SuppressionReason.HARD_BOUNCE),
    Refusal.COMPLAINT: Consequence(ADDRESS_REJECTED, SuppressionReason.COMPLAINT),
}


def failure_reason(
    status: Status, dead_reason: DeadReason | None, refusal: Refusal | None
) -> FailureReason:
    """Why a message with this `status`, `dead_reason` and `refusal` failed, as a client or the
    application can act on it: `address_rejected` (ask for another address) or `undeliverable`
    (any other failure). A bounce that refused its address carries no dead reason; one that
    did not, `permanent_error`."""
    bounced = status == Status.BOUNCED and dead_reason is None
    if bounced or dead_reason == DeadReason.SUPPRESSED:
        return ADDRESS_REJECTED
    if dead_reason == DeadReason.PERMANENT_ERROR and refusal is not None:
        return CONSEQUENCES[Refusal(refusal)].reason
    return UNDELIVERABLE


def suppression_of(refusal: Refusal | None) -> SuppressionReason | None:
    """The suppression reason a refusal calls for, None for a failure of the message alone."""
    return CONSEQUENCES[refusal].suppression if refusal is not None else None
