"""The operator commands' arguments, from `dead` to `purge`, and what each one needs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from outbox_relay.operator import commands, endpoints, lookup, providers
from outbox_relay.operator.accounts import add_accounts
from outbox_relay.operator.dead import (
    DEFAULT_LIST_LIMIT,
    check_retry,
    dead_discard,
    dead_list,
    dead_retry,
    dead_show,
)
from outbox_relay.operator.durations import span_of
from outbox_relay.operator.invite import add_invite
from shared import operations
from shared.accounts.history import HISTORY_PAGE
from shared.clock import utcnow
from shared.database.models import MAX_ID


def add_commands(subparsers: Any) -> None:
    """Register `dead`, `messages`, `history`, `stats`, `stranded`, `suppressions`, `purge` and
    `invite`, `accounts` and `webhook-endpoints` on `outbox-relay`'s subparsers."""
    # SUPPRESS: given after the subcommand it overrides; absent, the top-level value stands.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--actor",
        default=argparse.SUPPRESS,
        help="who to record in the audit (default: cli:<OS user>)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_dead(subparsers, common, as_json)
    _add_reports(subparsers, common, as_json)
    _add_changes(subparsers, common, as_json)
    add_accounts(subparsers, common, _whole())
    add_invite(subparsers, common)
    endpoints.add_parsers(subparsers, common, as_json)
    providers.add_providers(subparsers, common, as_json)


