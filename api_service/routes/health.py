"""Liveness and readiness probes, and the Prometheus metrics of this worker pool."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswer

from flask import Response
from sqlalchemy.exc import SQLAlchemyError

from api_service.dependencies import dependencies
from api_service.flows.answers import AnswerStatus
from api_service.flows.backlog import backlog_now
from api_service.metrics import exposition
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import StatusSchema
from shared.clock import utcnow
from shared.database.db import ready_to_commit
from shared.settings.database_url import driver_message

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__, description="Probes and metrics.")

# Seconds /readyz waits for the database: a probe answers within 2 s, whatever DATABASE_TIMEOUT
# (connecting alone may take 2 s). One probe asks the database at a time; those that find it
# busy answer 503 when their wait is over.
READY_WAIT = 1.5
_probes = ThreadPoolExecutor(1, thread_name_prefix="readyz")


@bp.get("/healthz")
@bp.response(200, StatusSchema)
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": AnswerStatus.OK}


@bp.get("/readyz")
@bp.response(200, StatusSchema)
@bp.problems(503)
def readyz() -> dict[str, str]:
    """The database commits within 1.5 s and its schema is at the newest migration."""
    probe = _probes.submit(ready_to_commit, dependencies().engine)
    try:
        current = probe.result(timeout=READY_WAIT)
    except (SQLAlchemyError, NoAnswer) as exc:
        probe.cancel()
        if isinstance(exc, SQLAlchemyError):
            log.warning("not ready, database unavailable", extra={"error": driver_message(exc)})
        raise Problem(
            503, "not-ready", "Not ready", "The database cannot be reached or does not commit."
        ) from None
    if not current:
        raise Problem(503, "not-ready", "Not ready", "The database schema is not at head.")
    return {"status": AnswerStatus.READY}


@bp.get("/metrics")
@bp.response(
    200,
    {"type": "string"},
    content_type="text/plain; version=0.0.4",
    description="Prometheus text exposition.",
)
def metrics() -> Response:
    """Request counts and durations, and the queue, in the Prometheus text format."""
    body, content_type = exposition(lambda: backlog_now(dependencies(), utcnow()))
    return Response(body, content_type=content_type)
