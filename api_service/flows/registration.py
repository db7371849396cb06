"""Registering an account: user, code and activation message in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from api_service.flows.answers import AnswerStatus
from api_service.flows.commands import Register
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import Refused
from api_service.flows.human import check_human
from api_service.flows.limits import RequestCause, limit_recipients
from api_service.flows.unit_of_work import UnitOfWork
from shared.accounts.accounts import (
    User,
    UserStatus,
    contest_setting,
    find_user,
    insert_user,
    password_setting,
    pending_password_hash,
)
from shared.accounts.contests import contest_other, hold_other, other_address
from shared.accounts.history import AccountEvent, recording
from shared.accounts.sign_up import NO_PASSWORD_YET, first_activation
from shared.clock import utcnow
from shared.database.throttle import Along
from shared.messaging.messages import send_code, send_notice
from shared.messaging.outbox import Channel, Delivery, Purpose


@dataclass(frozen=True)
class Registration:
    """One registration request: its command and what the route adds to it."""

    command: Register
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
        check_human(deps, request.command)
        answer, client_wait = _register(deps, request, now)
    except Refused:
        if request.client is not None:
            deps.client_limit.check(deps.unit_of_work(), request.client, now)
        raise
    if request.client is not None:
        deps.client_limit.refuse(request.client, client_wait)
    return answer


def _register(
    deps: Dependencies, request: Registration, now: datetime
) -> tuple[dict[str, Any], int]:
    """The answer, and the seconds the client must wait if it is over its per-IP limit (then
    nothing is written).

    Where a pending account holds an address the request names, its password is checked
    against the request's instead of hashed, at the same cost: a registration of another
    password makes it contested (SPEC "Proof of address"), and this one's is discarded anyway.
    """
    with deps.unit_of_work() as uow:
        stored = _pending_hash(deps, uow, request.command)
        work = partial(_write, deps, uow, request, now)
        password = request.command.password
        if stored is None:
            password_hash, written = deps.passwords.hash_beside(password, work)
            same = False
        else:
            same, written = deps.passwords.check_beside(password, stored, work)
            password_hash = None
        answer, user_id, pending_owner, event = written
        if user_id is not None and password_hash is None:
            # The pending account went meanwhile, and this request made a new one.
            password_hash = deps.verifier.hash(password)
        setting = (
            password_setting(user_id, password_hash or "")
            if user_id is not None or pending_owner is None or same
            else contest_setting(pending_owner)
        )
        if event is not None:
            setting = setting.then(event)
        connection = uow.connection
        client_wait = 0
        if request.client is None:
            setting.run(connection)
        else:
            # The hash and the history's event are stored in the same round trip as the
            # check's lock is taken.
            limit = deps.client_limit
            client_wait = limit.count(connection, request.client, now, along=setting)
        if not client_wait:
            uow.commit()
    return answer, client_wait


def _pending_hash(deps: Dependencies, uow: UnitOfWork, command: Register) -> str | None:
    """The hash of the pending account holding the address on the channel `command` asks
    for, if any (the one it would answer instead of making an account): on
    PostgreSQL read in the request's own transaction, a round trip and no transaction more; on
    SQLite in one of its own, so that the hash after it holds no write lock."""
    email, phone = _channel_address(command)
    if deps.passwords.beside_transaction:
        return pending_password_hash(uow.connection, email, phone)
    with deps.unit_of_work() as read:
        return pending_password_hash(read.connection, email, phone)


def _write(
    deps: Dependencies, uow: UnitOfWork, request: Registration, now: datetime
) -> tuple[dict[str, Any], int | None, int | None, Along | None]:
    """Everything but the hash, the per-IP count and the history's event: the answer, the new
    user's id (None if there is none), the pending account that holds an address the request
    named instead, and the event to record (None for an answer given before)."""
    connection = uow.connection
    command, key = request.command, request.idempotency_key
    if key is not None:
        answer = deps.idempotency.reserve(connection, key, request.payload, now)
        if answer is not None:
            return answer, None, None, None
    named = command.addresses
    taken = limit_recipients(deps, connection, Purpose.ACTIVATION, named, now)
    cause = _cause(deps, uow, request, taken, now)
    # The columns the insert and the new user share.
    fields: dict[str, Any] = {
        "email": command.email,
        "phone": command.phone,
        "full_name": command.full_name,
        "locale": command.locale,
    }
    user_id = insert_user(connection, now, password_hash=NO_PASSWORD_YET, **fields)
    pending_owner = None
    owner = None
    if user_id is None:
        # An address is held: each one the request names gets what it would alone.
        owner = find_user(connection, *_channel_address(command))
        if owner is None:
            user_id, fields = _insert_free(connection, command, fields, now)
    other = other_address(command.email, command.phone, command.channel)
    if owner is not None:
        delivery = _answer_owner(deps, connection, cause, owner, command, now)
        if owner.status == UserStatus.PENDING:
            pending_owner = owner.id
        subject, event = owner.id, AccountEvent.REGISTRATION_CONTESTED
        if other is not None:
            hold_other(connection, *other, locale=command.locale, now=now)
    else:
        assert user_id is not None
        user = User(id=user_id, status=UserStatus.PENDING, **fields)
        channel = command.channel
        delivery = first_activation(deps, connection, user, cause=cause, channel=channel, now=now)
        subject, event = user_id, AccountEvent.REGISTERED
    if other is not None:
        contest_other(connection, *other, beside=subject)
    recorded = recording(
        subject, event, now=now, client=request.sender, detail={"channel": command.channel}
    )
    answer = {"status": AnswerStatus.PENDING_ACTIVATION, "delivery": delivery.shown()}
    if key is not None:
        deps.idempotency.store(connection, key, answer)
    return answer, user_id, pending_owner, recorded


def _cause(
    deps: Dependencies, uow: UnitOfWork, request: Registration, taken: list[str], now: datetime
) -> RequestCause:
    """What the registration's messages are counted against: its sender, its SMS, the
    buckets of the addresses it names (`taken`)."""
    return RequestCause(
        deps,
        uow,
        request.sender,
        discreet=False,
        now=now,
        asks_sms=request.command.channel == Channel.SMS,
        phone=request.command.phone,
        taken=taken,
    )


def _channel_address(command: Register) -> tuple[str | None, str | None]:
    """The request's address on the channel it asked for, as (email, phone)."""
    if command.channel == Channel.EMAIL:
        return command.email, None
    return None, command.phone


