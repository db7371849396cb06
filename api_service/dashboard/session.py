"""The dashboard's session: a signed cookie bound to ADMIN_TOKEN, its CSRF token, same-origin."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from api_service.dependencies import dependencies
from api_service.flows import guards
from shared.clock import utcnow
from shared.secrets.codes import derive_key
from shared.settings.config import DASHBOARD_SESSION_SECONDS

COOKIE = "outpost_dashboard"
COOKIE_PATH = "/admin"
SESSION_SECONDS = DASHBOARD_SESSION_SECONDS


def _secret() -> str:
    """SECRET_KEY, the root of every key the dashboard derives."""
    return dependencies().settings.secret_key


def serializer() -> URLSafeTimedSerializer:
    """Signs and checks session cookies with a subkey of SECRET_KEY kept for them alone."""
    key = derive_key(_secret(), "outpost/dashboard-session")
    return URLSafeTimedSerializer(key, salt="outpost/dashboard-session")


def token_binding() -> str:
    """A keyed digest of ADMIN_TOKEN: rotating the token ends every session, and never shows it."""
    key = derive_key(_secret(), "outpost/dashboard-token-binding")
    token = dependencies().settings.admin_token or ""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]


def session_id() -> str | None:
    """The id of the valid session the request's cookie carries, if any."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        data = serializer().loads(value, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict):
        return None
    sid, bound = data.get("sid"), data.get("tk")
    if not isinstance(sid, str) or not isinstance(bound, str):
        return None
    if not hmac.compare_digest(bound.encode(), token_binding().encode()):
        return None
    if guards.signed_out(dependencies(), sid, SESSION_SECONDS, utcnow()):
        return None
    return sid


def end_session(sid: str) -> None:
    """Refuse the session's cookie from now on (api_service.flows.guards.sign_out)."""
    guards.sign_out(dependencies(), sid, utcnow())


def csrf_token(sid: str) -> str:
    """The CSRF token of a session: an HMAC of its id, so nothing is stored server-side."""
    key = derive_key(_secret(), "outpost/dashboard-csrf")
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def set_session_cookie(response: BaseResponse, value: str, max_age: int) -> None:
    """Set (or, with an empty value and no age, remove) the session cookie, hardened."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="Strict",
    )


def same_origin() -> bool:
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


def is_dashboard_path() -> bool:
    """Whether the request is for /admin or below it."""
    return request.path == COOKIE_PATH or request.path.startswith(COOKIE_PATH + "/")


def cookie_refused() -> bool:
    """Whether the browser will drop the session cookie: it is Secure, and this is plain HTTP.

    Browsers keep a Secure cookie over http:// only for loopback hosts. Behind a TLS proxy
    (TRUSTED_PROXIES), ProxyFix has already made the scheme the one the proxy reports.
    """
    if request.scheme == "https":
        return False
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host
    host = host.split("]")[0].lstrip("[")
    return not (host == "localhost" or host.startswith("127.") or host == "::1")


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: only a dashboard path, never another site."""
    default = url_for(".overview")
    if not value or "\\" in value or not value.startswith(COOKIE_PATH):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(COOKIE_PATH):
        return default
    return value
