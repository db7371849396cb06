"""Where a queued message stands, as its client may see it, and when a new code may be asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api_service.flows.dependencies import Dependencies
from api_service.flows.limits import recipient_wait
from shared.messaging.outbox import ANSWERS_AS, Purpose
from shared.messaging.provider_pauses import providers_of
from shared.messaging.views import DeliveryView, delivery_view

# The throttle of the route that issues a new code for a message's purpose (activation: resend;
# password reset: a new reset request; address change: a new change request; sign-in code: a
# new sign-in code request); an "account exists" notice answers as an activation, unless it
# answered an address change, and an activation code sent for a sign-in code as the latter.
NEW_CODE_ROUTE = {
    Purpose.ACTIVATION: Purpose.ACTIVATION,
    Purpose.ACCOUNT_EXISTS: Purpose.ACTIVATION,
    Purpose.PASSWORD_RESET: Purpose.PASSWORD_RESET,
    Purpose.ADDRESS_CHANGE: Purpose.ADDRESS_CHANGE,
    Purpose.LOGIN_CODE: Purpose.LOGIN_CODE,
}


@dataclass(frozen=True)
class Followed:
    """A delivery's view and, when its purpose has a route issuing a new code, the seconds
    until that route would send one (None: no such route)."""

    view: DeliveryView
    wait: int | None


def follow(deps: Dependencies, public_id: str, now: datetime) -> Followed | None:
    """The delivery `public_id` as its client follows it; None if there is none."""
    with deps.unit_of_work() as uow:
        view = delivery_view(uow.connection, public_id, now, providers_of(deps.settings))
        if view is None:
            return None
        route = NEW_CODE_ROUTE.get(view.params.get(ANSWERS_AS, view.purpose))
        if route is None:
            return Followed(view, None)
        return Followed(view, recipient_wait(deps, uow.connection, route, view.recipient, now))