def _insert_free(
    connection: Connection, command: Register, fields: dict[str, Any], now: datetime
) -> tuple[int, dict[str, Any]]:
    """A pending account holding the addresses of the request no account holds (the channel's
    among them), the one a registration of those addresses alone would have made: its id and
    its columns."""
    for field, address in (("email", command.email), ("phone", command.phone)):
        if address is not None and find_user(connection, *_alone(field, address)) is not None:
            fields = {**fields, field: None}
    user_id = insert_user(connection, now, password_hash=NO_PASSWORD_YET, **fields)
    if user_id is None:
        raise RuntimeError("address conflict without an owner")
    return user_id, fields


def _alone(field: str, address: str) -> tuple[str | None, str | None]:
    """`address` as the (email, phone) of a request naming it alone."""
    return (address, None) if field == "email" else (None, address)


def _answer_owner(
    deps: Dependencies,
    connection: Connection,
    cause: RequestCause,
    owner: User,
    command: Register,
    now: datetime,
) -> Delivery:
    """Tell the owner of the address on the channel the request asked for, who holds it: an
    active owner that an account exists, a pending one a fresh activation code."""
    if owner.status == UserStatus.PENDING:
        return send_code(
            deps,
            connection,
            owner,
            cause=cause,
            purpose=Purpose.ACTIVATION,
            channel=command.channel,
            now=now,
            asked_channel=command.channel,
        )
    return send_notice(
        deps,
        connection,
        owner,
        cause=cause,
        purpose=Purpose.ACCOUNT_EXISTS,
        channel=command.channel,
        now=now,
        asked_channel=command.channel,
    )
