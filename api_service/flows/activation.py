"""Activating an account with its code, and sending a fresh code."""

from __future__ import annotations

from api_service.flows.code_requests import request_code
from api_service.flows.commands import Activate, ResendActivation
from api_service.flows.dependencies import Dependencies
from api_service.flows.errors import PasswordRequired
from api_service.flows.limits import RequestCause
from api_service.flows.redeem import redeem_code
from shared.accounts.accounts import (
    activate_user,
    find_account,
    password_hash_of,
    set_password,
)
from shared.accounts.activation import follow_activation
from shared.accounts.unproven import drop_unproven
from shared.accounts.verification import supersede
from shared.clock import utcnow
from shared.messaging.outbox import Delivery, Purpose


def activate(deps: Dependencies, request: Activate, sender: str) -> None:
    """Mark the account active and queue its welcome, if the code is its live activation code.

    A contested account (SPEC "Proof of address") is activated only with the `password` it
    will have: without one the answer is 409 and nothing is written, the code left unspent.
    With another password than the one it was registered with, the addresses that came with
    that registration and that no code proved go. Only the request that changes the status
    welcomes the user and announces it: a resend racing an activation can leave a live code
    on an account already active.
    """
    now = utcnow()
    kept, new_hash = _chosen_password(deps, request)
    with deps.unit_of_work() as uow:
        connection = uow.connection
        cause = RequestCause(deps, uow, sender, discreet=False, now=now)
        redeemed = redeem_code(deps, uow, request, purpose=Purpose.ACTIVATION, now=now)
        user = redeemed.user
        if user.contested:
            if request.password is None:
                raise PasswordRequired
            if not kept:
                user = drop_unproven(connection, user, redeemed.address)
        if new_hash is not None:
            set_password(connection, user.id, new_hash)
        if activate_user(connection, user.id, now):
            # A resend may have left another live code: none may prove an address later.
            supersede(connection, user.id, Purpose.ACTIVATION)
            follow_activation(deps, connection, user, cause=cause, now=now, client=sender)
        uow.commit()


def _chosen_password(deps: Dependencies, request: Activate) -> tuple[bool, str | None]:
    """Whether the account keeps the password it holds, and the new hash when it does not.

    Checked and hashed before the transaction, which on SQLite holds the only write lock.
    """
    password = request.password
    if password is None:
        return True, None
    with deps.unit_of_work() as uow:
        user = find_account(uow.connection, request.email, request.phone)
        stored = password_hash_of(uow.connection, user.id) if user is not None else None
    if deps.verifier.verify(stored, password):
        return True, None
    return False, deps.verifier.hash(password)


def resend_activation(deps: Dependencies, request: ResendActivation, sender: str) -> Delivery:
    """Send a fresh activation code to a pending account, or the address its notice."""
    return request_code(
        deps, request, sender, purpose=Purpose.ACTIVATION, asked_channel=request.channel
    )
