"""POST /v1/admin/accounts/<id>/confirm: an operator proves an account's address by hand."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import g

from api_service.admin_auth import require_bearer
from api_service.confirm_schemas import ConfirmedSchema, ConfirmSchema
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act
from api_service.openapi import Blueprint
from api_service.problems import Problem
from shared import operations
from shared.clock import utcnow
from shared.database.models import MAX_ID

bp = Blueprint("admin_confirm", __name__, description="Operators: an address confirmed by hand.")
Outcome = operations.ConfirmOutcome
# The 409 answered for a confirmation that did nothing: slug and title (the detail: its words).
_REFUSED = {
    Outcome.NO_ADDRESS: ("no-such-address", "No such address"),
    Outcome.TAKEN: ("address-taken", "Address taken"),
    Outcome.CONTESTED: ("contested", "Sign-up contested"),
}


@bp.before_request
def _authenticate() -> None:
    g.actor = require_bearer()


@bp.post(f"/v1/admin/accounts/<int(min=1, max={MAX_ID}):user_id>/confirm")
@bp.arguments(ConfirmSchema)
@bp.response(200, ConfirmedSchema)
@bp.problems(400, 401, 404, 409, 413, 415, 422, 429, 503)
@bp.doc(security=[{"adminToken": []}])
def confirm(data: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Prove the account's email or phone, activating it if pending; audited with the reason."""
    done = act(
        unit_of_work,
        operations.confirm_address,
        dependencies(),
        user_id,
        data["address"],
        reason=data["reason"],
        actor=g.actor,
        now=utcnow(),
    )
    if done.outcome == Outcome.NOT_FOUND:
        raise Problem(404, "not-found", "Not Found", "No account has this id.")
    if done.outcome in _REFUSED:
        raise Problem(409, *_REFUSED[done.outcome], operations.CONFIRM_WORDS[done.outcome])
    return asdict(done)
