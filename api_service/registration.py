"""Registering an account: user, code and activation message in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from api_service.limits import limit_recipients
from api_service.passwords import NO_PASSWORD_YET
from api_service.services import Services
from shared.accounts import User, find_user, insert_user, requested_addresses, set_password
from shared.clock import utcnow
from shared.events import announce
from shared.messages import address_for, send_code, send_notice
from shared.outbox import Delivery


def register(
    services: Services,
    data: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    payload: dict[str, Any] | None = None,
    check_client: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Create a pending account and queue its activation, or notify the address's owner.

    The password is hashed beside everything else, and stored by one last statement run on
    both paths, so that an existing address costs the same time as a new one and cannot be
    told apart. Until then the new user's hash is a value no password matches, and only this
    transaction can see it. With an idempotency key, a request already answered gets that
    answer back and writes nothing. A per-IP check left to this request runs first beside
    the hash.
    """
    now = utcnow()
    with services.unit_of_work() as uow:
        password_hash, (answer, user_id) = services.passwords.hash_beside(
            data["password"],
            lambda: _write(
                services, uow.connection, data, now, idempotency_key, payload, check_client
            ),
        )
        set_password(uow.connection, user_id, password_hash)
        uow.commit()
    return answer


def _write(
    services: Services,
    connection: Connection,
    data: dict[str, Any],
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any] | None,
    check_client: Callable[[], None] | None,
) -> tuple[dict[str, Any], int | None]:
    """Everything but the hash: the answer, and the new user's id (None if there is none)."""
    if check_client is not None:
        check_client()
    if idempotency_key is not None:
        answer = services.idempotency.reserve(connection, idempotency_key, payload or {}, now)
        if answer is not None:
            return answer, None
    limit_recipients(services, connection, "activation", requested_addresses(data), now)
    fields = {
        "email": data.get("email"),
        "phone": data.get("phone"),
        "full_name": data.get("full_name"),
        "locale": data["locale"],
    }
    user_id = insert_user(connection, now, password_hash=NO_PASSWORD_YET, **fields)
    if user_id is None:
        delivery = _answer_owner(services, connection, data, now)
    else:
        user = User(id=user_id, status="pending", **fields)
        delivery = send_code(
            services,
            connection,
            user,
            purpose="activation",
            channel=data["channel"],
            now=now,
            first=True,
        )
        announce(services, connection, user, "account.registered", now=now)
    answer = {"status": "pending_activation", "delivery": asdict(delivery)}
    if idempotency_key is not None:
        services.idempotency.store(connection, idempotency_key, answer)
    return answer, user_id


def _answer_owner(
    services: Services, connection: Connection, data: dict[str, Any], now: datetime
) -> Delivery:
    """Tell the owner of an address someone registered again: an active owner that an account
    exists, a pending one a fresh activation code. The client hears the channel it asked for."""
    owner = find_user(connection, data.get("email"), data.get("phone"))
    if owner is None:
        raise RuntimeError("address conflict without an owner")
    channel = _owner_channel(owner, data)
    if owner.status == "pending":
        return send_code(
            services,
            connection,
            owner,
            purpose="activation",
            channel=channel,
            now=now,
            asked_channel=data["channel"],
        )
    return send_notice(
        services,
        connection,
        owner,
        purpose="account_exists",
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
