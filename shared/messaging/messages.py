"""Queueing the messages of the account flows: codes and notices, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from shared.accounts.accounts import User, UserStatus
from shared.accounts.addresses import phone_region
from shared.accounts.reaching import held_address, notice_channel
from shared.accounts.verification import FreshCode, fresh_code
from shared.database.throttle import Throttle, sms_region
from shared.messaging.causes import Cause
from shared.messaging.locales import DEFAULT
from shared.messaging.outbox import (
    ANSWERS_AS,
    BOUND_TO_ADDRESS,
    CODED,
    DISCREET,
    PAID_BY,
    Channel,
    Delivery,
    Purpose,
    enqueue,
)
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings import code_link
from shared.settings.config import Settings


class Queueing(Protocol):
    """What queueing a message needs: the settings, the box sealing its secrets, the throttle
    and the suppression list's suppressor, each built once per process."""

    @property
    def settings(self) -> Settings: ...

    @property
    def box(self) -> SecretBox: ...

    @property
    def throttle(self) -> Throttle: ...

    @property
    def suppressor(self) -> LazySuppressor: ...


# Notices to an address the account has proven, which may greet the user by the name they gave;
# an unproven address gets no text a client chose (SPEC "Client text in messages").
GREETED = frozenset({Purpose.WELCOME, Purpose.PASSWORD_CHANGED, Purpose.ADDRESS_CHANGED})


