"""`outbox-relay webhook-endpoints add|list|remove`: the application's endpoints by event."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from outbox_relay.operator.context import Context, UsageError
from outbox_relay.operator.output import print_json, print_table
from shared import operations
from shared.messaging.webhook_endpoints import checked_url
from shared.operations.presentation import utc_time
from shared.vocabulary import EventType

EVENTS = [str(event) for event in operations.SUBSCRIBABLE]


def add_parsers(
    subparsers: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser
) -> None:
    """Register `webhook-endpoints add|list|remove`."""
    parser = subparsers.add_parser(
        "webhook-endpoints",
        help="the application's endpoints beside WEBHOOK_URL, each for the events it lists",
        parents=[common],
    )
    actions = parser.add_subparsers(dest="endpoints_command", metavar="ACTION", required=True)
    adding = actions.add_parser(
        "add", help="add an endpoint; its secret is printed this once", parents=[common, as_json]
    )
    adding.add_argument("url", metavar="URL")
    adding.add_argument(
        "--event",
        dest="events",
        action="append",
        required=True,
        choices=EVENTS,
        help="an event it receives (repeat for more)",
    )
    adding.set_defaults(handler=add, check=check_url)
    actions.add_parser(
        "list", help="every endpoint, oldest first", parents=[common, as_json]
    ).set_defaults(handler=listing)
    removing = actions.add_parser(
        "remove", help="remove an endpoint; its queued events are cancelled", parents=[common]
    )
    removing.add_argument("endpoint_id", metavar="ID")
    removing.set_defaults(handler=remove)


def check_url(args: argparse.Namespace) -> None:
    """An endpoint's rule for the URL given (shared.messaging.webhook_endpoints.checked_url)."""
    try:
        checked_url(args.url)
    except ValueError as exc:
        raise UsageError(f"URL {exc}") from exc


def add(connection: Connection, ctx: Context) -> int:
    """Add an endpoint and print it with its secret, shown this once."""
    events = tuple(EventType(event) for event in ctx.args.events)
    endpoint, secret = operations.add_endpoint(
        connection, ctx.deps, ctx.args.url, events, actor=ctx.actor, now=ctx.now
    )
    if ctx.args.json:
        print_json({**asdict(endpoint), "secret": secret}, ctx.out)
        return 0
    print(f"endpoint {endpoint.id} added for {', '.join(endpoint.events)}", file=ctx.out)
    print(f"secret (shown this once): {secret}", file=ctx.out)
    return 0


def listing(connection: Connection, ctx: Context) -> int:
    """Print every endpoint, without its secret."""
    endpoints = operations.list_endpoints(connection)
    if ctx.args.json:
        print_json(endpoints, ctx.out)
        return 0
    if not endpoints:
        print("no webhook endpoints", file=ctx.out)
        return 0
    print_table(
        ["ID", "CREATED", "URL", "EVENTS"],
        [[e.id, utc_time(e.created_at), e.url, ",".join(e.events)] for e in endpoints],
        ctx.out,
    )
    return 0


def remove(connection: Connection, ctx: Context) -> int:
    """Remove the endpoint named; exit 1 if there is none."""
    endpoint_id = ctx.args.endpoint_id
    if not operations.remove_endpoint(
        connection, ctx.deps, endpoint_id, actor=ctx.actor, now=ctx.now
    ):
        print(f"no webhook endpoint {endpoint_id}", file=ctx.out)
        return 1
    print(f"webhook endpoint {endpoint_id} removed", file=ctx.out)
    return 0
