"""Password reset: a code to the address, then a new password with that code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from api_service.limits import limit_recipients
from api_service.redeem import redeem_code
from api_service.services import Services
from api_service.unit_of_work import UnitOfWork
from shared.accounts import User, find_account, requested_addresses, set_password
from shared.clock import utcnow
from shared.events import announce
from shared.messages import send_code_unseen, send_notice


def request_reset(services: Services, data: dict[str, Any]) -> None:
    """Send a reset code to the account at this address, if there is one; answer the same."""
    now = utcnow()
    with services.unit_of_work() as uow:
        connection = uow.connection
        limit_recipients(services, connection, "password_reset", requested_addresses(data), now)
        channel = "email" if data.get("email") else "sms"
        send_code_unseen(
            services,
            connection,
            find_account(connection, data),
            purpose="password_reset",
            channel=channel,
            now=now,
        )
        uow.commit()


def confirm_reset(
    services: Services, data: dict[str, Any], check_client: Callable[[], None] | None = None
) -> None:
    """Set the new password and queue a "password changed" notice, if the code is right.

    A per-IP check left to this request runs first beside the hash.
    """
    now = utcnow()
    with services.unit_of_work() as uow:
        password_hash, user = services.passwords.hash_beside(
            data["new_password"], lambda: _redeem_and_notify(services, uow, data, now, check_client)
        )
        set_password(uow.connection, user.id, password_hash)
        uow.commit()


def _redeem_and_notify(
    services: Services,
    uow: UnitOfWork,
    data: dict[str, Any],
    now: datetime,
    check_client: Callable[[], None] | None,
) -> User:
    """Spend the reset code and queue the "password changed" notice; the code's owner."""
    if check_client is not None:
        check_client()
    user = redeem_code(services, uow, data, purpose="password_reset", now=now)
    channel = "email" if data.get("email") else "sms"
    send_notice(
        services, uow.connection, user, purpose="password_changed", channel=channel, now=now
    )
    announce(services, uow.connection, user, "account.password_changed", now=now)
    return user
