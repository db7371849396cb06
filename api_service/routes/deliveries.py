"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from api_service.dependencies import dependencies
from api_service.flows.limits import recipient_wait
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from shared.clock import utcnow
from shared.models import outbox, outbox_attempts, provider_events
from shared.outbox import (
    ANSWERS_AS,
    ASKED_CHANNEL,
    WEBHOOK,
    AttemptOutcome,
    ClientStatus,
    Purpose,
)
from shared.provider_events import ProviderEventType
from shared.refusals import failure_reason
from shared.views import client_status

bp = Blueprint("deliveries", __name__, description="Following a queued message.")

# The throttle of the route that issues a new code for a message's purpose (activation: resend;
# password reset: a new reset request); an "account exists" notice answers as an activation.
NEW_CODE_ROUTE = {
    Purpose.ACTIVATION: Purpose.ACTIVATION,
    Purpose.ACCOUNT_EXISTS: Purpose.ACTIVATION,
    Purpose.PASSWORD_RESET: Purpose.PASSWORD_RESET,
}

_DELIVERY = select(
    outbox.c.public_id,
    outbox.c.channel,
    outbox.c.purpose,
    outbox.c.recipient,
    outbox.c.status,
    outbox.c.dead_reason,
    outbox.c.refusal,
    outbox.c.attempts,
    outbox.c.params,
    outbox.c.next_attempt_at,
    outbox.c.locked_until,
    # The first receipt that said the message arrived (provider_events: type `delivery`).
    select(func.min(provider_events.c.at))
    .where(
        provider_events.c.outbox_id == outbox.c.id,
        provider_events.c.type == ProviderEventType.DELIVERY,
    )
    .scalar_subquery()
    .label("delivered_at"),
)

# The outcome of the newest attempt on a channel, whatever its message: the relay records a
# paused provider's failure as `provider_down` and sends nothing more on the channel until the
# provider answers, so while it is the newest, the channel's messages wait for their provider.
_NEWEST_OUTCOME = (
    select(outbox_attempts.c.outcome)
    .join(outbox, outbox.c.id == outbox_attempts.c.outbox_id)
    .order_by(outbox_attempts.c.attempted_at.desc(), outbox_attempts.c.id.desc())
    .limit(1)
)


@bp.get("/v1/deliveries/<uuid:public_id>")
@bp.response(200, DeliveryStatusSchema)
@bp.problems(404, 503)
@bp.doc(operationId="getDelivery")
def show_delivery(public_id: uuid.UUID) -> dict[str, Any]:
    """Where a queued message stands, why it waits or failed, and when a new code may be
    asked for."""
    deps = dependencies()
    now = utcnow()
    with deps.engine.connect() as connection:
        row = connection.execute(
            _DELIVERY.where(outbox.c.public_id == str(public_id), outbox.c.channel != WEBHOOK)
        ).one_or_none()
        if row is None:
            raise Problem(404, "not-found", "Not Found", "No delivery has this id.")
        params = row.params or {}
        route = NEW_CODE_ROUTE.get(params.get(ANSWERS_AS, row.purpose))
        wait = recipient_wait(deps, connection, route, row.recipient, now) if route else 0
        status = client_status(row.status, row.dead_reason)
        reason: str | None = None
        due_in = None
        if status == ClientStatus.FAILED:
            reason = failure_reason(row.dead_reason or row.status, row.refusal)
        elif status == ClientStatus.QUEUED:
            reason = _waiting_reason(connection, row.channel)
            due_in = _next_attempt_after(row.next_attempt_at, row.locked_until, now)
    return {
        "id": row.public_id,
        "channel": params.get(ASKED_CHANNEL, row.channel),
        "status": status,
        "attempts": row.attempts,
        "can_resend": route is not None and wait == 0,
        "reason": reason,
        "retry_after": wait if route is not None and wait else None,
        "next_attempt_after": due_in,
        "delivered_at": row.delivered_at,
    }


def _waiting_reason(connection: Connection, channel: str) -> str | None:
    """Why a queued message waits: `provider_unavailable` while its provider is paused."""
    newest = connection.execute(_NEWEST_OUTCOME.where(outbox.c.channel == channel))
    paused = newest.scalar_one_or_none() == AttemptOutcome.PROVIDER_DOWN
    return "provider_unavailable" if paused else None


def _next_attempt_after(due: datetime, held_until: datetime | None, now: datetime) -> int | None:
    """Seconds until the relay tries a pending message again; None when it is due now or a
    relay holds it (being tried)."""
    if held_until is not None and held_until > now:
        return None
    seconds = (due - now).total_seconds()
    return math.ceil(seconds) if seconds > 0 else None
