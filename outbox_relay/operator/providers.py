"""`outbox-relay providers [list]|pause|resume`: each provider and why it is where it is, and
an operator's pause (a planned switch, a provider's incident) and its end."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbox_relay.operator.context import Context
from outbox_relay.operator.durations import span_of
from outbox_relay.operator.output import print_json, print_table
from shared import operations
from shared.operations.providers import REASON_MAX


def add_providers(
    subparsers: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """`providers [list]`, `providers pause NAME [--for DURATION] --reason TEXT`,
    `providers resume NAME`."""
    parser = subparsers.add_parser(
        "providers",
        help="each provider and why it is where it is; pause one by hand, resume it",
        description=(
            "Each configured provider (mail, SMS, webhook): up, paused by a relay on its own "
            "failure (and which), or paused by an operator (who, why, until when). A pause by "
            "hand is obeyed by every relay on the database within a poll: sends in flight "
            "finish, its messages go to the fallback where there is one and otherwise wait."
        ),
        parents=[common, as_json],
    )
    parser.set_defaults(handler=providers_list)
    actions = parser.add_subparsers(dest="providers_command", metavar="ACTION")
    actions.add_parser(
        "list", help="each provider and its state", parents=[common, as_json]
    ).set_defaults(handler=providers_list)
    pausing = actions.add_parser(
        "pause", help="stop every relay handing the provider new messages", parents=[common]
    )
    pausing.add_argument("name", metavar="NAME", help="smtp, smtp_fallback, sms, sms_fallback…")
    pausing.add_argument(
        "--for",
        dest="duration",
        type=_span,
        metavar="DURATION",
        help="e.g. 30m, 2h (default: until resumed)",
    )
    pausing.add_argument("--reason", required=True, type=_reason, help="why, for the audit")
    pausing.set_defaults(handler=providers_pause)
    resuming = actions.add_parser(
        "resume", help="let relays use the provider again", parents=[common]
    )
    resuming.add_argument("name", metavar="NAME")
    resuming.set_defaults(handler=providers_resume)


def _span(value: str) -> timedelta:
    span = span_of(value)
    if span is None or not span:
        raise argparse.ArgumentTypeError(f"not a duration: {value!r} (e.g. 90s, 30m, 2h, 1d)")
    return span


def _reason(value: str) -> str:
    reason = value.strip()
    if not reason or len(reason) > REASON_MAX:
        raise argparse.ArgumentTypeError(f"a reason of 1 to {REASON_MAX} characters")
    return reason


def providers_list(connection: Connection, ctx: Context) -> int:
    """Print each provider and its state."""
    found = operations.list_providers(connection, ctx.deps.settings, ctx.now)
    if ctx.args.json:
        print_json(found, ctx.out)
        return 0
    rows = [
        [
            p.name,
            p.channel,
            p.state,
            _when(p.since),
            _when(p.until),
            p.paused_by or "",
            p.reason or "",
        ]
        for p in found
    ]
    print_table(["PROVIDER", "CHANNEL", "STATE", "SINCE", "UNTIL", "BY", "WHY"], rows, ctx.out)
    return 0


def providers_pause(connection: Connection, ctx: Context) -> int:
    """Pause the provider named; exit 1 if none is configured by that name."""
    args = ctx.args
    until = ctx.now + args.duration if args.duration else None
    paused = operations.pause_provider(
        connection,
        ctx.deps.settings,
        args.name,
        reason=args.reason,
        until=until,
        actor=ctx.actor,
        now=ctx.now,
    )
    if paused is None:
        print(f"no provider {args.name} is configured", file=ctx.out)
        return 1
    print(f"provider {args.name} paused until {_when(until) or 'resumed'}", file=ctx.out)
    return 0


def providers_resume(connection: Connection, ctx: Context) -> int:
    """End an operator's pause of the provider named; exit 1 if there was none."""
    name = ctx.args.name
    outcome = operations.resume_provider(connection, ctx.deps, name, actor=ctx.actor, now=ctx.now)
    words = {
        operations.ResumeOutcome.RESUMED: f"provider {name} resumed",
        operations.ResumeOutcome.NOT_PAUSED: f"provider {name} was not paused by an operator",
        operations.ResumeOutcome.UNKNOWN: f"no provider {name} is configured",
    }
    print(words[outcome], file=ctx.out)
    return 0 if outcome == operations.ResumeOutcome.RESUMED else 1


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""
