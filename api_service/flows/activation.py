"""Activating an account with its code, and sending a fresh code."""

from __future__ import annotations

from typing import Any

from api_service.flows.code_requests import answer_code_request
from api_service.flows.dependencies import Dependencies
from api_service.flows.human import check_human
from api_service.flows.limits import count_sms, limit_recipients, limit_sms
from api_service.flows.redeem import redeem_code
from shared.accounts import activate_user, requested_addresses
from shared.clock import utcnow
from shared.events import EventType, announce
from shared.messages import send_notice
from shared.outbox import Channel, Delivery, Purpose


def activate(deps: Dependencies, data: dict[str, Any]) -> None:
    """Mark the account active and queue its welcome, if the code is its live activation code.

    Only the request that changes the status welcomes the user and announces it: a resend
    racing an activation can leave a live code on an account already active.
    """
    now = utcnow()
    with deps.unit_of_work() as uow:
        user = redeem_code(deps, uow, data, purpose=Purpose.ACTIVATION, now=now)
        if activate_user(uow.connection, user.id, now):
            send_notice(deps, uow.connection, user, purpose=Purpose.WELCOME, now=now)
            announce(deps, uow.connection, user, EventType.ACCOUNT_ACTIVATED, now=now)
        uow.commit()


def resend_activation(deps: Dependencies, data: dict[str, Any], sender: str) -> Delivery:
    """Send a fresh activation code to a pending account, or the address its notice."""
    check_human(deps, data)
    now = utcnow()
    with deps.unit_of_work() as uow:
        connection = uow.connection
        limit_recipients(deps, connection, Purpose.ACTIVATION, requested_addresses(data), now)
        channel = data["channel"]
        limit_sms(deps, uow, data.get("phone"), sender, sms=channel == Channel.SMS, now=now)
        delivery = answer_code_request(
            deps,
            connection,
            data,
            purpose=Purpose.ACTIVATION,
            asked_channel=channel,
            now=now,
        )
        count_sms(uow, data.get("phone"), delivery, asked=channel == Channel.SMS)
        uow.commit()
    return delivery
