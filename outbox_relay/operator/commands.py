"""`outbox-relay stats|stranded|suppressions|erase|unlock|purge`: figures, accounts and
retention."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import Connection

from outbox_relay.operator.context import PROG, Context, UsageError
from outbox_relay.operator.output import print_json, print_table
from shared import operations
from shared.accounts.addresses import AddressError, normalise_address
from shared.operations.presentation import compact_age, utc_time

# The most accounts a command under the listing names; the rest are counted in words, since a
# command cut short with an ellipsis could not be pasted.
REISSUE_HINT = 10
# What brings each kind of stranded account back, and the command that does it.
_REMEDIES = {
    operations.Remedy.REISSUE: ("send a fresh code", "stranded --reissue"),
    operations.Remedy.REMOVE_SUPPRESSION: (
        "lift the suppression, then reissue",
        "suppressions remove",
    ),
    operations.Remedy.RETRY_EVENT: ("tell the application again", "dead retry"),
}
# What `stranded --reissue` prints for an account it sent nothing to.
_REFUSED = {
    operations.ReissueOutcome.NOT_PENDING: "- (no pending account)",
    operations.ReissueOutcome.SUPPRESSED: "- (address suppressed: suppressions remove it first)",
}


def stats(connection: Connection, ctx: Context) -> int:
    """Print counts by status and channel, the backlog's age and the last hour's outcomes."""
    figures = operations.stats(connection, ctx.now)
    if ctx.args.json:
        print_json(figures, ctx.out)
        return 0
    print_table(
        ["STATUS", *(channel.upper() for channel in figures.channels), "TOTAL"],
        [[row.status, *(str(n) for n in row.counts), str(row.total)] for row in figures.rows],
        ctx.out,
        numeric_from=1,
    )
    print(file=ctx.out)
    print(
        f"oldest due message waiting: {compact_age(figures.oldest_due_age_seconds)}", file=ctx.out
    )
    print(
        f"last hour: {figures.sent_last_hour} sent, {figures.dead_last_hour} dead (messages); "
        f"{figures.failed_last_hour} failed, {figures.provider_down_last_hour} provider down "
        "(attempts)",
        file=ctx.out,
    )
    print(f"unresolved dead letters: {figures.dead_unresolved}", file=ctx.out)
    return 0


def stranded(connection: Connection, ctx: Context) -> int:
    """List stranded accounts, or with `--reissue` send the users named a fresh activation."""
    if ctx.args.reissue:
        return _reissue(connection, ctx, ctx.args.reissue)
    gated = ctx.deps.settings.login_requires_provisioning
    accounts = operations.stranded(connection, ctx.now, gated=gated)
    if ctx.args.json:
        print_json(accounts, ctx.out)
        return 0
    if not accounts:
        print("no stranded accounts", file=ctx.out)
        return 0
    print_table(
        ["USER", "CREATED", "EMAIL", "PHONE", "DELIVERY", "WHY"],
        [
            [
                str(a.user_id),
                utc_time(a.created_at),
                a.email or "-",
                a.phone or "-",
                a.delivery,
                a.why,
            ]
            for a in accounts
        ],
        ctx.out,
    )
    for remedy, (what, command) in _REMEDIES.items():
        _hint(ctx, what, command, [_argument(a, remedy) for a in accounts if a.remedy == remedy])
    return 0


def _argument(account: operations.StrandedAccount, remedy: operations.Remedy) -> str:
    """What the command of `remedy` takes for this account."""
    if remedy == operations.Remedy.REISSUE:
        return str(account.user_id)
    if remedy == operations.Remedy.REMOVE_SUPPRESSION:
        return shlex.quote(account.recipient)
    return account.delivery


def _hint(ctx: Context, what: str, command: str, arguments: list[str]) -> None:
    """Print the command doing `what` for the first accounts that need it, the rest counted."""
    if not arguments:
        return
    print(f"{what}: {PROG} {command} {' '.join(arguments[:REISSUE_HINT])}", file=ctx.out)
    if len(arguments) > REISSUE_HINT:
        more = len(arguments) - REISSUE_HINT
        print(f"and {more} more: run `{PROG} stranded` again after that command", file=ctx.out)


def _reissue(connection: Connection, ctx: Context, user_ids: Sequence[int]) -> int:
    results = {
        user_id: operations.reissue_activation(
            connection, ctx.deps, user_id, actor=ctx.actor, now=ctx.now
        )
        for user_id in dict.fromkeys(user_ids)
    }
    if ctx.args.json:
        print_json([{"user_id": u, **asdict(r)} for u, r in results.items()], ctx.out)
    else:
        print_table(
            ["USER", "NEW DELIVERY"],
            [[str(u), r.delivery or _REFUSED[r.outcome]] for u, r in results.items()],
            ctx.out,
        )
    return 0 if all(r.delivery for r in results.values()) else 1


def suppressions_list(connection: Connection, ctx: Context) -> int:
    """Print the suppressed addresses: why, from which provider event, since when."""
    entries = operations.list_suppressions(connection)
    if ctx.args.json:
        print_json(entries, ctx.out)
        return 0
    if not entries:
        print("no suppressed addresses", file=ctx.out)
        return 0
    print_table(
        ["SINCE", "ADDRESS", "REASON", "SOURCE", "EVENT"],
        [
            [
                utc_time(e.created_at),
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


def check_addresses(args: argparse.Namespace) -> None:
    """Put the addresses of `suppressions remove` in their stored form; refuse what is none."""
    try:
        args.addresses = [normalise_address(address) for address in args.addresses]
    except AddressError as exc:
        raise UsageError(f"suppressions remove: {exc}") from None


def suppressions_remove(connection: Connection, ctx: Context) -> int:
    """Remove each address named; exit 1 if any was not suppressed."""
    wanted = list(dict.fromkeys(ctx.args.addresses))
    removed = set(
        operations.remove_suppressions(connection, ctx.deps, wanted, actor=ctx.actor, now=ctx.now)
    )
    for address in wanted:
        print(f"{address}  {'removed' if address in removed else 'not suppressed'}", file=ctx.out)
    return 0 if len(removed) == len(wanted) else 1


def erase(connection: Connection, ctx: Context) -> int:
    """Erase the account named; exit 1 if there is none."""
    user_id = ctx.args.user_id
    if not operations.erase(connection, ctx.deps, user_id, actor=ctx.actor, now=ctx.now):
        print(f"no account {user_id}", file=ctx.out)
        return 1
    print(f"account {user_id} erased", file=ctx.out)
    return 0


def unlock(connection: Connection, ctx: Context) -> int:
    """Lift the lockouts of the account named; exit 1 if there is none."""
    user_id = ctx.args.user_id
    if not operations.unlock(connection, ctx.deps, user_id, actor=ctx.actor, now=ctx.now):
        print(f"no account {user_id}", file=ctx.out)
        return 1
    print(f"account {user_id} unlocked", file=ctx.out)
    return 0


def purge(connection: Connection, ctx: Context) -> int:
    """Delete what outlived the configured retention windows and print how much went."""
    settings = ctx.deps.settings
    purged = operations.purge(connection, settings, actor=ctx.actor, now=ctx.now)
    if ctx.args.json:
        print_json(purged, ctx.out)
        return 0
    windows = {
        "sent": f"sent over {settings.retention_sent_days}d ago",
        "dead": f"over {settings.retention_dead_days}d old",
        "cancelled": f"over {settings.retention_dead_days}d old",
        "unactivated_accounts": f"over {settings.retention_unactivated_days}d old",
        "throttle_events": "past every window",
        "idempotency_keys": "over 1d old",
        "provider_notifications": "over 1d old",
        "account_events": f"over {settings.account_events_retention_days}d old",
    }
    rows = [
        [name.replace("_", " "), str(count), windows.get(name, "")]
        for name, count in asdict(purged).items()
    ]
    print("purged:", file=ctx.out)
    print_table(["WHAT", "ROWS", "WINDOW"], rows, ctx.out, numeric_from=1, numeric_to=2)
    return 0
