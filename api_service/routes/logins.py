"""POST /v1/logins."""

from __future__ import annotations

from typing import Any

from api_service.clients import current_client
from api_service.dependencies import dependencies
from api_service.flows.commands import LogIn
from api_service.flows.login import log_in
from api_service.openapi import BODY_PROBLEMS, Blueprint
from api_service.schemas import LoginResultSchema, LoginSchema

bp = Blueprint("logins", __name__, description="Checking credentials for the application.")


@bp.post("/v1/logins")
@bp.arguments(LoginSchema)
@bp.response(200, LoginResultSchema)
@bp.problems(*BODY_PROBLEMS, 401)
def create_login(data: dict[str, Any]) -> dict[str, Any]:
    """Verify an address and password; issues no session (the application does).

    With LOGIN_REQUIRES_PROVISIONING, the right password of an account whose `account.activated`
    the application has not answered 2xx yet gets 503 `…/provisioning-pending` and Retry-After.
    """
    return log_in(dependencies(), LogIn.of(data), current_client())
