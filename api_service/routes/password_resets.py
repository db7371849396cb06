"""POST /v1/password-resets and /v1/password-resets/confirm."""

from __future__ import annotations

from typing import Any

from api_service.clients import current_client
from api_service.code_schemas import ResetConfirmSchema
from api_service.dependencies import dependencies
from api_service.flows.answers import AnswerStatus
from api_service.flows.commands import ConfirmReset, RequestReset
from api_service.flows.password_reset import confirm_reset, request_reset
from api_service.http_limits import checked_beside_the_hash, client_to_check
from api_service.openapi import BODY_PROBLEMS, FOLLOW_DELIVERY, Blueprint
from api_service.schemas import (
    DeliveryAcceptedSchema,
    ResetRequestSchema,
    StatusSchema,
)

bp = Blueprint("password_resets", __name__, description="Resetting passwords.")


@bp.post("/v1/password-resets")
@bp.arguments(ResetRequestSchema)
@bp.response(202, DeliveryAcceptedSchema)
@bp.problems(*BODY_PROBLEMS)
@bp.doc(responses=FOLLOW_DELIVERY)
def create_password_reset(data: dict[str, Any]) -> dict[str, Any]:
    """Send a reset code, or the address's notice; the answer names its delivery."""
    delivery = request_reset(dependencies(), RequestReset.of(data), current_client())
    return {"status": AnswerStatus.ACCEPTED, "delivery": delivery.shown()}


@bp.post("/v1/password-resets/confirm")
@checked_beside_the_hash
@bp.arguments(ResetConfirmSchema)
@bp.response(200, StatusSchema)
@bp.problems(*BODY_PROBLEMS)
def confirm_password_reset(data: dict[str, Any]) -> dict[str, str]:
    """Set a new password with the code; 400 if wrong or expired, 429 after too many tries."""
    confirm_reset(dependencies(), ConfirmReset.of(data), current_client(), client=client_to_check())
    return {"status": AnswerStatus.PASSWORD_CHANGED}
