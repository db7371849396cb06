"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from api_service.services import services
from shared.models import outbox
from shared.outbox import client_status

bp = Blueprint("deliveries", __name__, description="Following a queued message.")

# Messages a client may ask to send again once they have left the queue.
RESENDABLE = ("activation", "account_exists")


@bp.get("/v1/deliveries/<uuid:public_id>")
@bp.response(200, DeliveryStatusSchema)
@bp.problems(404, 503)
@bp.doc(operationId="getDelivery")
def show_delivery(public_id: uuid.UUID) -> dict[str, Any]:
    """Where a queued message stands."""
    with services().engine.connect() as connection:
        row = connection.execute(
            select(
                outbox.c.public_id,
                outbox.c.channel,
                outbox.c.purpose,
                outbox.c.status,
                outbox.c.dead_reason,
                outbox.c.attempts,
            ).where(outbox.c.public_id == str(public_id))
        ).one_or_none()
    if row is None:
        raise Problem(404, "not-found", "Not Found", "No delivery has this id.")
    status = client_status(row.status, row.dead_reason)
    return {
        "id": row.public_id,
        "channel": row.channel,
        "status": status,
        "attempts": row.attempts,
        "can_resend": row.purpose in RESENDABLE and status != "queued",
    }
