"""POST /v1/login-codes and /v1/login-codes/confirm."""

from __future__ import annotations

from typing import Any

from api_service.clients import current_client
from api_service.code_schemas import LoginCodeConfirmSchema
from api_service.dependencies import dependencies
from api_service.flows.answers import AnswerStatus
from api_service.flows.commands import ConfirmLoginCode, RequestLoginCode
from api_service.flows.login_code import confirm_login_code, request_login_code
from api_service.openapi import BODY_PROBLEMS, FOLLOW_DELIVERY, Blueprint
from api_service.schemas import (
    DeliveryAcceptedSchema,
    LoginCodeRequestSchema,
    LoginResultSchema,
)

bp = Blueprint("login_codes", __name__, description="Signing in by a code.")


@bp.post("/v1/login-codes")
@bp.arguments(LoginCodeRequestSchema)
@bp.response(202, DeliveryAcceptedSchema)
@bp.problems(*BODY_PROBLEMS)
@bp.doc(responses=FOLLOW_DELIVERY)
def create_login_code(data: dict[str, Any]) -> dict[str, Any]:
    """Send a sign-in code, or what the address earns instead; the answer names its delivery."""
    delivery = request_login_code(dependencies(), RequestLoginCode.of(data), current_client())
    return {"status": AnswerStatus.ACCEPTED, "delivery": delivery.shown()}


@bp.post("/v1/login-codes/confirm")
@bp.arguments(LoginCodeConfirmSchema)
@bp.response(200, LoginResultSchema)
@bp.problems(*BODY_PROBLEMS)
def confirm_login(data: dict[str, Any]) -> dict[str, Any]:
    """Sign in with the code; 400 if wrong, spent or expired, 429 after too many tries.

    Issues no session: the application does, as for /v1/logins; and as there, 503
    `…/provisioning-pending` while the application has not answered the account's activation
    (LOGIN_REQUIRES_PROVISIONING), the code left unspent.
    """
    return confirm_login_code(dependencies(), ConfirmLoginCode.of(data), current_client())
