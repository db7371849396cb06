"""Answering a request for a new code (a resend, a password reset) alike, whoever owns the
address: every answer names a real delivery (SPEC "No enumeration")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from api_service.flows.dependencies import Dependencies
from api_service.flows.human import check_human
from api_service.flows.limits import RequestCause, limit_recipients
from shared.accounts import User, UserStatus, find_account, requested_addresses
from shared.clock import utcnow
from shared.code_or_notice import send_code_or_notice
from shared.messages import send_no_account, send_notice, send_withheld
from shared.outbox import CHANNELS, Channel, Delivery, Purpose


def request_code(
    deps: Dependencies, data: dict[str, Any], sender: str, *, purpose: str, asked_channel: str
) -> Delivery:
    """A public request for a new code of `purpose` (a resend, a password reset), in a unit of
    its own: the human check, the per-address limits, the budgets of the messages it causes,
    and what it earns (answer_code_request)."""
    check_human(deps, data)
    now = utcnow()
    with deps.unit_of_work() as uow:
        connection = uow.connection
        named = requested_addresses(data)
        limit_recipients(deps, connection, purpose, named, now)
        cause = RequestCause(
            deps,
            uow,
            sender,
            discreet=True,
            now=now,
            asks_sms=asked_channel == Channel.SMS,
            phone=data.get("phone"),
            named=named,
        )
        delivery = answer_code_request(
            deps.caused_by(cause),
            connection,
            data,
            purpose=purpose,
            asked_channel=asked_channel,
            now=now,
        )
        uow.commit()
    return delivery


def answer_code_request(
    deps: Dependencies,
    connection: Connection,
    data: dict[str, Any],
    *,
    purpose: str,
    asked_channel: str,
    now: datetime,
) -> Delivery:
    """Queue what the request earns: a code for `purpose` to the account owning its addresses;
    to an active account asking for an activation code, an "account exists" notice; to an
    address no account uses, a "no account" notice.

    A code that sets a password goes only to an address the account proved; one it did not
    prove gets a withheld message instead (SPEC "Proof of address"). The message goes on the
    channel asked for when its addresses have one there, else on the other; the client hears
    the channel it asked for.
    """
    user = find_account(connection, data)
    code_to = None
    notice: Callable[[], Delivery]
    if user is None:
        named = {"email": data.get("email"), "sms": data.get("phone")}
        channel, address = _reaching(named, asked_channel)
        notice = partial(
            send_no_account,
            deps,
            connection,
            address,
            answers_as=purpose,
            channel=channel,
            now=now,
            asked_channel=asked_channel,
        )
    else:
        channel, code_to, notice = _for_account(
            deps, connection, user, purpose=purpose, asked_channel=asked_channel, now=now
        )
    return send_code_or_notice(
        deps,
        connection,
        code_to,
        purpose=purpose,
        channel=channel,
        now=now,
        asked_channel=asked_channel,
        notice=notice,
    )


def _for_account(
    deps: Dependencies,
    connection: Connection,
    user: User,
    *,
    purpose: str,
    asked_channel: str,
    now: datetime,
) -> tuple[str, User | None, Callable[[], Delivery]]:
    """The channel reaching `user`, whether they get the code (None: the notice instead) and
    the notice: an active account asking for an activation code is told it exists; an address
    it never proved gets no code that sets a password, but a withheld message."""
    channel, address = _reaching({"email": user.email, "sms": user.phone}, asked_channel)
    if purpose == Purpose.ACTIVATION:
        code_to = user if user.status == UserStatus.PENDING else None
        notice = partial(
            send_notice,
            deps,
            connection,
            user,
            purpose=Purpose.ACCOUNT_EXISTS,
            channel=channel,
            now=now,
            asked_channel=asked_channel,
        )
        return channel, code_to, notice
    withheld = partial(
        send_withheld, deps, connection, address, purpose=purpose, channel=channel, now=now
    )
    return channel, user if user.proven(address) else None, withheld


def _reaching(addresses: dict[str, str | None], asked: str) -> tuple[str, str]:
    """The channel asked for and its address if there is one, else the first there is."""
    for channel in (asked, *CHANNELS):
        address = addresses[channel]
        if address:
            return channel, address
    raise ValueError("a request without an address")
