"""The dashboard's webhook endpoints: listed with a Remove button each, and added from a form
whose answer shows the new endpoint's secret, this once (never in a URL)."""

from __future__ import annotations

import uuid

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api_service.dashboard.access import actor, bp, html
from api_service.dashboard.notices import notice_of
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from shared import operations
from shared.clock import utcnow
from shared.messaging.webhook_endpoints import checked_url
from shared.vocabulary import EventType

EVENTS = [str(event) for event in operations.SUBSCRIBABLE]
# The longest URL the form takes (the admin API's bound).
URL_MAX = 2000


@bp.get("/webhooks")
def webhooks() -> BaseResponse:
    """The endpoints, and the form that adds one."""
    return _page(notice=notice_of(request.args))


@bp.post("/webhooks")
def add_webhook() -> BaseResponse:
    """Add an endpoint; the page shows its secret this once."""
    url = request.form.get("url", "").strip()[:URL_MAX]
    events = tuple(EventType(e) for e in EVENTS if e in request.form.getlist("events"))
    try:
        valid = bool(checked_url(url))
    except ValueError:
        valid = False
    if not valid or not events:
        refused = ("warn", "Give an http(s):// URL and at least one event; nothing added.")
        return _page(notice=refused, status=422)
    endpoint, secret = act(
        unit_of_work,
        operations.add_endpoint,
        dependencies(),
        url,
        events,
        actor=actor(),
        now=utcnow(),
    )
    added = ("ok", f"Endpoint {endpoint.id} added. Its secret is shown this once:")
    return _page(notice=added, secret=secret, status=201)


@bp.post("/webhooks/<uuid:endpoint_id>/remove")
def remove_webhook(endpoint_id: uuid.UUID) -> BaseResponse:
    """Remove an endpoint; its queued events are cancelled."""
    removed = act(
        unit_of_work,
        operations.remove_endpoint,
        dependencies(),
        str(endpoint_id),
        actor=actor(),
        now=utcnow(),
    )
    notice = "webhook:removed" if removed else "webhook:absent"
    return redirect(url_for(".webhooks", notice=notice, target=str(endpoint_id)), 303)


def _page(
    *, notice: tuple[str, str] | None, secret: str | None = None, status: int = 200
) -> BaseResponse:
    """The webhooks page, with a notice and, just after an endpoint was added, its secret."""
    endpoints = read(unit_of_work, operations.list_endpoints)
    return html(
        render_template(
            "dashboard/webhooks.html",
            page="webhooks",
            endpoints=endpoints,
            events=EVENTS,
            notice=notice,
            secret=secret,
        ),
        status,
    )
