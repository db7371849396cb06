"""The dashboard's providers page: each provider and why it is where it is, with a Pause form
(a reason, a duration) and a Resume button, over the operations the CLI and admin API use."""

from __future__ import annotations

from datetime import timedelta

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api_service.dashboard.access import actor, bp, html
from api_service.dashboard.notices import notice_of
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from shared import operations
from shared.clock import utcnow
from shared.operations.providers import REASON_MAX
from shared.text import storable

# The durations the form offers, in minutes (0: until resumed).
DURATIONS = {
    "0": "until resumed",
    "15": "15 minutes",
    "60": "1 hour",
    "240": "4 hours",
    "1440": "1 day",
}


def _back(notice: str, name: str) -> BaseResponse:
    return redirect(url_for(".providers", notice=notice, target=name[:20]), 303)


@bp.get("/providers")
def providers() -> BaseResponse:
    """Each configured provider: up, paused by a relay (its failure), or by an operator."""
    found = read(unit_of_work, operations.list_providers, dependencies().settings, utcnow())
    return html(
        render_template(
            "dashboard/providers.html",
            page="providers",
            providers=found,
            durations=DURATIONS,
            reason_max=REASON_MAX,
            notice=notice_of(request.args),
        )
    )


@bp.post("/providers/<name>/pause")
def pause(name: str) -> BaseResponse:
    """Pause a provider for every relay, for the duration chosen, with the reason typed."""
    reason = request.form.get("reason", "").strip()
    minutes = request.form.get("minutes", "0")
    if not reason or len(reason) > REASON_MAX or not storable(reason) or minutes not in DURATIONS:
        return _back("provider:invalid", name)
    now = utcnow()
    until = now + timedelta(minutes=int(minutes)) if int(minutes) else None
    settings = dependencies().settings
    paused = act(
        unit_of_work,
        operations.pause_provider,
        settings,
        name[:20],
        reason=reason,
        until=until,
        actor=actor(),
        now=now,
    )
    return _back("provider:paused" if paused else "provider:unknown", name)


@bp.post("/providers/<name>/resume")
def resume(name: str) -> BaseResponse:
    """End an operator's pause of a provider."""
    deps = dependencies()
    outcome = act(
        unit_of_work, operations.resume_provider, deps, name[:20], actor=actor(), now=utcnow()
    )
    return _back(f"provider:{outcome}", name)
