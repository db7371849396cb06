"""Who may use the dashboard: its blueprint's guards and headers, sign-in and sign-out."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api_service.admin_auth import (
    admin_enabled,
    locked_out_wait,
    token_matches,
    wrong_token_wait,
)
from api_service.dashboard.notices import notice_of
from api_service.dashboard.session import (
    SESSION_SECONDS,
    cookie_refused,
    csrf_token,
    end_session,
    is_dashboard_path,
    safe_next,
    same_origin,
    serializer,
    session_id,
    set_session_cookie,
    token_binding,
)
from shared import operations
from shared.operations.presentation import spelled_age, utc_time

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Pages anyone may reach (when the dashboard is on at all): the sign-in form and its POST.
PUBLIC = {"dashboard.sign_in", "dashboard.sign_in_submit"}


def actor() -> str:
    """Who the audit names for an action: the dashboard and the client address."""
    return f"dashboard@{request.remote_addr or 'unknown'}"


def html(body: str, status: int = 200) -> Response:
    """An HTML answer."""
    return Response(body, status=status, mimetype="text/html")


@bp.before_app_request
def _hidden_without_token() -> None:
    """Without ADMIN_TOKEN every dashboard URL, whatever its method, is 404 like any unknown one."""
    if is_dashboard_path() and not admin_enabled():
        abort(404)


@bp.before_request
def _guard() -> BaseResponse | None:
    """Same-origin POSTs only; a session everywhere but sign-in; the CSRF token on every POST."""
    if request.method == "POST" and not same_origin():
        origin = request.headers.get("Origin")
        if origin is None:
            return _refused("This form was not sent from the dashboard itself.")
        # Named both, for the operator whose proxy rewrote Host (a port dropped, say).
        return _refused(
            f"This form was not sent from the dashboard itself: it came from {origin[:100]}, "
            f"and this is {request.host[:100]}."
        )
    sid = session_id()
    g.dashboard_sid = sid
    if request.endpoint in PUBLIC:
        return None
    if sid is None:
        target = request.full_path if request.method == "GET" else url_for(".overview")
        return redirect(url_for(".sign_in", next=target.rstrip("?")), 303)
    if request.method == "POST":
        presented = request.form.get("csrf_token", "")
        if not hmac.compare_digest(presented.encode(), csrf_token(sid).encode()):
            return _refused("The form's security token is missing or wrong. Reload and retry.")
    return None


def _refused(message: str) -> Response:
    """A 403 page saying why nothing was done."""
    return html(render_template("dashboard/error.html", title="Refused", message=message), 403)


@bp.after_app_request
def _secure(response: Response) -> Response:
    """Every dashboard answer, errors too: strict CSP, no framing, no caching, no sniffing."""
    if is_dashboard_path():
        response.headers.update(SECURITY_HEADERS)
    return response


@bp.context_processor
def _template_values() -> dict[str, Any]:
    """What every dashboard template may use: the CSRF token and whether someone signed in."""
    sid = g.get("dashboard_sid")
    return {
        "csrf_token": csrf_token(sid) if sid else None,
        "signed_in": sid is not None,
        "cookie_refused": cookie_refused(),
    }


@bp.app_template_filter("utc")
def _utc(value: datetime | None) -> str:
    """A time as `YYYY-MM-DD HH:MM:SS UTC`."""
    return utc_time(value, suffix=" UTC", missing="—")


bp.add_app_template_filter(spelled_age, "duration")
bp.add_app_template_filter(operations.action_name, "action_name")
bp.add_app_template_filter(operations.in_words, "in_words")


@bp.get("/sign-in")
def sign_in() -> BaseResponse:
    """The sign-in form."""
    if g.dashboard_sid is not None:
        return redirect(safe_next(request.args.get("next")), 303)
    return html(
        render_template(
            "dashboard/sign_in.html",
            next=safe_next(request.args.get("next")),
            notice=notice_of(request.args),
            error=None,
        )
    )


@bp.post("/sign-in")
def sign_in_submit() -> BaseResponse:
    """Check the admin token; on success start a session, else answer 401 and set nothing.

    A form without a token guesses nothing: it is answered 401 and never counted."""
    target = safe_next(request.form.get("next"))
    token = request.form.get("token", "")
    if not token:
        page = render_template(
            "dashboard/sign_in.html", next=target, notice=None, error="Enter the admin token."
        )
        return html(page, 401)
    wait = locked_out_wait()
    if not wait and not token_matches(token):
        wait = wrong_token_wait()
        if not wait:
            page = render_template(
                "dashboard/sign_in.html", next=target, notice=None, error="That token is not right."
            )
            return html(page, 401)
    if wait:
        # Locked out: the token is not even read, the right one included.
        page = render_template(
            "dashboard/sign_in.html",
            next=target,
            notice=None,
            error=f"Too many wrong tokens from this client. Try again in {wait} s.",
        )
        slow_down = html(page, 429)
        slow_down.headers["Retry-After"] = str(wait)
        return slow_down
    cookie = serializer().dumps({"sid": secrets.token_urlsafe(24), "tk": token_binding()})
    response = redirect(target, 303)
    set_session_cookie(response, cookie, SESSION_SECONDS)
    return response


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    """End the session: on the server, and the cookie removed from the browser."""
    end_session(g.dashboard_sid)
    response = redirect(url_for(".sign_in", notice="signed_out"), 303)
    set_session_cookie(response, "", 0)
    return response