def _add_dead(
    subparsers: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """`dead list|show|retry|discard`."""
    dead = subparsers.add_parser(
        "dead",
        help="see and repair dead letters",
        description="See and repair dead letters. Times shown are UTC.",
        parents=[common],
    )
    dead_commands = dead.add_subparsers(dest="dead_command", metavar="ACTION", required=True)

    listing = dead_commands.add_parser(
        "list", help="unresolved dead letters, newest first", parents=[common, as_json]
    )
    _add_filters(listing)
    listing.add_argument(
        "--limit",
        type=_whole(operations.MAX_PAGE),
        default=DEFAULT_LIST_LIMIT,
        help=f"rows per page (50, at most {operations.MAX_PAGE})",
    )
    listing.add_argument("--before", type=_whole(), metavar="CURSOR", help="the page after CURSOR")
    listing.set_defaults(handler=dead_list)

    showing = dead_commands.add_parser(
        "show", help="a message and its attempts (never its secrets)", parents=[common, as_json]
    )
    showing.add_argument("id", metavar="ID", help="the delivery id")
    showing.set_defaults(handler=dead_show)

    retrying = dead_commands.add_parser(
        "retry",
        help="deliver dead letters again (a fresh code for coded messages)",
        parents=[common],
        description=(
            "Retry the dead letters named, or with --all those matching the filters (at most "
            f"{operations.BULK_RETRY_CAP} a run). A message that carried a code gets a fresh "
            "code in a new delivery; others are requeued. Exit 0 when every id named was "
            "found, 1 if any was not."
        ),
    )
    retrying.add_argument("ids", nargs="*", metavar="ID", help="delivery ids")
    retrying.add_argument("--all", action="store_true", help="every dead letter matching")
    _add_filters(retrying)
    retrying.add_argument(
        "--limit",
        type=_whole(),
        default=operations.BULK_RETRY_CAP,
        help=f"with --all: at most this many ({operations.BULK_RETRY_CAP}, the cap)",
    )
    retrying.set_defaults(handler=dead_retry, check=check_retry)

    discarding = dead_commands.add_parser(
        "discard", help="mark dead letters dealt with, sending nothing", parents=[common]
    )
    discarding.add_argument("ids", nargs="+", metavar="ID", help="delivery ids")
    discarding.set_defaults(handler=dead_discard)


def _add_reports(
    subparsers: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """`messages`, `history`, `stats` and `stranded` (with `--reissue`)."""
    messages_parser = subparsers.add_parser(
        "messages",
        help="every message to an address, newest first (support's lookup)",
        parents=[common, as_json],
        description=(
            f"Every message to ADDRESS (an email address or an E.164 number), newest first, "
            f"{operations.LOOKUP_PAGE} a page; never a code or a body. Times shown are UTC."
        ),
    )
    messages_parser.add_argument("address", metavar="ADDRESS")
    messages_parser.add_argument(
        "--before", type=_whole(), metavar="CURSOR", help="the page after CURSOR"
    )
    messages_parser.set_defaults(handler=lookup.messages, check=lookup.check_address)
    history_parser = subparsers.add_parser(
        "history",
        help="an account's own history, newest first (support's lookup)",
        parents=[common, as_json],
        description=(
            f"The events of account USER_ID, or of the account holding ADDRESS (an email "
            f"address or an E.164 number), newest first (sign-ins, codes asked for, changes), "
            f"{HISTORY_PAGE} a page; never a password or a code. Times shown are UTC."
        ),
    )
    history_parser.add_argument("account", metavar="USER_ID|ADDRESS")
    history_parser.add_argument(
        "--before", type=_whole(), metavar="CURSOR", help="the page after CURSOR"
    )
    history_parser.set_defaults(handler=lookup.history, check=lookup.check_account)
    stats_parser = subparsers.add_parser(
        "stats", help="counts by status and channel, backlog age, last hour", parents=[common]
    )
    stats_parser.add_argument("--json", action="store_true", help="print JSON")
    stats_parser.set_defaults(handler=commands.stats)
    stranded_parser = subparsers.add_parser(
        "stranded",
        help="pending accounts whose activation died or expired",
        parents=[common, as_json],
        description=(
            "Pending accounts whose latest activation died, or whose code expired or was tried "
            "too often, and active accounts whose account.activated event died. Under the table, "
            f"the command that sends a fresh code to the first {commands.REISSUE_HINT} accounts "
            "a code can reach, and how many more there are: run it, then `stranded` again for "
            "the next ones. An account a code cannot help (its address suppressed, or already "
            "active) is left out of it; its WHY says what to do instead."
        ),
    )
    stranded_parser.add_argument(
        "--reissue",
        nargs="+",
        type=_whole(),
        metavar="USER_ID",
        help="send these pending accounts a fresh activation code",
    )
    stranded_parser.set_defaults(handler=commands.stranded)


def _add_changes(
    subparsers: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """`suppressions list|remove`, `erase`, `unlock` and `purge`."""
    suppressions_parser = subparsers.add_parser(
        "suppressions",
        help="addresses no message goes to any more (bounces, complaints, 5.1.x refusals)",
        parents=[common],
    )
    suppression_commands = suppressions_parser.add_subparsers(
        dest="suppressions_command", metavar="ACTION", required=True
    )
    suppression_commands.add_parser(
        "list", help="suppressed addresses, newest first", parents=[common, as_json]
    ).set_defaults(handler=commands.suppressions_list)
    removing = suppression_commands.add_parser(
        "remove", help="let messages go to these addresses again", parents=[common]
    )
    removing.add_argument("addresses", nargs="+", metavar="ADDRESS")
    removing.set_defaults(handler=commands.suppressions_remove, check=commands.check_addresses)
    erasing = subparsers.add_parser(
        "erase",
        help="erase an account and scrub its address from every message (GDPR art. 17)",
        parents=[common],
    )
    erasing.add_argument("user_id", type=_whole(), metavar="USER_ID")
    erasing.set_defaults(handler=commands.erase)
    unlocking = subparsers.add_parser(
        "unlock",
        help="lift an account's lockouts: forget its failed sign-ins and wrong codes",
        parents=[common],
    )
    unlocking.add_argument("user_id", type=_whole(), metavar="USER_ID")
    unlocking.set_defaults(handler=commands.unlock)
    purge_parser = subparsers.add_parser(
        "purge", help="delete what outlived its retention window", parents=[common, as_json]
    )
    purge_parser.set_defaults(handler=commands.purge, commits=True)


def is_operator_command(args: argparse.Namespace) -> bool:
    """Whether the parsed command is one of this module's."""
    return callable(getattr(args, "handler", None))


def is_read_only(args: argparse.Namespace) -> bool:
    """Whether the parsed command only reads, and so needs no SECRET_KEY (spec)."""
    handler = getattr(args, "handler", None)
    read_only = (
        dead_list,
        dead_show,
        lookup.messages,
        lookup.history,
        commands.stats,
        commands.suppressions_list,
        endpoints.listing,
        providers.providers_list,
    )
    return handler in read_only or (handler is commands.stranded and not args.reissue)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    for name, allowed in operations.FILTER_CHOICES.items():
        parser.add_argument(f"--{name}", choices=allowed)
    parser.add_argument("--recipient", metavar="ADDR", help="exact address")
    parser.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="created at or after: an ISO date/time (UTC if no offset) or an age like 24h, 7d",
    )


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or an age: 90s, 30m, 24h, 7d, 2w."""
    try:
        return _since(value, now or utcnow())
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"out of range: {value!r} (a time from year 1 to 9999)"
        ) from None


def _since(value: str, now: datetime) -> datetime:
    span = span_of(value)
    if span is not None:
        return now - span
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date, time or age: {value!r} (e.g. 2026-11-20, 2026-11-20T08:00, 24h, 7d)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _whole(maximum: int = MAX_ID) -> Callable[[str], int]:
    """An argument type: a whole number from 1 to `maximum` (by default the largest id)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if not 1 <= number <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 1 to {maximum}, got {value!r}")
        return number

    return parse
