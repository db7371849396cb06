"""Changing an account's email or phone: a code to the new address, then the swap with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from api_service.flows.commands import AddressChange, ConfirmAddressChange, RequestAddressChange
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import InvalidCode, TooManyRequests
from api_service.flows.human import check_human
from api_service.flows.limits import RequestCause, limit_recipients
from api_service.flows.login import LOGIN_FAILURES, SIGN_INS_LOCKED
from api_service.flows.redeem import redeem_code
from shared.accounts.accounts import (
    User,
    activate_user,
    change_address,
    find_account,
    find_user,
    password_hash_of,
)
from shared.accounts.activation import follow_activation
from shared.accounts.address_proof import take_address
from shared.accounts.addresses import hint
from shared.accounts.code_or_notice import send_code_or_notice
from shared.accounts.history import BY_PASSWORD, AccountEvent, record
from shared.accounts.lockouts import failures_of
from shared.accounts.reaching import address_for, notice_channel, with_address
from shared.accounts.unproven import drop_unproven
from shared.accounts.verification import supersede
from shared.clock import utcnow
from shared.messaging.events import EventType, announce
from shared.messaging.messages import send_notice, send_withheld
from shared.messaging.outbox import ANSWERS_AS, Channel, Delivery, Purpose


@dataclass(frozen=True)
class NewAddress:
    """The address a request asks the account to take: its column, channel and value."""

    field: str
    channel: Channel
    address: str

    @classmethod
    def of(cls, request: AddressChange) -> NewAddress:
        """The `new_email` or the `new_phone` the request names."""
        if request.new_email:
            return cls("email", Channel.EMAIL, request.new_email)
        if request.new_phone is None:
            raise ValueError("an address change without a new address")
        return cls("phone", Channel.SMS, request.new_phone)

    def given_to(self, user: User) -> User:
        """`user` as it is once this address is theirs."""
        return with_address(user, self.channel, self.address)

    @property
    def email(self) -> str | None:
        """The new email address, if the new address is one."""
        return self.address if self.channel == Channel.EMAIL else None

    @property
    def phone(self) -> str | None:
        """The new number, if the new address is one."""
        return self.address if self.channel == Channel.SMS else None


def request_change(deps: Dependencies, request: RequestAddressChange, sender: str) -> Delivery:
    """Send a code to the new address if the password is the account's and the address is
    free; else the address's owner an "account exists" notice, or nobody anything.

    Every path reads the same rows, verifies a hash (a dummy one without an account) and
    writes one message to the new address, so that a wrong password, an unknown account and a
    taken address answer alike (SPEC "No enumeration"). A wrong password counts as a failed
    sign-in of the address it named: this route guesses no further than sign-in does.
    """
    check_human(deps, request)
    now = utcnow()
    new = NewAddress.of(request)
    failures = failures_of(request.identifier)
    with deps.unit_of_work() as uow:
        wait = deps.throttle.wait(uow.connection, [failures], [LOGIN_FAILURES], now)
        if wait:
            raise TooManyRequests(wait, SIGN_INS_LOCKED)
        user = find_account(uow.connection, request.email, request.phone)
        stored = password_hash_of(uow.connection, user.id) if user is not None else None
    proven = deps.verifier.verify(stored, request.password) and user is not None
    with deps.unit_of_work() as uow:
        connection = uow.connection
        if not proven:
            deps.throttle.record(connection, [failures], now)
        taken = limit_recipients(deps, connection, Purpose.ADDRESS_CHANGE, [new.address], now)
        sms = new.channel == Channel.SMS
        cause = RequestCause(
            deps,
            uow,
            sender,
            discreet=True,
            now=now,
            asks_sms=sms,
            phone=new.phone,
            taken=taken,
        )
        owner = find_user(connection, new.email, new.phone)
        if user is not None:
            _record_request(connection, user.id, proven, owner, new, sender, now)
        code_to = None
        if proven and owner is None and user is not None:
            code_to = new.given_to(user)
        delivery = send_code_or_notice(
            deps,
            connection,
            code_to,
            cause=cause,
            purpose=Purpose.ADDRESS_CHANGE,
            channel=new.channel,
            now=now,
            asked_channel=new.channel,
            notice=partial(_no_code, deps, connection, cause, owner, new, now),
        )
        uow.commit()
    return delivery


def _record_request(
    connection: Connection,
    user_id: int,
    proven: bool,
    owner: User | None,
    new: NewAddress,
    sender: str,
    now: datetime,
) -> None:
    """Add the request to the history of the account it named: a failed sign-in for a wrong
    password; else the change asked for, to the new address if no account holds it."""
    if not proven:
        event, detail = AccountEvent.LOGIN_FAILED, BY_PASSWORD
    elif owner is None:
        event, detail = (
            AccountEvent.ADDRESS_CHANGE_REQUESTED,
            {"field": new.field, "to": new.address},
        )
    else:
        event, detail = (
            AccountEvent.ADDRESS_CHANGE_REQUESTED,
            {
                "field": new.field,
                "refused": "address_taken",
            },
        )
    record(connection, user_id, event, now=now, client=sender, detail=detail)


def _no_code(
    deps: Dependencies,
    connection: Connection,
    cause: RequestCause,
    owner: User | None,
    new: NewAddress,
    now: datetime,
) -> Delivery:
    """What the new address gets instead of a code: its owner, that an account exists (it
    answers as an address change's code would); an address nobody owns, nothing (withheld)."""
    if owner is None:
        return send_withheld(
            deps,
            connection,
            new.address,
            cause=cause,
            purpose=Purpose.ADDRESS_CHANGE,
            channel=new.channel,
            now=now,
        )
    return send_notice(
        deps,
        connection,
        owner,
        cause=cause,
        purpose=Purpose.ACCOUNT_EXISTS,
        channel=new.channel,
        now=now,
        asked_channel=new.channel,
        params={ANSWERS_AS: Purpose.ADDRESS_CHANGE},
    )


def confirm_change(deps: Dependencies, request: ConfirmAddressChange, sender: str) -> None:
    """Give the account the new address if the code is the one sent there; it is active after.

    In the same transaction: the codes sent to the old address die; an active account's old
    address is told (or, when it had none on that channel, its other one); a pending account
    is activated, as its code would have, and welcomed at the new address; the application
    hears `account.address_changed`. The new address is proven by its code; a contested
    pending account keeps no other address no code proved (SPEC "Proof of address"), and the
    accounts that carried the new address without proving it lose it (an address of the
    account's own is proven so). A new address another account proved meanwhile, or holds as
    its only address, is a code that no longer works: 400, nothing changed.
    """
    now = utcnow()
    new = NewAddress.of(request)
    with deps.unit_of_work() as uow:
        connection = uow.connection
        cause = RequestCause(deps, uow, sender, discreet=True, now=now)
        user = redeem_code(
            deps, uow, request, purpose=Purpose.ADDRESS_CHANGE, now=now, address=new.address
        ).user
        take_address(deps, connection, user.id, new.field, new.address, now)
        if not change_address(connection, user.id, new.field, new.address, now):
            raise InvalidCode
        changed = new.given_to(user).proven_at(new.address, now)
        if changed.contested:
            changed = drop_unproven(connection, changed, new.address)
        for purpose in (Purpose.ACTIVATION, Purpose.PASSWORD_RESET):
            supersede(connection, user.id, purpose)
        if activate_user(connection, user.id, now):
            by_change = {"method": "address_change"}
            follow_activation(
                deps, connection, changed, cause=cause, now=now, client=sender, detail=by_change
            )
        else:
            _tell_old_address(deps, connection, cause, user, new, now)
        _record_change(connection, user, new, sender, now)
        announce(
            deps,
            connection,
            changed,
            EventType.ACCOUNT_ADDRESS_CHANGED,
            now=now,
            previous_email=user.email,
            previous_phone=user.phone,
        )
        uow.commit()


def _record_change(
    connection: Connection, user: User, new: NewAddress, sender: str, now: datetime
) -> None:
    """Add the change to the account's history: the field, the address it had there (if
    any) and the new one."""
    old = address_for(user, new.channel)
    changed_from = {"from": old} if old is not None else {}
    record(
        connection,
        user.id,
        AccountEvent.ADDRESS_CHANGED,
        now=now,
        client=sender,
        detail={"field": new.field, **changed_from, "to": new.address},
    )


def _tell_old_address(
    deps: Dependencies,
    connection: Connection,
    cause: RequestCause,
    user: User,
    new: NewAddress,
    now: datetime,
) -> None:
    """Queue the "your address was changed" notice to the address the account had and proved
    on the changed channel, else to its notice address."""
    old = address_for(user, new.channel)
    had = old is not None and user.proven(old)
    send_notice(
        deps,
        connection,
        user,
        cause=cause,
        purpose=Purpose.ADDRESS_CHANGED,
        channel=new.channel if had else notice_channel(user),
        now=now,
        params={"changed": new.field, "new_address": hint(new.address)},
    )
