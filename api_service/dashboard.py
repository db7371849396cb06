"""The operators' dashboard at /admin: server-rendered HTML over shared.operations.

Sign-in takes ADMIN_TOKEN once and leaves a signed, short-lived session cookie that never holds
the token. Every POST must come from this origin and carry the session's CSRF token; every answer
forbids framing, caching and any script or outside asset. Without ADMIN_TOKEN it all answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from api_service.admin_auth import admin_enabled, token_matches, wrong_token_wait
from api_service.dependencies import dependencies
from api_service.fields import storable
from shared import operations
from shared.clock import utcnow
from shared.codes import derive_key
from shared.models import outbox
from shared.outbox import FAILURES, PURPOSES

bp = Blueprint("dashboard", __name__, url_prefix="/admin", template_folder="templates")

COOKIE = "outpost_dashboard"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 8 * 3600
PAGE_SIZE = 50

CHANNELS = ("email", "sms")
STATUSES = ("pending", "sent", "dead", "cancelled")
RECIPIENT_MAX = 320

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

NOTICES: dict[str, tuple[str, str]] = {
    "signed_out": ("ok", "Signed out."),
    "retry:fresh_code": ("ok", "Fresh code sent: {target} replaced by new delivery {delivery}."),
    "retry:requeued": ("ok", "Requeued {target}: it will be delivered again shortly."),
    "retry:not_dead": ("warn", "{target} was already dealt with; nothing done."),
    "retry:not_found": ("warn", "No message {target}; nothing done."),
    "retry:account_gone": ("warn", "The account of {target} no longer exists; nothing sent."),
    "retry:already_active": ("warn", "The account of {target} is already active; nothing sent."),
    "retry:no_address": ("warn", "The account of {target} has no address on that channel."),
    "discard:done": ("ok", "Discarded {target}: it stays as history and will not be sent."),
    "discard:not_dead": ("warn", "{target} was already dealt with; nothing done."),
    "reissue:done": (
        "ok",
        "Fresh activation code queued for account {target}, delivery {delivery}.",
    ),
    "reissue:not_pending": ("warn", "Account {target} is not pending; nothing sent."),
    "retry:suppressed": ("warn", "The address of {target} is suppressed; remove it first."),
    "suppression:removed": ("ok", "{target} is no longer suppressed."),
    "suppression:absent": ("warn", "{target} was not suppressed; nothing done."),
}
RETRY_OUTCOMES = (
    ("fresh_code", "fresh code sent"),
    ("requeued", "requeued"),
    ("not_dead", "already dealt with"),
    ("not_found", "not found"),
    ("account_gone", "account gone"),
    ("already_active", "account already active"),
    ("no_address", "no address"),
    ("suppressed", "address suppressed"),
)


# --- the session -------------------------------------------------------------------------------


def _secret() -> str:
    """SECRET_KEY, the root of every key the dashboard derives."""
    return dependencies().settings.secret_key


def _serializer() -> URLSafeTimedSerializer:
    """Signs and checks session cookies with a subkey of SECRET_KEY kept for them alone."""
    key = derive_key(_secret(), "outpost/dashboard-session")
    return URLSafeTimedSerializer(key, salt="outpost/dashboard-session")


def _token_binding() -> str:
    """A keyed digest of ADMIN_TOKEN: rotating the token ends every session, and never shows it."""
    key = derive_key(_secret(), "outpost/dashboard-token-binding")
    token = dependencies().settings.admin_token or ""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]


def _session_id() -> str | None:
    """The id of the valid session the request's cookie carries, if any."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict):
        return None
    sid, bound = data.get("sid"), data.get("tk")
    if not isinstance(sid, str) or not isinstance(bound, str):
        return None
    if not hmac.compare_digest(bound.encode(), _token_binding().encode()):
        return None
    return sid


def csrf_token(sid: str) -> str:
    """The CSRF token of a session: an HMAC of its id, so nothing is stored server-side."""
    key = derive_key(_secret(), "outpost/dashboard-csrf")
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def _set_session_cookie(response: BaseResponse, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="Strict",
    )