def send_code(
    deps: Queueing,
    connection: Connection,
    user: User,
    *,
    cause: Cause | None,
    purpose: Purpose,
    channel: Channel,
    now: datetime,
    first: bool = False,
    asked_channel: Channel | None = None,
    answers_as: Purpose | None = None,
) -> Delivery:
    """Issue a fresh code for `purpose` (older ones die) and queue it to the user.

    `first` says no older code dies: the account was created in this transaction, so it has
    none, or the code is a fallback beside the first (shared.messaging.fallbacks); `answers_as`, the
    purpose of the code its client asked for, when it differs.
    """
    settings = deps.settings
    recipient = held_address(user, channel)
    bound = recipient if purpose in BOUND_TO_ADDRESS else None
    fresh = fresh_for(
        deps,
        connection,
        user,
        purpose=purpose,
        now=now,
        first=first,
        address=bound,
        channel=channel,
    )
    return _queue(
        deps,
        connection,
        recipient,
        cause=cause,
        purpose=purpose,
        channel=channel,
        now=now,
        locale=user.locale,
        user_id=user.id,
        params={
            "expires_minutes": max(settings.code_ttl(purpose) // 60, 1),
            **({ANSWERS_AS: answers_as} if answers_as else {}),
        },
        secret_params=fresh.sealed,
        token=fresh.row,
        expires_at=fresh.expires_at,
        asked_channel=asked_channel,
    )


def fresh_for(
    deps: Queueing,
    connection: Connection,
    user: User,
    *,
    purpose: Purpose,
    now: datetime,
    first: bool,
    address: str | None = None,
    channel: Channel | None = None,
) -> FreshCode:
    """A fresh code for `purpose` to `user`, not yet written; the older ones die, unless it is
    the `first`. `address`: the one address it proves, if it is bound to one; a mail's
    (`channel`) gets a link token too when CODE_LINK_URL carries one."""
    settings = deps.settings
    return fresh_code(
        connection,
        settings.secret_key,
        user_id=user.id,
        purpose=purpose,
        ttl=settings.code_ttl(purpose),
        now=now,
        first=first,
        address=address,
        link=channel == Channel.EMAIL and code_link.carries_token(settings.code_link_url),
    )


def send_notice(
    deps: Queueing,
    connection: Connection,
    user: User,
    *,
    cause: Cause | None,
    purpose: Purpose,
    now: datetime,
    channel: Channel | None = None,
    asked_channel: Channel | None = None,
    params: dict[str, Any] | None = None,
) -> Delivery:
    """Queue a notice that carries no secret, retried until NOTICE_TTL from now; `params`
    beside those of its purpose; by default to the address the account proved, email first.
    By SMS it goes only to a number the account proved, and is withheld at any other: nobody
    pays for a text to a number nobody proved; an active account's unproven address gets
    nothing either (SPEC "An unproven address holds nothing")."""
    channel = channel or notice_channel(user)
    address = held_address(user, channel)
    unproven = not user.proven(address)
    return _queue(
        deps,
        connection,
        address,
        cause=cause,
        purpose=purpose,
        channel=channel,
        now=now,
        locale=user.locale,
        user_id=user.id,
        params={**_notice_params(user, purpose, now), **(params or {})},
        expires_at=now + timedelta(seconds=deps.settings.notice_ttl),
        asked_channel=asked_channel,
        withhold=unproven and (channel == Channel.SMS or user.status == UserStatus.ACTIVE),
    )


def send_no_account(
    deps: Queueing,
    connection: Connection,
    address: str,
    *,
    cause: Cause | None,
    answers_as: Purpose,
    channel: Channel,
    now: datetime,
    asked_channel: Channel,
) -> Delivery:
    """Tell an address no account uses that someone asked for a code of `answers_as` with it.

    A number gets no SMS: its notice is written to be withheld (SPEC "No enumeration"), so
    that its client follows a delivery as for any number, and nobody pays for a message to a
    number that never signed up. A mail's budget is the relay's (outbox_relay/strangers.py).
    Nobody chose its language: the request names none, and no account holds one.
    """
    return _queue(
        deps,
        connection,
        address,
        cause=cause,
        purpose=Purpose.NO_ACCOUNT,
        channel=channel,
        now=now,
        locale=DEFAULT,
        user_id=None,
        params={ANSWERS_AS: answers_as},
        expires_at=now + timedelta(seconds=deps.settings.notice_ttl),
        asked_channel=asked_channel,
        withhold=channel == Channel.SMS,
    )


def send_withheld(
    deps: Queueing,
    connection: Connection,
    address: str,
    *,
    cause: Cause | None,
    purpose: Purpose,
    channel: Channel,
    now: datetime,
    asked_channel: Channel | None = None,
) -> Delivery:
    """Write a message of `purpose` to `address` that the relay ends `withheld`, sending
    nothing: what a request that earned no message answers with, alike to its client (who
    hears `asked_channel` when it differs, as for any message)."""
    return _queue(
        deps,
        connection,
        address,
        cause=cause,
        purpose=purpose,
        channel=channel,
        now=now,
        locale=DEFAULT,
        user_id=None,
        expires_at=now + timedelta(seconds=deps.settings.notice_ttl),
        asked_channel=asked_channel,
        withhold=True,
    )


def _notice_params(user: User, purpose: Purpose, now: datetime) -> dict[str, Any]:
    """A greeting by name where the address is proven; the moment a password or an address
    changed."""
    params: dict[str, Any] = {"full_name": user.full_name} if purpose in GREETED else {}
    if purpose in (Purpose.PASSWORD_CHANGED, Purpose.ADDRESS_CHANGED):
        params["changed_at"] = now.strftime("%Y-%m-%d %H:%M UTC")
    return params


def _falls_back(settings: Settings, cause: Cause, purpose: Purpose) -> bool:
    """Whether a code's message keeps who pays for its fallback (CODE_FALLBACK_AFTER)."""
    return (
        settings.code_fallback_after is not None and cause.paid_by is not None and purpose in CODED
    )


def _queue(
    deps: Queueing,
    connection: Connection,
    recipient: str,
    *,
    cause: Cause | None,
    purpose: Purpose,
    channel: Channel,
    now: datetime,
    locale: str,
    user_id: int | None,
    params: dict[str, Any] | None = None,
    withhold: bool = False,
    **code: Any,
) -> Delivery:
    """Write a message to the outbox, as its `cause` admits it (the request whose budgets it
    takes; None: an operator's or the relay's)."""
    if cause is not None:
        withhold = cause.admit(
            connection, recipient, channel=channel, purpose=purpose, withhold=withhold, now=now
        )
        if cause.discreet:
            params = {**(params or {}), DISCREET: True}
        if _falls_back(deps.settings, cause, purpose):
            params = {**(params or {}), PAID_BY: deps.box.seal({"subject": cause.paid_by})}
    elif channel == Channel.SMS and not withhold:
        # Every SMS a provider gets counts against its region's hour, whoever queues it.
        deps.throttle.record(connection, [sms_region(phone_region(recipient))], now)
    return enqueue(
        connection,
        deps.box,
        now=now,
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        recipient_hash=deps.suppressor.of(connection).hash(recipient),
        locale=locale,
        params=params or {},
        user_id=user_id,
        withhold=withhold,
        **code,
    )
