"""`outbox-relay messages ADDRESS` and `history USER_ID|ADDRESS`: support's lookup of every
message to an address, and of an account's own history."""

from __future__ import annotations

import argparse

from sqlalchemy import Connection

from outbox_relay.operator.context import PROG, Context, UsageError
from outbox_relay.operator.dead import ERROR_WIDTH
from outbox_relay.operator.output import print_page, quote, truncate
from shared import operations
from shared.accounts.addresses import AddressError, normalise_address
from shared.database.models import MAX_ID
from shared.operations.presentation import utc_time

# The `messages` table; times are UTC.
MESSAGES_COLUMNS = [
    "ID", "CREATED", "CHANNEL", "PURPOSE", "STATUS", "ATTEMPTS", "SENT", "DELIVERED", "REASON",
    "LAST ERROR",
]  # fmt: skip


def check_address(args: argparse.Namespace) -> None:
    """Put the address of `messages` in its stored form; refuse what is none."""
    try:
        args.address = normalise_address(args.address)
    except AddressError as exc:
        raise UsageError(f"messages: {exc}") from None


def check_account(args: argparse.Namespace) -> None:
    """Read the account of `history`: a user id when all digits, else an address in its stored
    form (a number is given in E.164, with its `+`); refuse what is neither."""
    given: str = args.account
    if given.isascii() and given.isdigit():
        if not 1 <= int(given) <= MAX_ID:
            raise UsageError(f"history: USER_ID must be from 1 to {MAX_ID}, got {given!r}")
        args.account = int(given)
        return
    try:
        args.account = normalise_address(given)
    except AddressError as exc:
        raise UsageError(f"history: {exc}") from None


def messages(connection: Connection, ctx: Context) -> int:
    """Print a page of the messages to an address, newest first, and how to see the next."""
    args = ctx.args
    sent, cursor = operations.messages_to(connection, args.address, before=args.before)
    rows = [
        [
            message.id,
            utc_time(message.created_at),
            message.channel,
            message.purpose,
            message.status,
            str(message.attempts),
            utc_time(message.sent_at),
            utc_time(message.delivered_at),
            message.dead_reason or message.reason or "-",
            truncate(message.last_error, ERROR_WIDTH),
        ]
        for message in sent
    ]
    again = f"{PROG} messages {quote(args.address)} {'--json ' if args.json else ''}"
    print_page(
        sent,
        MESSAGES_COLUMNS,
        rows,
        empty=f"no messages to {args.address}",
        more=None if cursor is None else f"{again}--before {cursor}",
        as_json=args.json,
        out=ctx.out,
        err=ctx.err,
    )
    return 0


# The `history` table; times are UTC.
HISTORY_COLUMNS = ["AT", "EVENT", "CLIENT", "DETAIL"]


def history(connection: Connection, ctx: Context) -> int:
    """Print a page of an account's own history, newest first, and how to see the next."""
    args = ctx.args
    user_id = args.account
    if isinstance(user_id, str):
        holder = operations.account_holding(connection, user_id)
        if holder is None:
            print(f"{PROG}: no account holds {user_id}", file=ctx.err)
            return 1
        user_id = holder.id
    found = operations.history_of(connection, user_id, before=args.before)
    if found is None:
        print(f"{PROG}: no account {user_id}", file=ctx.err)
        return 1
    events, cursor = found
    rows = [
        [
            utc_time(event.at),
            event.type,
            event.client or "-",
            ", ".join(f"{key}={value}" for key, value in (event.detail or {}).items()) or "-",
        ]
        for event in events
    ]
    again = f"{PROG} history {quote(str(args.account))} {'--json ' if args.json else ''}"
    print_page(
        events,
        HISTORY_COLUMNS,
        rows,
        empty=f"no events of account {user_id}",
        more=None if cursor is None else f"{again}--before {cursor}",
        as_json=args.json,
        out=ctx.out,
        err=ctx.err,
    )
    return 0
