"""Answering a request for a new code (a resend, a password reset) alike, whoever owns the
address: every answer names a real delivery (SPEC "No enumeration")."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from api_service.flows.dependencies import Dependencies
from shared.accounts import UserStatus, find_account
from shared.code_or_notice import send_code_or_notice
from shared.messages import send_no_account, send_notice
from shared.outbox import CHANNELS, Delivery, Purpose


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

    The message goes on the channel asked for when its addresses have one there, else on the
    other; the client hears the channel it asked for.
    """
    user = find_account(connection, data)
    code_to = None
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
        channel, _ = _reaching({"email": user.email, "sms": user.phone}, asked_channel)
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
        if purpose != Purpose.ACTIVATION or user.status == UserStatus.PENDING:
            code_to = user
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


def _reaching(addresses: dict[str, str | None], asked: str) -> tuple[str, str]:
    """The channel asked for and its address if there is one, else the first there is."""
    for channel in (asked, *CHANNELS):
        address = addresses[channel]
        if address:
            return channel, address
    raise ValueError("a request without an address")
