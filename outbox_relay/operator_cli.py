"""`outbox-relay dead|stats|stranded|purge`: the operator commands, over shared.operations.

Each command opens one transaction, calls one operation (which records itself in the audit table
as `cli:<OS user>`, or the `--actor` given) and prints a readable table, or JSON with `--json`.

Exit codes: 0 done; 1 something named was not there or could not be acted on (an unknown id for
`dead show` and `dead retry`, an id that is no dead letter for `dead discard`, a user that is no
pending account for `stranded --reissue`) or the database failed; 2 bad usage or configuration.
`dead retry` exits 0 when every id named was found, whatever each one's outcome (printed per row).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.terminal import escaped
from shared import operations
from shared.clock import utcnow
from shared.config import Settings
from shared.db import engine_for, schema_is_current
from shared.outbox import CHANNELS, FAILURES, PURPOSES
from shared.secretbox import SecretBox

PROG = "outbox-relay"
DEFAULT_LIST_LIMIT = 50
# Characters of `last_error` a table shows; `dead show` prints it whole.
ERROR_WIDTH = 48
# The `dead list` table; times are UTC.
DEAD_LIST_COLUMNS = [
    "ID", "CREATED", "CHANNEL", "PURPOSE", "RECIPIENT", "ATTEMPTS", "REASON", "LAST ERROR"
]  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

Command = Callable[[Connection, "Context"], int]


@dataclass(frozen=True)
class CliOutbox:
    """The `Outbox` a retry or reissue queues through: the settings and their secret box."""

    settings: Settings
    box: SecretBox


@dataclass(frozen=True)
class Context:
    """What every command gets besides its connection: arguments, queue, actor, time, output."""

    args: argparse.Namespace
    queue: CliOutbox
    actor: str
    now: datetime
    out: TextIO
    err: TextIO


class UsageError(Exception):
    """Arguments argparse accepted but that make no sense together."""


# --- the command line -------------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    """Register `dead`, `stats`, `stranded`, `suppressions` and `purge` on `outbox-relay`'s
    subparsers."""
    # SUPPRESS: given after the subcommand it overrides; absent, the top-level value stands.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--actor",
        default=argparse.SUPPRESS,
        help="who to record in the audit (default: cli:<OS user>)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of a table")

    dead = commands.add_parser(
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
        "--limit", type=_positive_int, default=DEFAULT_LIST_LIMIT, help="rows per page (50)"
    )
    listing.add_argument(
        "--before", type=_positive_int, metavar="CURSOR", help="the page after CURSOR"
    )
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
        type=_positive_int,
        default=operations.BULK_RETRY_CAP,
        help=f"with --all: at most this many ({operations.BULK_RETRY_CAP}, the cap)",
    )
    retrying.set_defaults(handler=dead_retry, check=check_retry)

    discarding = dead_commands.add_parser(
        "discard", help="mark dead letters dealt with, sending nothing", parents=[common]
    )
    discarding.add_argument("ids", nargs="+", metavar="ID", help="delivery ids")
    discarding.set_defaults(handler=dead_discard)

    stats_parser = commands.add_parser(
        "stats", help="counts by status and channel, backlog age, last hour", parents=[common]
    )
    stats_parser.add_argument("--json", action="store_true", help="print JSON")
    stats_parser.set_defaults(handler=stats)

    stranded_parser = commands.add_parser(
        "stranded",
        help="pending accounts whose activation died or expired",
        parents=[common, as_json],
    )
    stranded_parser.add_argument(
        "--reissue",
        nargs="+",
        type=_positive_int,
        metavar="USER_ID",
        help="send these pending accounts a fresh activation code",
    )
    stranded_parser.set_defaults(handler=stranded)

    suppressions_parser = commands.add_parser(
        "suppressions",
        help="addresses no message goes to any more (bounces, complaints, 5.1.x refusals)",
        parents=[common],
    )
    suppression_commands = suppressions_parser.add_subparsers(
        dest="suppressions_command", metavar="ACTION", required=True
    )
    suppression_commands.add_parser(
        "list", help="suppressed addresses, newest first", parents=[common, as_json]
    ).set_defaults(handler=suppressions_list)
    removing = suppression_commands.add_parser(
        "remove", help="let messages go to these addresses again", parents=[common]
    )
    removing.add_argument("addresses", nargs="+", metavar="ADDRESS")
    removing.set_defaults(handler=suppressions_remove)

    erasing = commands.add_parser(
        "erase",
        help="erase an account and scrub its address from every message (GDPR art. 17)",
        parents=[common],
    )
    erasing.add_argument("user_id", type=_positive_int, metavar="USER_ID")
    erasing.set_defaults(handler=erase)

    purge_parser = commands.add_parser(
        "purge", help="delete what outlived its retention window", parents=[common, as_json]
    )
    purge_parser.set_defaults(handler=purge)


def is_operator_command(args: argparse.Namespace) -> bool:
    """Whether the parsed command is one of this module's."""
    return callable(getattr(args, "handler", None))