def _same_origin() -> bool:
    """Whether a POST comes from this site: Origin (when sent) names this host."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    # The scheme is not compared: behind a TLS-terminating proxy the app itself sees http.
    return parts.scheme in ("http", "https") and parts.netloc == request.host


def _url(endpoint: str, params: Mapping[str, object]) -> str:
    """The URL of `endpoint` with the query parameters that have a value."""
    values: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    return url_for(endpoint, **values)


def _actor() -> str:
    """Who the audit names for an action: the dashboard and the client address."""
    return f"dashboard@{request.remote_addr or 'unknown'}"


def _html(body: str, status: int = 200) -> Response:
    """An HTML answer."""
    return Response(body, status=status, mimetype="text/html")


def _is_dashboard_path() -> bool:
    """Whether the request is for /admin or below it."""
    return request.path == COOKIE_PATH or request.path.startswith(COOKIE_PATH + "/")


@bp.before_app_request
def _hidden_without_token() -> None:
    """Without ADMIN_TOKEN every dashboard URL, whatever its method, is 404 like any unknown one."""
    if _is_dashboard_path() and not admin_enabled():
        abort(404)


@bp.before_request
def _guard() -> BaseResponse | None:
    """Same-origin POSTs only; a session everywhere but sign-in; the CSRF token on every POST."""
    if request.method == "POST" and not _same_origin():
        return _refused("This form was not sent from the dashboard itself.")
    sid = _session_id()
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
    return _html(render_template("dashboard/error.html", title="Refused", message=message), 403)


@bp.after_app_request
def _secure(response: Response) -> Response:
    """Every dashboard answer, errors too: strict CSP, no framing, no caching, no sniffing."""
    if _is_dashboard_path():
        response.headers.update(SECURITY_HEADERS)
    return response


@bp.context_processor
def _template_values() -> dict[str, Any]:
    """What every dashboard template may use: the CSRF token and whether someone signed in."""
    sid = g.get("dashboard_sid")
    return {
        "csrf_token": csrf_token(sid) if sid else None,
        "signed_in": sid is not None,
        "cookie_refused": _cookie_refused(),
    }


def _cookie_refused() -> bool:
    """Whether the browser will drop the session cookie: it is Secure, and this is plain HTTP.

    Browsers keep a Secure cookie over http:// only for loopback hosts. Behind a TLS proxy
    (TRUSTED_PROXIES), ProxyFix has already made the scheme the one the proxy reports.
    """
    if request.scheme == "https":
        return False
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host
    host = host.split("]")[0].lstrip("[")
    return not (host == "localhost" or host.startswith("127.") or host == "::1")


@bp.app_template_filter("utc")
def _utc(value: datetime | None) -> str:
    """A time as `YYYY-MM-DD HH:MM:SS UTC`."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


@bp.app_template_filter("duration")
def _duration(seconds: float) -> str:
    """A number of seconds as a short readable age."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


# --- sign-in and sign-out ----------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Where to go after sign-in: only a dashboard path, never another site."""
    default = url_for(".overview")
    if not value or "\\" in value or not value.startswith(COOKIE_PATH):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(COOKIE_PATH):
        return default
    return value


@bp.get("/sign-in")
def sign_in() -> BaseResponse:
    """The sign-in form."""
    if g.dashboard_sid is not None:
        return redirect(_safe_next(request.args.get("next")), 303)
    return _html(
        render_template(
            "dashboard/sign_in.html",
            next=_safe_next(request.args.get("next")),
            notice=_notice(request.args),
            error=None,
        )
    )


@bp.post("/sign-in")
def sign_in_submit() -> BaseResponse:
    """Check the admin token; on success start a session, else answer 401 and set nothing."""
    target = _safe_next(request.form.get("next"))
    if not token_matches(request.form.get("token", "")):
        wait = wrong_token_wait()
        if wait:
            page = render_template(
                "dashboard/sign_in.html",
                next=target,
                notice=None,
                error=f"Too many wrong tokens from this address. Try again in {wait} s.",
            )
            slow_down = _html(page, 429)
            slow_down.headers["Retry-After"] = str(wait)
            return slow_down
        page = render_template(
            "dashboard/sign_in.html", next=target, notice=None, error="That token is not right."
        )
        return _html(page, 401)
    cookie = _serializer().dumps({"sid": secrets.token_urlsafe(24), "tk": _token_binding()})
    response = redirect(target, 303)
    _set_session_cookie(response, cookie, SESSION_SECONDS)
    return response


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    """End the session: the cookie is removed from the browser."""
    response = redirect(url_for(".sign_in", notice="signed_out"), 303)
    _set_session_cookie(response, "", 0)
    return response


# --- the overview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of the chart, in SVG coordinates."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A labelled horizontal grid line."""

    y: float
    label: str


@dataclass(frozen=True)
class HourLabel:
    """A label under the chart's x axis."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart of sent and failed attempts per hour, laid out for the template."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    ticks: list[Tick]
    hours: list[HourLabel]
    rows: list[dict[str, Any]]
    total_sent: int
    total_failed: int


def _nice_step(peak: int, steps: int) -> int:
    """The smallest 1, 2 or 5 times 10^k step such that `steps` of them reach `peak`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude * steps >= peak:
                return factor * magnitude
        magnitude *= 10


