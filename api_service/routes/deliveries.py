"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from api_service.dependencies import dependencies
from api_service.flows.limits import recipient_wait
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from shared.clock import utcnow
from shared.models import outbox
from shared.outbox import ASKED_CHANNEL, WEBHOOK, Purpose, client_status, failure_reason

bp = Blueprint("deliveries", __name__, description="Following a queued message.")

# The throttle of the route that issues a new code for a message's purpose (activation: resend;
# password reset: a new reset request); an "account exists" notice answers as an activation.
NEW_CODE_ROUTE = {
    Purpose.ACTIVATION: Purpose.ACTIVATION,
    Purpose.ACCOUNT_EXISTS: Purpose.ACTIVATION,
    Purpose.PASSWORD_RESET: Purpose.PASSWORD_RESET,
}


@bp.get("/v1/deliveries/<uuid:public_id>")
@bp.response(200, DeliveryStatusSchema)
@bp.problems(404, 503)
@bp.doc(operationId="getDelivery")
def show_delivery(public_id: uuid.UUID) -> dict[str, Any]:
    """Where a queued message stands, why it failed, and when a new code may be asked for."""
    deps = dependencies()
    with deps.engine.connect() as connection:
        row = connection.execute(
            select(
                outbox.c.public_id,
                outbox.c.channel,
                outbox.c.purpose,
                outbox.c.recipient,
                outbox.c.status,
                outbox.c.dead_reason,
                outbox.c.last_error,
                outbox.c.attempts,
                outbox.c.params,
            ).where(outbox.c.public_id == str(public_id), outbox.c.channel != WEBHOOK)
        ).one_or_none()
        if row is None:
            raise Problem(404, "not-found", "Not Found", "No delivery has this id.")
        route = NEW_CODE_ROUTE.get(row.purpose)
        wait = (
            recipient_wait(deps, connection, route, row.recipient, utcnow())
            if route is not None
            else 0
        )
    status = client_status(row.status, row.dead_reason)
    failed = status == "failed"
    return {
        "id": row.public_id,
        "channel": (row.params or {}).get(ASKED_CHANNEL, row.channel),
        "status": status,
        "attempts": row.attempts,
        "can_resend": route is not None and wait == 0,
        "reason": failure_reason(row.dead_reason or row.status, row.last_error) if failed else None,
        "retry_after": wait if route is not None and wait else None,
    }
