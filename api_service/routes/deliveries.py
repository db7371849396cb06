"""GET /v1/deliveries/<id>."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from api_service.problems import Problem
from api_service.schemas import DeliveryStatusSchema
from api_service.services import services
from shared.models import outbox
from shared.outbox import client_status

bp = Blueprint("deliveries", __name__)

# Messages a client may ask to send again once they have left the queue.
RESENDABLE = ("activation", "account_exists")


@bp.get("/v1/deliveries/<public_id>")
def show_delivery(public_id: str) -> Response:
    """Where a queued message stands."""
    if not _is_uuid(public_id):
        raise _not_found()
    with services().engine.connect() as connection:
        row = connection.execute(
            select(
                outbox.c.public_id,
                outbox.c.channel,
                outbox.c.purpose,
                outbox.c.status,
                outbox.c.dead_reason,
                outbox.c.attempts,
            ).where(outbox.c.public_id == public_id)
        ).one_or_none()
    if row is None:
        raise _not_found()
    status = client_status(row.status, row.dead_reason)
    return jsonify(
        DeliveryStatusSchema().dump(
            {
                "id": row.public_id,
                "channel": row.channel,
                "status": status,
                "attempts": row.attempts,
                "can_resend": row.purpose in RESENDABLE and status != "queued",
            }
        )
    )


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _not_found() -> Problem:
    return Problem(404, "not-found", "Not Found", "No delivery has this id.")
