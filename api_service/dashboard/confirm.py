"""The dashboard's Confirm button: an operator proves an account's address by hand, with the
reason the audit keeps (SPEC "Confirm by hand")."""

from __future__ import annotations

from flask import redirect, request
from werkzeug.wrappers import Response as BaseResponse

from api_service.dashboard.access import actor, bp
from api_service.dashboard.pages import RECIPIENT_MAX, _url
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act
from shared import operations
from shared.accounts.accounts import ADDRESS_FIELDS
from shared.clock import utcnow

# The longest reason kept, as the admin API takes it.
REASON_MAX = 500


@bp.post("/accounts/<int:user_id>/confirm")
def confirm(user_id: int) -> BaseResponse:
    """Prove the account's email or phone, and show the address's lookup again with what
    was done; a missing reason or field does nothing."""
    which = request.form.get("which", "")
    reason = request.form.get("reason", "").strip()[:REASON_MAX]
    params = {"address": request.form.get("address", "")[:RECIPIENT_MAX], "target": str(user_id)}
    if which not in ADDRESS_FIELDS or not reason:
        return redirect(_url(".lookup", {**params, "notice": "confirm:unreasoned"}), 303)
    done = act(
        unit_of_work,
        operations.confirm_address,
        dependencies(),
        user_id,
        which,
        reason=reason,
        actor=actor(),
        now=utcnow(),
    )
    return redirect(_url(".lookup", {**params, "notice": f"confirm:{done.outcome}"}), 303)