def is_read_only(args: argparse.Namespace) -> bool:
    """Whether the parsed command only reads, and so needs no SECRET_KEY (spec)."""
    handler = getattr(args, "handler", None)
    read_only = (dead_list, dead_show, stats, suppressions_list)
    return handler in read_only or (handler is stranded and not args.reissue)


def missing_database(url: str) -> str | None:
    """The path of a SQLite database that does not exist, which opening it would create."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    return None if path.exists() else str(path)


def dispatch(
    args: argparse.Namespace,
    settings: Settings,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the parsed operator command in one transaction; its exit code."""
    # Every line an operator command prints goes through one escaper: rows may hold terminal
    # controls (ESC, bidi overrides) written before the API refused them.
    out = escaped(out or sys.stdout)
    err = escaped(err or sys.stderr)
    handler: Command = args.handler
    check: Callable[[argparse.Namespace], None] | None = getattr(args, "check", None)
    try:
        if check is not None:
            check(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 2
    missing = missing_database(settings.database_url)
    if missing is not None:
        print(
            f"{PROG}: no database at {missing}; run beside `outpost up` (its directory) or set "
            "DATABASE_URL (e.g. sqlite:////path/to/var/outpost.db)",
            file=err,
        )
        return 1
    engine = engine_for(settings)
    context = Context(
        args=args,
        queue=CliOutbox(settings, SecretBox(settings.secret_key)),
        actor=getattr(args, "actor", None) or default_actor(),
        now=utcnow(),
        out=out,
        err=err,
    )
    # Checking the schema's revision makes alembic log at INFO; an operator needs none of that.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if not schema_is_current(engine):
            print(f"{PROG}: the database schema is not current; run `outpost migrate`", file=err)
            return 1
        with engine.begin() as connection:
            return handler(connection, context)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        print(f"{PROG}: database error: {detail[0] if detail else type(exc).__name__}", file=err)
        return 1
    finally:
        engine.dispose()


def default_actor() -> str:
    """`cli:<OS user>`, or `cli:unknown` when the OS cannot say."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = "unknown"
    return f"cli:{user or 'unknown'}"


# --- dead letters -----------------------------------------------------------------------------


def dead_list(connection: Connection, ctx: Context) -> int:
    """Print a page of dead letters and, when more exist, how to see the next page."""
    args = ctx.args
    letters, cursor = operations.list_dead(
        connection, _filter(args), limit=args.limit, before=args.before
    )
    if args.json:
        _print_json(letters, ctx.out)
    elif letters:
        _print_table(
            DEAD_LIST_COLUMNS,
            [
                [
                    letter.id,
                    _when(letter.created_at),
                    letter.channel,
                    letter.purpose,
                    letter.recipient,
                    str(letter.attempts),
                    letter.dead_reason or "-",
                    _truncate(letter.last_error, ERROR_WIDTH),
                ]
                for letter in letters
            ],
            ctx.out,
        )
    else:
        print(
            "no dead letters" + (" match" if _filter(args) != operations.DeadFilter() else ""),
            file=ctx.out,
        )
    if cursor is not None:
        hint = f"more: {PROG} dead list {_filter_argv(args)}--before {cursor}"
        print(hint, file=ctx.err if args.json else ctx.out)
    return 0


def check_retry(args: argparse.Namespace) -> None:
    """Refuse `dead retry` arguments that contradict each other, before touching the database."""
    if args.all and args.ids:
        raise UsageError("dead retry: give ids or --all, not both")
    if not args.all and not args.ids:
        raise UsageError("dead retry: give the ids to retry, or --all [filters]")
    if not args.all and _filter(args) != operations.DeadFilter():
        raise UsageError("dead retry: filters apply only with --all")


def dead_show(connection: Connection, ctx: Context) -> int:
    """Print one message and its attempts; exit 1 if there is no such message."""
    detail = operations.show(connection, ctx.args.id)
    if detail is None:
        print(f"{PROG}: no message {ctx.args.id}", file=ctx.err)
        return 1
    if ctx.args.json:
        _print_json(detail, ctx.out)
        return 0
    fields: list[tuple[str, Any]] = [
        ("id", detail.id),
        ("created", _when(detail.created_at)),
        ("channel", detail.channel),
        ("purpose", detail.purpose),
        ("recipient", detail.recipient),
        ("locale", detail.locale),
        ("status", detail.status),
        ("attempts", detail.attempts),
        ("dead reason", detail.dead_reason),
        ("last error", detail.last_error),
        ("sent", _when(detail.sent_at)),
        ("user", detail.user_id),
        ("resolution", detail.resolution),
        ("resolved", _when(detail.resolved_at)),
        ("replaced by", detail.replaced_by),
    ]
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        print(f"{name + ':':<{width}} {'-' if value in (None, '') else value}", file=ctx.out)
    print(file=ctx.out)
    if not detail.history:
        print("no attempts", file=ctx.out)
        return 0
    print(f"attempts ({len(detail.history)}):", file=ctx.out)
    _print_table(
        ["AT", "OUTCOME", "MS", "ERROR"],
        [
            [_when(a.attempted_at), a.outcome, str(a.duration_ms), a.error or "-"]
            for a in detail.history
        ],
        ctx.out,
    )
    return 0


def dead_retry(connection: Connection, ctx: Context) -> int:
    """Retry the ids named, or `--all` matching; one line per row, then a summary."""
    args = ctx.args
    where = _filter(args)
    if args.all:
        results = operations.retry_all(
            connection, ctx.queue, where, actor=ctx.actor, now=ctx.now, cap=args.limit
        )
    else:
        results = [
            operations.retry(connection, ctx.queue, public_id, actor=ctx.actor, now=ctx.now)
            for public_id in dict.fromkeys(args.ids)
        ]
    if not results:
        print("no dead letters match", file=ctx.out)
        return 0
    _print_table(
        ["ID", "OUTCOME", "NEW DELIVERY"],
        [[r.id, r.outcome, r.delivery or "-"] for r in results],
        ctx.out,
    )
    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    retried = outcomes.get("fresh_code", 0) + outcomes.get("requeued", 0)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    print(f"retried {retried} of {len(results)}: {summary}", file=ctx.out)
    if args.all and len(results) >= min(args.limit, operations.BULK_RETRY_CAP):
        print(f"stopped at {len(results)}; run it again for more", file=ctx.out)
    return 1 if outcomes.get("not_found") else 0


def dead_discard(connection: Connection, ctx: Context) -> int:
    """Discard each id named; exit 1 if any was not an unresolved dead letter."""
    missed = 0
    for public_id in dict.fromkeys(ctx.args.ids):
        if operations.discard(connection, public_id, actor=ctx.actor, now=ctx.now):
            print(f"{public_id}  discarded", file=ctx.out)
            continue
        missed += 1
        detail = operations.show(connection, public_id)
        why = (
            "not found"
            if detail is None
            else f"already {detail.resolution}"
            if detail.resolution
            else f"not dead (status {detail.status})"
        )
        print(f"{public_id}  not discarded: {why}", file=ctx.out)
    return 1 if missed else 0


# --- stats, stranded accounts, purge ----------------------------------------------------------


def stats(connection: Connection, ctx: Context) -> int:
    """Print counts by status and channel, the backlog's age and the last hour's outcomes."""
    figures = operations.stats(connection, ctx.now)
    if ctx.args.json:
        _print_json(figures, ctx.out)
        return 0
    by_status: dict[str, dict[str, int]] = figures["by_status"]
    channels = sorted({c for counts in by_status.values() for c in counts} | set(CHANNELS))
    order = ["pending", "sent", "dead", "cancelled"]
    statuses = order + sorted(set(by_status) - set(order))
    _print_table(
        ["STATUS", *(c.upper() for c in channels), "TOTAL"],
        [
            [
                status,
                *(str(by_status.get(status, {}).get(c, 0)) for c in channels),
                str(sum(by_status.get(status, {}).values())),
            ]
            for status in statuses
        ],
        ctx.out,
        numeric_from=1,
    )
    print(file=ctx.out)
    print(f"oldest due message waiting: {_age(figures['oldest_due_age_seconds'])}", file=ctx.out)
    print(
        f"last hour: {figures['sent_last_hour']} sent, {figures['failed_last_hour']} failed",
        file=ctx.out,
    )
    print(f"unresolved dead letters: {figures['dead_unresolved']}", file=ctx.out)
    return 0


def stranded(connection: Connection, ctx: Context) -> int:
    """List stranded accounts, or with `--reissue` send the users named a fresh activation."""
    if ctx.args.reissue:
        return _reissue(connection, ctx, ctx.args.reissue)
    accounts = operations.stranded(connection, ctx.now)
    if ctx.args.json:
        _print_json(accounts, ctx.out)
        return 0
    if not accounts:
        print("no stranded accounts", file=ctx.out)
        return 0
    _print_table(
        ["USER", "CREATED", "EMAIL", "PHONE", "DELIVERY", "WHY"],
        [
            [
                str(a.user_id),
                _when(a.created_at),
                a.email or "-",
                a.phone or "-",
                a.delivery,
                a.why,
            ]
            for a in accounts
        ],
        ctx.out,
    )
    users = " ".join(str(a.user_id) for a in accounts[:10])
    more = " …" if len(accounts) > 10 else ""
    print(f"send a fresh code: {PROG} stranded --reissue {users}{more}", file=ctx.out)
    return 0


def suppressions_list(connection: Connection, ctx: Context) -> int:
    """Print the suppressed addresses: why, from which provider event, since when."""
    entries = operations.list_suppressions(connection)
    if ctx.args.json:
        _print_json(entries, ctx.out)
        return 0
    if not entries:
        print("no suppressed addresses", file=ctx.out)
        return 0
    _print_table(
        ["SINCE", "ADDRESS", "REASON", "SOURCE", "EVENT"],
        [
            [
                _when(e.created_at),
                e.address or "(erased)",
                e.reason,
                e.source,
                str(e.event_id) if e.event_id is not None else "-",
            ]
            for e in entries
        ],
        ctx.out,
    )
    return 0


def suppressions_remove(connection: Connection, ctx: Context) -> int:
    """Remove each address named; exit 1 if any was not suppressed."""
    wanted = list(dict.fromkeys(address.strip().lower() for address in ctx.args.addresses))
    removed = set(
        operations.remove_suppressions(connection, ctx.queue, wanted, actor=ctx.actor, now=ctx.now)
    )
    for address in wanted:
        print(f"{address}  {'removed' if address in removed else 'not suppressed'}", file=ctx.out)
    return 0 if len(removed) == len(wanted) else 1


def erase(connection: Connection, ctx: Context) -> int:
    """Erase the account named; exit 1 if there is none."""
    user_id = ctx.args.user_id
    if not operations.erase(connection, ctx.queue, user_id, actor=ctx.actor, now=ctx.now):
        print(f"no account {user_id}", file=ctx.out)
        return 1
    print(f"account {user_id} erased", file=ctx.out)
    return 0


def _reissue(connection: Connection, ctx: Context, user_ids: Sequence[int]) -> int:
    results = {
        user_id: operations.reissue_activation(
            connection, ctx.queue, user_id, actor=ctx.actor, now=ctx.now
        )
        for user_id in dict.fromkeys(user_ids)
    }
    if ctx.args.json:
        _print_json([{"user_id": u, "delivery": d} for u, d in results.items()], ctx.out)
    else:
        _print_table(
            ["USER", "NEW DELIVERY"],
            [[str(u), d or "- (no pending account)"] for u, d in results.items()],
            ctx.out,
        )
    return 0 if all(results.values()) else 1


def purge(connection: Connection, ctx: Context) -> int:
    """Delete what outlived the configured retention windows and print how much went."""
    settings = ctx.queue.settings
    purged = operations.purge(connection, settings, actor=ctx.actor, now=ctx.now)
    if ctx.args.json:
        _print_json(purged, ctx.out)
        return 0
    windows = {
        "sent": f"sent over {settings.retention_sent_days}d ago",
        "dead": f"over {settings.retention_dead_days}d old",
        "cancelled": f"over {settings.retention_dead_days}d old",
        "unactivated_accounts": f"over {settings.retention_unactivated_days}d old",
        "throttle_events": "past every window",
        "idempotency_keys": "over 1d old",
    }
    rows = [
        [name.replace("_", " "), str(count), windows.get(name, "")]
        for name, count in asdict(purged).items()
    ]
    print("purged:", file=ctx.out)
    _print_table(["WHAT", "ROWS", "WINDOW"], rows, ctx.out, numeric_from=1, numeric_to=2)
    return 0


# --- arguments --------------------------------------------------------------------------------


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", choices=CHANNELS)
    parser.add_argument("--purpose", choices=PURPOSES)
    parser.add_argument("--reason", choices=FAILURES)
    parser.add_argument("--recipient", metavar="ADDR", help="exact address")
    parser.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="created at or after: an ISO date/time (UTC if no offset) or an age like 24h, 7d",
    )


def _filter(args: argparse.Namespace) -> operations.DeadFilter:
    return operations.DeadFilter(
        channel=args.channel,
        purpose=args.purpose,
        reason=args.reason,
        recipient=args.recipient,
        since=args.since,
    )


def _filter_argv(args: argparse.Namespace) -> str:
    """The filter options as typed again, for the next-page hint (`--since` made absolute)."""
    given = []
    for name in ("channel", "purpose", "reason", "recipient"):
        if getattr(args, name):
            given.append(f"--{name} {_quote(getattr(args, name))}")
    if args.since:
        given.append(f"--since {args.since.isoformat()}")
    if args.limit != DEFAULT_LIST_LIMIT:
        given.append(f"--limit {args.limit}")
    if args.json:
        given.append("--json")
    return "".join(f"{option} " for option in given)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or an age: 90s, 30m, 24h, 7d, 2w."""
    match = _DURATION.match(value)
    if match:
        amount, unit = match.groups()
        return (now or utcnow()) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date, time or age: {value!r} (e.g. 2026-11-20, 2026-11-20T08:00, 24h, 7d)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value!r}")
    return number


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[\w@.+:-]+", value) else "'" + value.replace("'", "'\\''") + "'"


# --- output -----------------------------------------------------------------------------------


def _print_table(
    header: list[str],
    rows: list[list[str]],
    out: TextIO,
    *,
    numeric_from: int | None = None,
    numeric_to: int | None = None,
) -> None:
    """Columns aligned on their widest cell; numbers right-aligned; the last column unpadded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = set(range(numeric_from, numeric_to or len(header))) if numeric_from else set()
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip(), file=out)


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(_plain(value), out, indent=2, default=_json_default)
    out.write("\n")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _when(value: datetime | None) -> str:
    """A time as `YYYY-MM-DD HH:MM:SS` UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _truncate(text: str | None, width: int) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _age(seconds: float) -> str:
    if seconds < 1:
        return "none due" if seconds == 0 else f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown)
