"""`outbox-relay invite ADDRESS`: an operator's invitation, a pending account made and sent its
activation code, whether sign-up is open or closed."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import Connection

from outbox_relay.operator.context import Context, UsageError
from shared import operations
from shared.accounts.addresses import AddressError, normalise_address


def add_invite(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Register `invite` on `outbox-relay`'s subparsers."""
    inviting = subparsers.add_parser(
        "invite",
        help="make a pending account for an address and send it its activation code",
        parents=[common],
    )
    inviting.add_argument(
        "address", metavar="ADDRESS", help="an email address or an E.164 number (+33612345678)"
    )
    inviting.set_defaults(handler=invite, check=check_address)


def check_address(args: argparse.Namespace) -> None:
    """Put the address in its stored form; refuse what is none."""
    try:
        args.address = normalise_address(args.address)
    except AddressError as exc:
        raise UsageError(f"invite: {exc}") from None


def invite(connection: Connection, ctx: Context) -> int:
    """Invite the address named; exit 1 if an account holds it or no SMS can reach it."""
    address = ctx.args.address
    invitation = operations.invite(connection, ctx.deps, address, actor=ctx.actor, now=ctx.now)
    match invitation.outcome:
        case operations.InviteOutcome.INVITED:
            print(
                f"account {invitation.user_id} invited: activation code queued, delivery "
                f"{invitation.delivery}",
                file=ctx.out,
            )
            return 0
        case operations.InviteOutcome.ACCOUNT_EXISTS:
            holder = f"account {invitation.user_id}" if invitation.user_id else "an account"
            print(f"{holder} holds {address}; nothing made or sent", file=ctx.out)
        case operations.InviteOutcome.UNREACHABLE:
            reason = (invitation.reason or "no SMS can go to it").rstrip(".")
            print(f"{address}: {reason}; nothing made", file=ctx.out)
    return 1