def hourly_chart(buckets: list[dict[str, Any]]) -> Chart:
    """Lay out 24 hourly buckets of {hour, sent, failed} as grouped bars with axes."""
    width, height = 760, 260
    left, right, top, bottom = 48.0, width - 12.0, 16.0, height - 40.0
    step = _nice_step(max([1] + [max(b["sent"], b["failed"]) for b in buckets]), 4)
    scale = (bottom - top) / (step * 4)
    slot = (right - left) / max(len(buckets), 1)
    bar_width = slot * 0.36
    bars: list[Bar] = []
    hours: list[HourLabel] = []
    for index, bucket in enumerate(buckets):
        start: datetime = bucket["hour"]
        span = f"{start:%H}:00 to {(start.hour + 1) % 24:02d}:00 UTC"
        x0 = left + index * slot + slot * 0.12
        for offset, kind in ((0.0, "sent"), (bar_width, "failed")):
            value = int(bucket[kind])
            # A bar of 1 stays visible however tall the tallest one is.
            bar_height = max(value * scale, 2.0) if value else 0.0
            bars.append(
                Bar(
                    x=round(x0 + offset, 2),
                    y=round(bottom - bar_height, 2),
                    width=round(bar_width, 2),
                    height=round(bar_height, 2),
                    kind=kind,
                    title=f"{start:%Y-%m-%d} {span}: {value} {kind}",
                )
            )
        if index % 3 == 0 or index == len(buckets) - 1:
            hours.append(HourLabel(x=round(left + (index + 0.5) * slot, 2), label=f"{start:%H}:00"))
    ticks = [Tick(y=round(bottom - n * step * scale, 2), label=str(n * step)) for n in range(5)]
    return Chart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        ticks=ticks,
        hours=hours,
        rows=buckets,
        total_sent=sum(int(b["sent"]) for b in buckets),
        total_failed=sum(int(b["failed"]) for b in buckets),
    )


@bp.get("/")  # as typed; url_for builds the first one registered, the one below
@bp.get("")
def overview() -> BaseResponse:
    """Backlog and outcome figures, the last 24 hours as a chart, the latest operator actions."""
    now = utcnow()
    with dependencies().unit_of_work() as uow:
        figures = operations.stats(uow.connection, now)
        queue = operations.backlog(uow.connection, now)
        buckets = operations.hourly_outcomes(uow.connection, now)
        actions = operations.audit_log(uow.connection, limit=10)
    by_status: dict[str, dict[str, int]] = figures["by_status"]
    channels = sorted(set(CHANNELS) | {c for counts in by_status.values() for c in counts})
    statuses = list(STATUSES) + sorted(set(by_status) - set(STATUSES))
    return _html(
        render_template(
            "dashboard/overview.html",
            page="overview",
            figures=figures,
            backlog=queue,
            by_status=by_status,
            channels=channels,
            statuses=statuses,
            chart=hourly_chart(buckets),
            actions=actions,
            now=now,
        )
    )


# --- dead letters ------------------------------------------------------------------------------


def _filters(values: Mapping[str, str]) -> dict[str, str]:
    """The dead-letter filters among `values`, each only if it is a value it can take."""
    chosen: dict[str, str] = {}
    for name, allowed in (("channel", CHANNELS), ("purpose", PURPOSES), ("reason", FAILURES)):
        value = values.get(name, "")
        if value in allowed:
            chosen[name] = value
    recipient = values.get("recipient", "").strip()[:RECIPIENT_MAX]
    if recipient and storable(recipient):
        chosen["recipient"] = recipient
    return chosen


def _cursor(values: Mapping[str, str]) -> int | None:
    """The page cursor `before`, if it is a plain number."""
    raw = values.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _dead_filter(chosen: Mapping[str, str]) -> operations.DeadFilter:
    """The filters chosen, as operations takes them."""
    return operations.DeadFilter(
        channel=chosen.get("channel"),
        purpose=chosen.get("purpose"),
        reason=chosen.get("reason"),
        recipient=chosen.get("recipient"),
    )


def _back_to_dead_letters(**notice: str | int | None) -> BaseResponse:
    """Redirect (303) to the list as the form that posted showed it, with a notice."""
    where = _filters(request.form)
    before = _cursor(request.form)
    return redirect(_url(".dead_letters", {**where, "before": before, **notice}), 303)


@bp.get("/dead")
def dead_letters() -> BaseResponse:
    """Unresolved dead letters, newest first, filtered and paged by cursor."""
    chosen = _filters(request.args)
    before = _cursor(request.args)
    where = _dead_filter(chosen)
    with dependencies().unit_of_work() as uow:
        letters, next_cursor = operations.list_dead(
            uow.connection, where, limit=PAGE_SIZE, before=before
        )
        matching = uow.connection.execute(
            select(func.count()).select_from(outbox).where(*where.conditions())
        ).scalar_one()
    return _html(
        render_template(
            "dashboard/dead.html",
            page="dead",
            letters=letters,
            filters=chosen,
            before=before,
            next_cursor=next_cursor,
            matching=matching,
            channels=CHANNELS,
            purposes=PURPOSES,
            reasons=FAILURES,
            notice=_notice(request.args),
            cap=operations.BULK_RETRY_CAP,
        )
    )


