"""A sign-in that waits for the application's provisioning (LOGIN_REQUIRES_PROVISIONING),
asked only once the credentials were found right: the refusal tells nothing to someone who
does not hold them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import ProvisioningPending
from shared.accounts.provisioning import provisioning_wait


def require_provisioned(
    deps: Dependencies, connection: Connection, user_id: int, now: datetime
) -> None:
    """Refuse the sign-in (503) while the application has not answered the account's
    `account.activated` event 2xx; nothing without LOGIN_REQUIRES_PROVISIONING."""
    if not deps.settings.login_requires_provisioning:
        return
    wait = provisioning_wait(connection, user_id, now)
    if wait is not None:
        raise ProvisioningPending(wait)
