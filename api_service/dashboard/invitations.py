"""The dashboard's invitation: from an address's lookup that finds no account, a pending account
made and sent its activation code (shared.operations.invite)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api_service.dashboard.access import actor, bp, html
from api_service.dashboard.pages import RECIPIENT_MAX
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act
from shared import operations
from shared.accounts.addresses import AddressError, normalise_address
from shared.clock import utcnow


@bp.post("/accounts/invite")
def invite() -> BaseResponse:
    """Invite the address typed, and show its lookup again with what was done."""
    typed = request.form.get("address", "").strip()[:RECIPIENT_MAX]
    try:
        address = normalise_address(typed)
    except AddressError as exc:
        page = render_template(
            "dashboard/error.html",
            title="Not an address",
            message=str(exc),
            back=url_for(".lookup"),
        )
        return html(page, 400)
    invitation = act(
        unit_of_work, operations.invite, dependencies(), address, actor=actor(), now=utcnow()
    )
    notice = f"invite:{invitation.outcome}"
    shown = url_for(
        ".lookup",
        address=address,
        notice=notice,
        target=str(invitation.user_id or ""),
        delivery=invitation.delivery or "",
    )
    return redirect(shown, 303)
