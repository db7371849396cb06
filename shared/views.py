"""What a client is shown of a message: the few statuses of GET /v1/deliveries/{id} and of
every answer that queues one, whatever the row's own status."""

from __future__ import annotations

from shared.outbox import ClientStatus, DeadReason, Status


def client_status(status: str, dead_reason: str | None) -> ClientStatus:
    """The status a client sees of a row's: a withheld message was, to its client, sent."""
    if status == Status.PENDING:
        return ClientStatus.QUEUED
    if status == Status.DEAD:
        return ClientStatus.EXPIRED if dead_reason == DeadReason.EXPIRED else ClientStatus.FAILED
    if status == Status.BOUNCED:
        return ClientStatus.FAILED
    if status == Status.WITHHELD:
        return ClientStatus.SENT
    return ClientStatus(status)
