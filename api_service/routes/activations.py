"""POST /v1/activations and /v1/activations/resend."""

from __future__ import annotations

from typing import Any

from api_service.clients import current_client
from api_service.code_schemas import ActivationSchema
from api_service.dependencies import dependencies
from api_service.flows.activation import activate, resend_activation
from api_service.flows.answers import AnswerStatus
from api_service.flows.commands import Activate, ResendActivation
from api_service.openapi import BODY_PROBLEMS, FOLLOW_DELIVERY, Blueprint
from api_service.schemas import (
    DeliveryAcceptedSchema,
    ResendSchema,
    StatusSchema,
)
from shared.accounts.accounts import UserStatus

bp = Blueprint("activations", __name__, description="Activating accounts.")


@bp.post("/v1/activations")
@bp.arguments(ActivationSchema)
@bp.response(200, StatusSchema)
@bp.problems(*BODY_PROBLEMS, 409)
def create_activation(data: dict[str, Any]) -> dict[str, str]:
    """Activate an account with the code it was sent.

    A contested sign-up (another registration of this address came with another password)
    answers 409 `password-required` until `password` is given with the code, which stays valid
    meanwhile: the account then has that password.
    """
    activate(dependencies(), Activate.of(data), current_client())
    return {"status": UserStatus.ACTIVE}


@bp.post("/v1/activations/resend")
@bp.arguments(ResendSchema)
@bp.response(202, DeliveryAcceptedSchema)
@bp.problems(*BODY_PROBLEMS)
@bp.doc(responses=FOLLOW_DELIVERY)
def resend(data: dict[str, Any]) -> dict[str, Any]:
    """Send a fresh activation code, or the address's notice; the answer names its delivery."""
    delivery = resend_activation(dependencies(), ResendActivation.of(data), current_client())
    return {"status": AnswerStatus.ACCEPTED, "delivery": delivery.shown()}
