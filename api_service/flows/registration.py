"""Registering an account: user, code and activation message in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import Refused
from api_service.flows.human import check_human
from api_service.flows.limits import (
    count_client,
    count_sms,
    limit_client,
    limit_recipients,
    limit_sms,
    refuse_client,
)
from api_service.flows.unit_of_work import UnitOfWork
from api_service.passwords import NO_PASSWORD_YET
from shared.accounts import (
    User,
    UserStatus,
    find_user,
    insert_user,
    password_setting,
    requested_addresses,
    set_password,
)
from shared.clock import utcnow
from shared.events import EventType, announce
from shared.messages import address_for, send_code, send_notice
from shared.outbox import Delivery, Purpose


@dataclass(frozen=True)
class Registration:
    """One registration request: its checked fields and what the route adds to them."""

    data: dict[str, Any]
    # The body as sent, fingerprinted with the key: a retry must send the same.
    payload: dict[str, Any]
    idempotency_key: str | None = None
    # The client address whose per-IP check the route left to this request: counted in its
    # transaction, after the hash.
    client: str | None = None
    # Who sent it (api_service.clients), whose SMS share an SMS registration takes.
    sender: str = "unknown"


def register(deps: Dependencies, request: Registration) -> dict[str, Any]:
    """Create a pending account and queue its activation, or notify the address's owner.

    The password is hashed beside everything else, and stored by one statement run on both
    paths, so that an existing address costs the same time as a new one and cannot be told
    apart. Until then the new user's hash is a value no password matches, and only this
    transaction can see it. With an idempotency key, a request already answered gets that
    answer back and writes nothing.

    The route's per-IP check, when it left one, is counted in the same transaction, last, so
    that its lock is held only until the commit: a transaction and its two round trips fewer
    than a check of its own. A refusal rolls that count back with the rest, so a refused
    registration counts its client in a transaction of its own, as any POST would be.
    """
    now = utcnow()
    try:
        check_human(deps, request.data)
        answer, client_wait = _register(deps, request, now)
    except Refused:
        if request.client is not None:
            limit_client(deps, request.client, now)
        raise
    if request.client is not None:
        refuse_client(deps, request.client, client_wait)
    return answer


def _register(
    deps: Dependencies, request: Registration, now: datetime
) -> tuple[dict[str, Any], int]:
    """The answer, and the seconds the client must wait if it is over its per-IP limit (then
    nothing is written)."""
    with deps.unit_of_work() as uow:
        password_hash, (answer, user_id) = deps.passwords.hash_beside(
            request.data["password"], partial(_write, deps, uow, request, now)
        )
        connection = uow.connection
        client_wait = 0
        if request.client is None:
            set_password(connection, user_id, password_hash)
        else:
            # The hash is stored in the same round trip as the check's lock is taken.
            setting = password_setting(user_id, password_hash)
            client_wait = count_client(deps, connection, request.client, now, along=setting)
        if not client_wait:
            uow.commit()
    return answer, client_wait


def _write(
    deps: Dependencies, uow: UnitOfWork, request: Registration, now: datetime
) -> tuple[dict[str, Any], int | None]:
    """Everything but the hash and the per-IP count: the answer, and the new user's id (None
    if there is none)."""
    connection = uow.connection
    data, key = request.data, request.idempotency_key
    if key is not None:
        answer = deps.idempotency.reserve(connection, key, request.payload, now)
        if answer is not None:
            return answer, None
    limit_recipients(deps, connection, Purpose.ACTIVATION, requested_addresses(data), now)
    limit_sms(deps, uow, data.get("phone"), request.sender, sms=data["channel"] == "sms", now=now)
    fields = {
        "email": data.get("email"),
        "phone": data.get("phone"),
        "full_name": data.get("full_name"),
        "locale": data["locale"],
    }
    user_id = insert_user(connection, now, password_hash=NO_PASSWORD_YET, **fields)
    if user_id is None:
        delivery = _answer_owner(deps, connection, data, now)
    else:
        user = User(id=user_id, status=UserStatus.PENDING, **fields)
        delivery = send_code(
            deps,
            connection,
            user,
            purpose=Purpose.ACTIVATION,
            channel=data["channel"],
            now=now,
            first=True,
        )
        announce(deps, connection, user, EventType.ACCOUNT_REGISTERED, now=now)
    count_sms(uow, data.get("phone"), delivery, asked=data["channel"] == "sms")
    answer = {"status": "pending_activation", "delivery": delivery.shown()}
    if key is not None:
        deps.idempotency.store(connection, key, answer)
    return answer, user_id


def _answer_owner(
    deps: Dependencies, connection: Connection, data: dict[str, Any], now: datetime
) -> Delivery:
    """Tell the owner of an address someone registered again: an active owner that an account
    exists, a pending one a fresh activation code. The client hears the channel it asked for."""
    owner = find_user(connection, data.get("email"), data.get("phone"))
    if owner is None:
        raise RuntimeError("address conflict without an owner")
    channel = _owner_channel(owner, data)
    if owner.status == UserStatus.PENDING:
        return send_code(
            deps,
            connection,
            owner,
            purpose=Purpose.ACTIVATION,
            channel=channel,
            now=now,
            asked_channel=data["channel"],
        )
    return send_notice(
        deps,
        connection,
        owner,
        purpose=Purpose.ACCOUNT_EXISTS,
        channel=channel,
        now=now,
        asked_channel=data["channel"],
    )


def _owner_channel(owner: User, data: dict[str, Any]) -> str:
    """The channel reaching the owner at an address the request named, the requested first."""
    named = {data.get("email"), data.get("phone")} - {None}
    for channel in (data["channel"], "email", "sms"):
        if address_for(owner, channel) in named:
            return channel
    raise RuntimeError("address conflict without a matching address")
