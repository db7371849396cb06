"""POST /v1/admin/accounts: an operator's invitation, behind `Authorization: Bearer
$ADMIN_TOKEN`, whether sign-up is open or closed."""

from __future__ import annotations

from typing import Any

from flask import g

from api_service.admin_auth import require_bearer
from api_service.admin_schemas import InvitationSchema, InvitedSchema
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act
from api_service.openapi import Blueprint
from api_service.problems import Problem, validation_problem
from api_service.routes.admin import ADMIN_PROBLEMS, BEARER
from shared import operations
from shared.clock import utcnow

bp = Blueprint("admin_invitations", __name__, description="Operators: invitations.")


@bp.before_request
def _authenticate() -> None:
    g.actor = require_bearer()


@bp.post("/v1/admin/accounts")
@bp.arguments(InvitationSchema)
@bp.response(201, InvitedSchema)
@bp.problems(*ADMIN_PROBLEMS, 409, 413, 415, 422)
@bp.doc(security=BEARER)
def invite(data: dict[str, Any]) -> dict[str, Any]:
    """Make a pending account holding the address and send it its activation code (the one a
    registration sends), whatever SIGNUP says; audited. An address an account holds: `409`,
    nothing made or sent."""
    field = "email" if "email" in data else "phone"
    invitation = act(
        unit_of_work,
        operations.invite,
        dependencies(),
        data[field],
        actor=g.actor,
        now=utcnow(),
    )
    if invitation.outcome == operations.InviteOutcome.ACCOUNT_EXISTS:
        holder = f"Account {invitation.user_id}" if invitation.user_id else "An account"
        raise Problem(
            409,
            "account-exists",
            "Account exists",
            f"{holder} holds this address: nothing made or sent. A pending account gets a "
            "fresh code from POST /v1/admin/users/<id>/reissue-activation once you know it "
            "is its owner's.",
        )
    if invitation.outcome == operations.InviteOutcome.UNREACHABLE:
        raise validation_problem([(field, invitation.reason or "No SMS can go to this number.")])
    return {"user_id": invitation.user_id, "delivery": invitation.delivery}
