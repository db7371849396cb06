"""`outbox-relay messages ADDRESS`: support's lookup of every message to an address."""

from __future__ import annotations

import argparse

from sqlalchemy import Connection

from outbox_relay.operator.context import PROG, Context, UsageError
from outbox_relay.operator.dead import ERROR_WIDTH
from outbox_relay.operator.output import print_json, print_table, quote, truncate
from shared import operations
from shared.addresses import AddressError, normalise_address
from shared.presentation import utc_time

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


def messages(connection: Connection, ctx: Context) -> int:
    """Print a page of the messages to an address, newest first, and how to see the next."""
    args = ctx.args
    sent, cursor = operations.messages_to(connection, args.address, before=args.before)
    if args.json:
        print_json(sent, ctx.out)
    elif sent:
        print_table(
            MESSAGES_COLUMNS,
            [
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
            ],
            ctx.out,
        )
    else:
        print(f"no messages to {args.address}", file=ctx.out)
    if cursor is not None:
        again = f"{PROG} messages {quote(args.address)} {'--json ' if args.json else ''}"
        print(f"more: {again}--before {cursor}", file=ctx.err if args.json else ctx.out)
    return 0
