"""/v1/admin/webhook-endpoints: the application's endpoints by event, behind the admin token."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import g

from api_service.admin_auth import require_bearer
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.routes.admin import ADMIN_PROBLEMS, BEARER
from api_service.webhook_endpoint_schemas import (
    EndpointCreatedSchema,
    EndpointListSchema,
    EndpointRequestSchema,
)
from shared import operations
from shared.clock import utcnow
from shared.vocabulary import EventType

bp = Blueprint(
    "webhook_endpoints",
    __name__,
    description="Operators: the application's webhook endpoints, each for the events it lists.",
)


@bp.before_request
def _authenticate() -> None:
    g.actor = require_bearer()


@bp.post("/v1/admin/webhook-endpoints")
@bp.arguments(EndpointRequestSchema)
@bp.response(201, EndpointCreatedSchema)
@bp.problems(*ADMIN_PROBLEMS, 413, 415, 422)
@bp.doc(security=BEARER)
def add_endpoint(body: dict[str, Any]) -> dict[str, Any]:
    """Add an endpoint for some events; its `whsec_` secret is in this answer alone. Audited."""
    events = tuple(EventType(event) for event in body["events"])
    endpoint, secret = act(
        unit_of_work,
        operations.add_endpoint,
        dependencies(),
        body["url"],
        events,
        actor=g.actor,
        now=utcnow(),
    )
    return {**asdict(endpoint), "secret": secret}


@bp.get("/v1/admin/webhook-endpoints")
@bp.response(200, EndpointListSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def list_endpoints() -> dict[str, Any]:
    """Every endpoint, oldest first, without its secret."""
    return {"items": [asdict(e) for e in read(unit_of_work, operations.list_endpoints)]}


@bp.delete("/v1/admin/webhook-endpoints/<uuid:endpoint_id>")
@bp.response(204)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def remove_endpoint(endpoint_id: uuid.UUID) -> None:
    """Remove an endpoint; its events still queued are cancelled. Audited."""
    removed = act(
        unit_of_work,
        operations.remove_endpoint,
        dependencies(),
        str(endpoint_id),
        actor=g.actor,
        now=utcnow(),
    )
    if not removed:
        raise Problem(404, "not-found", "Not Found", "No webhook endpoint has this id.")
