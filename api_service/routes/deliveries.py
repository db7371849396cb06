"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import uuid
from typing import Any

from api_service.dependencies import dependencies
from api_service.flows.deliveries import follow
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from shared.clock import utcnow
from shared.messaging.outbox import ASKED_CHANNEL

bp = Blueprint("deliveries", __name__, description="Following a queued message.")


@bp.get("/v1/deliveries/<uuid:public_id>")
@bp.response(200, DeliveryStatusSchema)
@bp.problems(404, 503)
@bp.doc(operationId="getDelivery")
def show_delivery(public_id: uuid.UUID) -> dict[str, Any]:
    """Where a queued message stands, why it waits or failed, and when a new code may be
    asked for."""
    followed = follow(dependencies(), str(public_id), utcnow())
    if followed is None:
        raise Problem(404, "not-found", "Not Found", "No delivery has this id.")
    view, wait = followed.view, followed.wait
    shown: dict[str, Any] = {
        "id": view.id,
        "channel": view.params.get(ASKED_CHANNEL, view.channel),
        "status": view.status,
        "attempts": view.attempts,
        "can_resend": wait == 0,
        "reason": view.reason,
        "retry_after": wait or None,
        "next_attempt_after": view.next_attempt_after,
    }
    if view.fallback is not None:
        shown["fallback"] = {"id": view.fallback.id, "channel": view.fallback.channel}
    return shown
