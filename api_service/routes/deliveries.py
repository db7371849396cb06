"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import uuid
from typing import Any

from api_service.dependencies import dependencies
from api_service.flows.limits import recipient_wait
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from shared.clock import utcnow
from shared.outbox import ANSWERS_AS, ASKED_CHANNEL, Purpose
from shared.views import delivery_view

bp = Blueprint("deliveries", __name__, description="Following a queued message.")

# The throttle of the route that issues a new code for a message's purpose (activation: resend;
# password reset: a new reset request; address change: a new change request); an "account
# exists" notice answers as an activation, unless it answered an address change.
NEW_CODE_ROUTE = {
    Purpose.ACTIVATION: Purpose.ACTIVATION,
    Purpose.ACCOUNT_EXISTS: Purpose.ACTIVATION,
    Purpose.PASSWORD_RESET: Purpose.PASSWORD_RESET,
    Purpose.ADDRESS_CHANGE: Purpose.ADDRESS_CHANGE,
}


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
        view = delivery_view(connection, str(public_id), now)
        if view is None:
            raise Problem(404, "not-found", "Not Found", "No delivery has this id.")
        route = NEW_CODE_ROUTE.get(view.params.get(ANSWERS_AS, view.purpose))
        wait = recipient_wait(deps, connection, route, view.recipient, now) if route else 0
    return {
        "id": view.id,
        "channel": view.params.get(ASKED_CHANNEL, view.channel),
        "status": view.status,
        "attempts": view.attempts,
        "can_resend": route is not None and wait == 0,
        "reason": view.reason,
        "retry_after": wait if route is not None and wait else None,
        "next_attempt_after": view.next_attempt_after,
        "delivered_at": view.delivered_at,
    }
