"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from api_service.problems import Problem
from api_service.services import services
from shared.db import schema_is_current

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The database answers and its schema is at the newest migration."""
    try:
        current = schema_is_current(services().engine)
    except SQLAlchemyError:
        raise Problem(503, "not-ready", "Not ready", "The database cannot be reached.") from None
    if not current:
        raise Problem(503, "not-ready", "Not ready", "The database schema is not at head.")
    return jsonify({"status": "ready"})