@bp.post("/dead/<public_id>/retry")
def retry(public_id: str) -> BaseResponse:
    """Retry one dead letter: a fresh code if it carried one, else requeued."""
    with dependencies().unit_of_work() as uow:
        result = operations.retry(
            uow.connection, dependencies(), public_id[:64], actor=_actor(), now=utcnow()
        )
        uow.commit()
    return _back_to_dead_letters(
        notice=f"retry:{result.outcome}", target=result.id, delivery=result.delivery
    )


@bp.post("/dead/<public_id>/discard")
def discard(public_id: str) -> BaseResponse:
    """Mark one dead letter dealt with, sending nothing."""
    with dependencies().unit_of_work() as uow:
        done = operations.discard(uow.connection, public_id[:64], actor=_actor(), now=utcnow())
        uow.commit()
    return _back_to_dead_letters(
        notice="discard:done" if done else "discard:not_dead", target=public_id[:64]
    )


@bp.post("/dead/retry-all")
def retry_all() -> BaseResponse:
    """Retry every dead letter matching the filters shown (up to the bulk cap), oldest first."""
    where = _dead_filter(_filters(request.form))
    with dependencies().unit_of_work() as uow:
        results = operations.retry_all(
            uow.connection, dependencies(), where, actor=_actor(), now=utcnow()
        )
        uow.commit()
    counts = Counter(result.outcome for result in results)
    tally = {f"n_{outcome}": counts[outcome] for outcome, _ in RETRY_OUTCOMES if counts[outcome]}
    # The list after a bulk retry starts again at its first page.
    where_fields = _filters(request.form)
    params = {**where_fields, "notice": "retry_all", "total": len(results), **tally}
    return redirect(_url(".dead_letters", params), 303)


def _notice(args: Mapping[str, str]) -> tuple[str, str] | None:
    """The message a redirect carries in its query string, from a fixed set; else None."""
    code = args.get("notice", "")
    if code == "retry_all":
        total = args.get("total", "0")
        parts = [
            f"{args[f'n_{outcome}']} {label}"
            for outcome, label in RETRY_OUTCOMES
            if args.get(f"n_{outcome}", "").isdigit()
        ]
        detail = f": {', '.join(parts)}" if parts else ""
        level = "ok" if total.isdigit() and int(total) else "warn"
        return level, f"Retried {total if total.isdigit() else 0} dead letters{detail}."
    if code not in NOTICES:
        return None
    level, template = NOTICES[code]
    fields = {name: args.get(name, "")[:64] for name in ("target", "delivery")}
    return level, template.format(**fields)


# --- stranded accounts -------------------------------------------------------------------------


@bp.get("/stranded")
def stranded() -> BaseResponse:
    """Pending accounts whose activation cannot arrive or no longer works."""
    with dependencies().unit_of_work() as uow:
        accounts = operations.stranded(uow.connection, utcnow())
    return _html(
        render_template(
            "dashboard/stranded.html",
            page="stranded",
            accounts=accounts,
            notice=_notice(request.args),
        )
    )


@bp.post("/stranded/<int:user_id>/reissue")
def reissue(user_id: int) -> BaseResponse:
    """Send a stranded account a fresh activation code."""
    with dependencies().unit_of_work() as uow:
        delivery = operations.reissue_activation(
            uow.connection, dependencies(), user_id, actor=_actor(), now=utcnow()
        )
        uow.commit()
    notice = "reissue:done" if delivery else "reissue:not_pending"
    params = {"notice": notice, "target": str(user_id), "delivery": delivery}
    return redirect(_url(".stranded", params), 303)


# --- suppressions ------------------------------------------------------------------------------


@bp.get("/suppressions")
def suppressions() -> BaseResponse:
    """The suppressed addresses, with a Remove button each."""
    with dependencies().unit_of_work() as uow:
        entries = operations.list_suppressions(uow.connection)
    return _html(
        render_template(
            "dashboard/suppressions.html",
            page="suppressions",
            entries=entries,
            notice=_notice(request.args),
        )
    )


@bp.post("/suppressions/remove")
def remove_suppression() -> BaseResponse:
    """Let messages go to one address again."""
    address = request.form.get("address", "").strip().lower()[:254]
    with dependencies().unit_of_work() as uow:
        removed = operations.remove_suppressions(
            uow.connection, dependencies(), [address], actor=_actor(), now=utcnow()
        )
        uow.commit()
    notice = "suppression:removed" if removed else "suppression:absent"
    return redirect(_url(".suppressions", {"notice": notice, "target": address}), 303)
