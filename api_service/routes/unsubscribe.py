"""GET and POST /v1/unsubscribe/<token>: the one-click unsubscribe of a "no account" notice."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request

from api_service.dependencies import dependencies
from api_service.flows.unsubscribe import unsubscribe
from api_service.openapi import Blueprint
from api_service.problems import Problem
from api_service.schemas import StatusSchema

bp = Blueprint("unsubscribe", __name__, description="Unsubscribing from notices.")


def _not_found() -> Problem:
    return Problem(404, "not-found", "Not Found", "No unsubscribe link has this token.")


@bp.get("/v1/unsubscribe/<token>")
@bp.problems(404, 503)
@bp.doc(responses={200: {"description": "A page with one button that unsubscribes."}})
def unsubscribe_page(token: str) -> Response:
    """The page a person opens from the mail: one button, which unsubscribes.

    Opening it changes nothing: mail scanners follow links, and must not unsubscribe anyone.
    """
    if dependencies().unsubscribe.address(token) is None:
        raise _not_found()
    return _page(done=False)


@bp.post("/v1/unsubscribe/<token>")
@bp.response(200, StatusSchema)
@bp.problems(404, 429, 503)
def unsubscribe_now(token: str) -> Any:
    """Suppress the address (RFC 8058 one-click, `List-Unsubscribe=One-Click`, or the page's
    button); a browser gets a page saying so, a mail client JSON."""
    if not unsubscribe(dependencies(), token):
        raise _not_found()
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return _page(done=True)
    return {"status": "unsubscribed"}


def _page(*, done: bool) -> Response:
    product = dependencies().settings.branding.product_name
    html = render_template("unsubscribe/page.html", product_name=product, done=done)
    return Response(html, mimetype="text/html")
