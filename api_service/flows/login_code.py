"""Signing in by a code sent to a proven address: asked for as a password reset is (answered
alike for every address, with its throttles, budgets and human check), confirmed with the
failed sign-ins of /v1/logins counted."""

from __future__ import annotations

from typing import Any

from api_service.flows.code_requests import request_code
from api_service.flows.commands import ConfirmLoginCode, RequestLoginCode
from api_service.flows.dependencies import Dependencies
from api_service.flows.provisioning import require_provisioned
from api_service.flows.redeem import redeem_code
from shared.accounts.accounts import UserStatus
from shared.accounts.history import BY_CODE, AccountEvent, record
from shared.clock import utcnow
from shared.messaging.outbox import Delivery, Purpose


def request_login_code(deps: Dependencies, request: RequestLoginCode, sender: str) -> Delivery:
    """Send a sign-in code to an active account's proven address, an activation code to a
    pending account, or the address what a password reset would earn it."""
    return request_code(
        deps, request, sender, purpose=Purpose.LOGIN_CODE, asked_channel=request.channel
    )


def confirm_login_code(
    deps: Dependencies, request: ConfirmLoginCode, sender: str
) -> dict[str, Any]:
    """The account's id, if the code is its live sign-in code; the code is spent, and the
    sign-in is in the account's history with its client `sender`.

    Only an active account's proven address is ever sent one, so its owner is active. Refused
    while the application has not answered its activation (LOGIN_REQUIRES_PROVISIONING): the
    code then stays unspent, for the sign-in that follows.
    """
    now = utcnow()
    with deps.unit_of_work() as uow:
        purpose = Purpose.LOGIN_CODE
        user = redeem_code(deps, uow, request, purpose=purpose, now=now, client=sender).user
        require_provisioned(deps, uow.connection, user.id, now)
        event = AccountEvent.LOGIN_SUCCEEDED
        record(uow.connection, user.id, event, now=now, client=sender, detail=BY_CODE)
        uow.commit()
    return {"user_id": user.id, "status": UserStatus.ACTIVE}
