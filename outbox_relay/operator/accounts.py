"""`outbox-relay accounts confirm ID --email|--phone --reason TEXT`: an address proven by hand
(SPEC "Confirm by hand"), through the operation the admin API and the dashboard share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from outbox_relay.operator.context import Context
from shared import operations

Outcome = operations.ConfirmOutcome
# The outcomes that proved the address; the command exits 1 on any other.
_DONE = frozenset({Outcome.ACTIVATED, Outcome.PROVEN, Outcome.ALREADY_PROVEN})


def add_accounts(
    subparsers: Any, common: argparse.ArgumentParser, account_id: Callable[[str], int]
) -> None:
    """Register `accounts confirm` on `outbox-relay`'s subparsers; `account_id` parses an id."""
    accounts = subparsers.add_parser(
        "accounts", help="act on one account by hand", parents=[common]
    )
    actions = accounts.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    confirming = actions.add_parser(
        "confirm",
        help="prove an account's email or phone (checked another way), activating it if pending",
        parents=[common],
    )
    confirming.add_argument("user_id", type=account_id, metavar="USER_ID")
    which = confirming.add_mutually_exclusive_group(required=True)
    which.add_argument("--email", dest="address", action="store_const", const="email")
    which.add_argument("--phone", dest="address", action="store_const", const="phone")
    confirming.add_argument(
        "--reason", required=True, type=_reason, help="how the person was checked (audited)"
    )
    confirming.set_defaults(handler=confirm)


def confirm(connection: Connection, ctx: Context) -> int:
    """Confirm the address named; exit 1 if it was not proven (no account, no such address,
    taken, contested)."""
    args = ctx.args
    done = operations.confirm_address(
        connection,
        ctx.deps,
        args.user_id,
        args.address,
        reason=args.reason,
        actor=ctx.actor,
        now=ctx.now,
    )
    words = operations.CONFIRM_WORDS[done.outcome]
    print(f"account {args.user_id} {args.address}: {words}", file=ctx.out)
    return 0 if done.outcome in _DONE else 1


def _reason(value: str) -> str:
    """The reason given, without its surrounding spaces; never empty."""
    if not value.strip():
        raise argparse.ArgumentTypeError("say how the person was checked")
    return value.strip()
