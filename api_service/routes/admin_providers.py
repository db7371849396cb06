"""/v1/admin/providers…: each provider and why it is where it is; an operator's pause and its
end, obeyed by every relay on the database within a poll."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from flask import g

from api_service.admin_auth import require_bearer
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.provider_schemas import (
    ProviderListSchema,
    ProviderPauseSchema,
    ProviderResumedSchema,
    ProviderSchema,
)
from api_service.routes.admin import ADMIN_PROBLEMS, BEARER
from shared import operations
from shared.clock import utcnow

bp = Blueprint(
    "admin_providers", __name__, description="Operators: providers paused and resumed by hand."
)
# A provider's name as the routes take it (smtp, smtp_fallback, sms, sms_fallback, webhook).
NAME = "<string(minlength=1, maxlength=20):name>"


@bp.before_request
def _authenticate() -> None:
    g.actor = require_bearer()


@bp.get("/v1/admin/providers")
@bp.response(200, ProviderListSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def list_providers() -> dict[str, Any]:
    """Each provider: up, paused by a relay (why), or by an operator (who, why, until when)."""
    found = read(unit_of_work, operations.list_providers, dependencies().settings, utcnow())
    return {"items": [asdict(p) for p in found]}


@bp.post(f"/v1/admin/providers/{NAME}/pause")
@bp.arguments(ProviderPauseSchema)
@bp.response(200, ProviderSchema)
@bp.problems(*ADMIN_PROBLEMS, 413, 415, 422)
@bp.doc(security=BEARER)
def pause_provider(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Pause a provider for every relay (for `seconds`, or until resumed); audited. Sends in
    flight finish; its messages go to the fallback where there is one, else wait."""
    now = utcnow()
    seconds = body.get("seconds")
    until = now + timedelta(seconds=seconds) if seconds else None
    settings = dependencies().settings
    paused = act(
        unit_of_work,
        operations.pause_provider,
        settings,
        name,
        reason=body["reason"],
        until=until,
        actor=g.actor,
        now=now,
    )
    if paused is None:
        raise _no_such_provider()
    return asdict(paused)


@bp.post(f"/v1/admin/providers/{NAME}/resume")
@bp.response(200, ProviderResumedSchema)
@bp.problems(*ADMIN_PROBLEMS, 409)
@bp.doc(security=BEARER)
def resume_provider(name: str) -> dict[str, Any]:
    """End an operator's pause: relays use the provider again within a poll; audited."""
    deps = dependencies()
    outcome = act(unit_of_work, operations.resume_provider, deps, name, actor=g.actor, now=utcnow())
    if outcome == operations.ResumeOutcome.UNKNOWN:
        raise _no_such_provider()
    if outcome == operations.ResumeOutcome.NOT_PAUSED:
        raise Problem(
            409,
            "not-paused",
            "Not paused by an operator",
            "No operator's pause holds this provider (a relay's pause ends with its probe).",
        )
    return {"name": name, "resumed": True}


def _no_such_provider() -> Problem:
    return Problem(404, "not-found", "Not Found", "No provider of this name is configured.")
