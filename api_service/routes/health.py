"""Liveness and readiness probes, and the Prometheus metrics of this worker pool."""

from __future__ import annotations

from flask import Response
from sqlalchemy.exc import SQLAlchemyError

from api_service.dependencies import dependencies
from api_service.metrics import exposition
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import StatusSchema
from shared.db import schema_is_current

bp = Blueprint("health", __name__, description="Probes and metrics.")


@bp.get("/healthz")
@bp.response(200, StatusSchema)
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.response(200, StatusSchema)
@bp.problems(503)
def readyz() -> dict[str, str]:
    """The database answers and its schema is at the newest migration."""
    try:
        current = schema_is_current(dependencies().engine)
    except SQLAlchemyError:
        raise Problem(503, "not-ready", "Not ready", "The database cannot be reached.") from None
    if not current:
        raise Problem(503, "not-ready", "Not ready", "The database schema is not at head.")
    return {"status": "ready"}


@bp.get("/metrics")
@bp.response(
    200,
    {"type": "string"},
    content_type="text/plain; version=0.0.4",
    description="Prometheus text exposition.",
)
def metrics() -> Response:
    """Request counts and durations, in the Prometheus text format."""
    body, content_type = exposition()
    return Response(body, content_type=content_type)
