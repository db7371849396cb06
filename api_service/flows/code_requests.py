"""Answering a request for a new code (a resend, a password reset, a sign-in code) alike,
whoever owns the address: every answer names a real delivery (SPEC "No enumeration")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from api_service.flows.commands import Addressed, CodeRequest
from api_service.flows.dependencies import Dependencies
from api_service.flows.human import check_human
from api_service.flows.limits import RequestCause, limit_recipients
from shared.accounts.accounts import User, UserStatus, find_account
from shared.accounts.code_or_notice import send_code_or_notice
from shared.accounts.history import REQUESTED, record
from shared.accounts.unproven import carried_unproven
from shared.clock import utcnow
from shared.messaging.messages import send_no_account, send_notice, send_withheld
from shared.messaging.outbox import Channel, Delivery, Purpose

# The other code a request for `purpose` may carry, whose tries start again when it is let
# through: a pending account asking for a sign-in code gets its activation code instead.
CARRIED: dict[Purpose, tuple[Purpose, ...]] = {Purpose.LOGIN_CODE: (Purpose.ACTIVATION,)}


def request_code(
    deps: Dependencies,
    request: CodeRequest,
    sender: str,
    *,
    purpose: Purpose,
    asked_channel: Channel,
) -> Delivery:
    """A public request for a new code of `purpose` (a resend, a password reset, a sign-in
    code), in a unit of its own: the human check, the per-address limits, the budgets of the
    messages it causes, and what it earns (answer_code_request)."""
    check_human(deps, request)
    now = utcnow()
    with deps.unit_of_work() as uow:
        connection = uow.connection
        named = request.addresses
        carried = CARRIED.get(purpose, ())
        taken = limit_recipients(deps, connection, purpose, named, now, carried=carried)
        cause = RequestCause(
            deps,
            uow,
            sender,
            discreet=True,
            now=now,
            asks_sms=asked_channel == Channel.SMS,
            phone=request.phone,
            taken=taken,
        )
        delivery = answer_code_request(
            deps,
            connection,
            request,
            cause=cause,
            purpose=purpose,
            asked_channel=asked_channel,
            now=now,
            client=sender,
        )
        uow.commit()
    return delivery


@dataclass(frozen=True)
class _Earned:
    """What a request earns from an account: the channel reaching it, the account if it gets a
    code (None: the notice instead), the code's purpose, and the notice."""

    channel: Channel
    code_to: User | None
    code_purpose: Purpose
    notice: Callable[[], Delivery]


def answer_code_request(
    deps: Dependencies,
    connection: Connection,
    request: Addressed,
    *,
    cause: RequestCause,
    purpose: Purpose,
    asked_channel: Channel,
    now: datetime,
    client: str,
) -> Delivery:
    """Queue what the request earns: a code for `purpose` to the account owning its addresses;
    to an active account asking for an activation code, an "account exists" notice; to a
    pending one asking for a sign-in code, its activation code (read by its client as the
    sign-in code); to an address no account uses, a "no account" notice. A code that sets a
    password goes only to a proven address, an unproven one gets a withheld message (SPEC
    "Proof of address"), and an address only an active account carries unproven is answered
    as unknown (SPEC "An unproven address holds nothing"). The message goes on the channel
    asked for when the account holds an address there, else on the other; its client hears
    the channel it asked for.
    """
    user = find_account(connection, request.email, request.phone)
    channel, address = _reaching({"email": request.email, "sms": request.phone}, asked_channel)
    carried = carried_unproven(connection, address)  # read on every path: each costs the same
    if user is None:
        earned = _for_no_account(
            deps,
            connection,
            address,
            cause=cause,
            carried=carried,
            purpose=purpose,
            channel=channel,
            asked_channel=asked_channel,
            now=now,
        )
    else:
        earned = _for_account(
            deps,
            connection,
            user,
            cause=cause,
            purpose=purpose,
            asked_channel=asked_channel,
            now=now,
            client=client,
        )
    return send_code_or_notice(
        deps,
        connection,
        earned.code_to,
        cause=cause,
        purpose=earned.code_purpose,
        channel=earned.channel,
        now=now,
        asked_channel=asked_channel,
        notice=earned.notice,
        answers_as=purpose if earned.code_purpose != purpose else None,
    )


def _for_no_account(
    deps: Dependencies,
    connection: Connection,
    address: str,
    *,
    cause: RequestCause,
    carried: bool,
    purpose: Purpose,
    channel: Channel,
    asked_channel: Channel,
    now: datetime,
) -> _Earned:
    """What an address no account holds earns: a "no account" notice, or a withheld message
    when an active account carries it unproven (it answers alike, and tells it nothing)."""
    if carried:
        notice = _withheld(deps, connection, address, cause, purpose, channel, now, asked_channel)
    else:
        notice = partial(
            send_no_account,
            deps,
            connection,
            address,
            cause=cause,
            answers_as=purpose,
            channel=channel,
            now=now,
            asked_channel=asked_channel,
        )
    return _Earned(channel, None, purpose, notice)


def _for_account(
    deps: Dependencies,
    connection: Connection,
    user: User,
    *,
    cause: RequestCause,
    purpose: Purpose,
    asked_channel: Channel,
    now: datetime,
    client: str,
) -> _Earned:
    """What `user` earns: an active account asking for an activation code is told it exists;
    a pending one asking for a sign-in code gets its activation code; an address it never
    proved gets no code that sets a password or signs in, but a withheld message. The request
    goes in the account's history (shared.accounts.history.REQUESTED)."""
    holds = {
        "email": user.email if user.holds(user.email) else None,
        "sms": user.phone if user.holds(user.phone) else None,
    }
    channel, address = _reaching(holds, asked_channel)
    if purpose in REQUESTED:
        detail = {"channel": channel}
        record(connection, user.id, REQUESTED[purpose], now=now, client=client, detail=detail)
    if purpose == Purpose.ACTIVATION:
        code_to = user if user.status == UserStatus.PENDING else None
        notice = partial(
            send_notice,
            deps,
            connection,
            user,
            cause=cause,
            purpose=Purpose.ACCOUNT_EXISTS,
            channel=channel,
            now=now,
            asked_channel=asked_channel,
        )
        return _Earned(channel, code_to, purpose, notice)
    withheld = _withheld(deps, connection, address, cause, purpose, channel, now, asked_channel)
    if purpose == Purpose.LOGIN_CODE and user.status == UserStatus.PENDING:
        return _Earned(channel, user, Purpose.ACTIVATION, withheld)
    return _Earned(channel, user if user.proven(address) else None, purpose, withheld)


def _withheld(
    deps: Dependencies,
    connection: Connection,
    address: str,
    cause: RequestCause,
    purpose: Purpose,
    channel: Channel,
    now: datetime,
    asked_channel: Channel,
) -> Callable[[], Delivery]:
    """The withheld message answering for `purpose` to `address`, to write when it is due."""
    return partial(
        send_withheld,
        deps,
        connection,
        address,
        cause=cause,
        purpose=purpose,
        channel=channel,
        now=now,
        asked_channel=asked_channel,
    )


def _reaching(addresses: dict[str, str | None], asked: Channel) -> tuple[Channel, str]:
    """The channel asked for and its address if there is one, else the first there is."""
    for channel in (asked, Channel.EMAIL, Channel.SMS):
        address = addresses[channel]
        if address:
            return channel, address
    raise ValueError("a request without an address")
