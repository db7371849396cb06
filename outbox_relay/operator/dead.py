"""`outbox-relay dead list|show|retry|discard`: see and repair dead letters."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from sqlalchemy import Connection

from outbox_relay.operator.context import PROG, Context, UsageError
from outbox_relay.operator.output import print_json, print_page, print_table, quote, truncate
from shared import operations
from shared.operations.presentation import utc_time

DEFAULT_LIST_LIMIT = 50
# Characters of `last_error` a table shows; `dead show` prints it whole.
ERROR_WIDTH = 48
# The `dead list` table; times are UTC.
DEAD_LIST_COLUMNS = [
    "ID", "CREATED", "CHANNEL", "PURPOSE", "RECIPIENT", "ATTEMPTS", "REASON", "LAST ERROR"
]  # fmt: skip


def filter_of(args: argparse.Namespace) -> operations.DeadFilter:
    """The dead-letter filter the options name."""
    return operations.DeadFilter.from_mapping(vars(args))


def dead_list(connection: Connection, ctx: Context) -> int:
    """Print a page of dead letters and, when more exist, how to see the next page."""
    args = ctx.args
    where = filter_of(args)
    letters, cursor = operations.list_dead(connection, where, limit=args.limit, before=args.before)
    rows = [
        [
            letter.id,
            utc_time(letter.created_at),
            letter.channel,
            letter.purpose,
            letter.recipient,
            str(letter.attempts),
            letter.dead_reason or "-",
            truncate(letter.last_error, ERROR_WIDTH),
        ]
        for letter in letters
    ]
    more = None if cursor is None else f"{PROG} dead list {_argv(args, where)}--before {cursor}"
    print_page(
        letters,
        DEAD_LIST_COLUMNS,
        rows,
        empty="no dead letters" + (" match" if where != operations.DeadFilter() else ""),
        more=more,
        as_json=args.json,
        out=ctx.out,
        err=ctx.err,
    )
    return 0


def _argv(args: argparse.Namespace, where: operations.DeadFilter) -> str:
    """The filter options as typed again, for the next-page hint (`--since` made absolute)."""
    given = [f"--{name} {quote(value)}" for name, value in where.as_strings().items()]
    if args.limit != DEFAULT_LIST_LIMIT:
        given.append(f"--limit {args.limit}")
    if args.json:
        given.append("--json")
    return "".join(f"{option} " for option in given)


def check_retry(args: argparse.Namespace) -> None:
    """Refuse `dead retry` arguments that contradict each other, before touching the database."""
    if args.all and args.ids:
        raise UsageError("dead retry: give ids or --all, not both")
    if not args.all and not args.ids:
        raise UsageError("dead retry: give the ids to retry, or --all [filters]")
    if not args.all and filter_of(args) != operations.DeadFilter():
        raise UsageError("dead retry: filters apply only with --all")


def dead_show(connection: Connection, ctx: Context) -> int:
    """Print one message, its attempts and provider events; exit 1 if there is none."""
    detail = operations.show(connection, ctx.args.id)
    if detail is None:
        print(f"{PROG}: no message {ctx.args.id}", file=ctx.err)
        return 1
    if ctx.args.json:
        print_json(detail, ctx.out)
        return 0
    fields: list[tuple[str, Any]] = [
        ("id", detail.id),
        ("created", utc_time(detail.created_at)),
        ("channel", detail.channel),
        ("purpose", detail.purpose),
        ("recipient", detail.recipient),
        ("locale", detail.locale),
        ("status", detail.status),
        ("attempts", detail.attempts),
        ("dead reason", detail.dead_reason),
        ("last error", detail.last_error),
        ("sent", utc_time(detail.sent_at)),
        ("user", detail.user_id),
        ("resolution", detail.resolution),
        ("resolved", utc_time(detail.resolved_at)),
        ("replaced by", detail.replaced_by),
    ]
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        print(f"{name + ':':<{width}} {'-' if value in (None, '') else value}", file=ctx.out)
    _print_section(
        "attempts",
        ["AT", "OUTCOME", "MS", "ERROR"],
        [
            [utc_time(a.attempted_at), a.outcome, str(a.duration_ms), a.error or "-"]
            for a in detail.history
        ],
        ctx.out,
    )
    _print_section(
        "provider events",
        ["AT", "TYPE", "PERMANENT", "SOURCE", "DIAGNOSTIC"],
        [
            [utc_time(e.at), e.type, "yes" if e.permanent else "no", e.source, e.diagnostic or "-"]
            for e in detail.provider_events
        ],
        ctx.out,
    )
    return 0


def _print_section(title: str, header: list[str], rows: list[list[str]], out: TextIO) -> None:
    """A blank line, then `title (n):` and its table, or `no title`."""
    print(file=out)
    if not rows:
        print(f"no {title}", file=out)
        return
    print(f"{title} ({len(rows)}):", file=out)
    print_table(header, rows, out)


def dead_retry(connection: Connection, ctx: Context) -> int:
    """Retry the ids named, or `--all` matching; one line per row, then a summary."""
    args = ctx.args
    if args.all:
        results = operations.retry_all(
            connection, ctx.deps, filter_of(args), actor=ctx.actor, now=ctx.now, cap=args.limit
        )
    else:
        results = [
            operations.retry(connection, ctx.deps, public_id, actor=ctx.actor, now=ctx.now)
            for public_id in dict.fromkeys(args.ids)
        ]
    if not results:
        print("no dead letters match", file=ctx.out)
        return 0
    print_table(
        ["ID", "OUTCOME", "NEW DELIVERY"],
        [[r.id, r.outcome, r.delivery or "-"] for r in results],
        ctx.out,
    )
    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    retried = operations.count_retried(results)
    print(f"retried {retried} of {len(results)}: {summary}", file=ctx.out)
    if args.all and len(results) >= min(args.limit, operations.BULK_RETRY_CAP):
        print(f"stopped at {len(results)}; run it again for more", file=ctx.out)
    return 1 if outcomes.get(operations.RetryOutcome.NOT_FOUND) else 0


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
