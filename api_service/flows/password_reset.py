"""Password reset: a code to the address, then a new password with that code."""

from __future__ import annotations

from datetime import datetime

from api_service.flows.code_requests import request_code
from api_service.flows.commands import ConfirmReset, RequestReset
from api_service.flows.dependencies import Dependencies
from api_service.flows.limits import RequestCause
from api_service.flows.login import failed_sign_ins
from api_service.flows.redeem import redeem_code
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts.accounts import User, set_password
from shared.accounts.history import AccountEvent, record
from shared.accounts.reaching import email_or_sms
from shared.clock import utcnow
from shared.messaging.events import EventType, announce
from shared.messaging.messages import send_notice
from shared.messaging.outbox import Delivery, Purpose


def request_reset(deps: Dependencies, request: RequestReset, sender: str) -> Delivery:
    """Send a reset code to the account at this address, or the address its notice."""
    channel = email_or_sms(request.email)
    return request_code(
        deps, request, sender, purpose=Purpose.PASSWORD_RESET, asked_channel=channel
    )


def confirm_reset(
    deps: Dependencies, request: ConfirmReset, sender: str, client: str | None = None
) -> None:
    """Set the new password and queue a "password changed" notice, if the code is right.

    The per-IP check of a `client` left to this request runs first beside the hash. The failed
    sign-ins counted against the account's addresses go: whoever locked the owner out of
    signing in does not keep them out after they proved the address again.
    """
    now = utcnow()
    with deps.unit_of_work() as uow:
        cause = RequestCause(deps, uow, sender, discreet=True, now=now)
        password_hash, user = deps.passwords.hash_beside(
            request.new_password,
            lambda: _redeem_and_notify(deps, uow, cause, request, now, client),
        )
        set_password(uow.connection, user.id, password_hash)
        deps.throttle.forget(uow.connection, failed_sign_ins(user))
        record(uow.connection, user.id, AccountEvent.PASSWORD_CHANGED, now=now, client=sender)
        uow.commit()


def _redeem_and_notify(
    deps: Dependencies,
    uow: UnitOfWork,
    cause: RequestCause,
    request: ConfirmReset,
    now: datetime,
    client: str | None,
) -> User:
    """Spend the reset code and queue the "password changed" notice; the code's owner."""
    if client is not None:
        deps.client_limit.check(deps.unit_of_work(), client, now)
    user = redeem_code(deps, uow, request, purpose=Purpose.PASSWORD_RESET, now=now).user
    channel = email_or_sms(request.email)
    send_notice(
        deps,
        uow.connection,
        user,
        cause=cause,
        purpose=Purpose.PASSWORD_CHANGED,
        channel=channel,
        now=now,
    )
    announce(deps, uow.connection, user, EventType.ACCOUNT_PASSWORD_CHANGED, now=now)
    return user
