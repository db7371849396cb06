"""The HTTP API: `create_app()` is the WSGI application gunicorn serves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from api_service import dashboard, openapi
from api_service.idempotency import IdempotencyKeys
from api_service.limits import defer_client_check, deferred_client_check, limit_client
from api_service.metrics import instrument
from api_service.passwords import Passwords, Verifier
from api_service.problems import register_error_handlers
from api_service.refusals import RefusedClients
from api_service.request_body import MAX_BODY_BYTES
from api_service.routes import (
    activations,
    admin,
    deliveries,
    health,
    logins,
    password_resets,
    provider_events,
    registrations,
)
from api_service.services import Services, services
from api_service.throttle import Throttle
from shared.clock import utcnow
from shared.config import Settings
from shared.db import engine_for
from shared.logs import configure_logging
from shared.secretbox import SecretBox

BLUEPRINTS = (
    registrations,
    deliveries,
    activations,
    password_resets,
    logins,
    provider_events,
    health,
    admin,
)
# The routes that hash a password and take their deferred per-IP check (deferred_client_check).
CHECKED_BESIDE_THE_HASH = frozenset(
    {"registrations.create_registration", "password_resets.confirm_password_reset"}
)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API; `config` overrides the environment, variable by variable."""
    settings = Settings.from_env({**os.environ, **(config or {})})
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config.update(openapi.SETTINGS)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    engine = engine_for(settings)
    app.extensions["outpost"] = Services(
        settings=settings,
        engine=engine,
        passwords=Passwords(beside_transaction=engine.dialect.name != "sqlite"),
        verifier=Verifier(),
        box=SecretBox(settings.secret_key),
        throttle=Throttle(settings.secret_key),
        idempotency=IdempotencyKeys(settings.secret_key),
        refused_clients=RefusedClients(),
    )
    api = openapi.Api(app)
    register_error_handlers(app)
    instrument(app)
    app.before_request(_limit_posts)
    # Registered after the metrics' hook, so that it runs before it and they count its answer.
    app.after_request(_check_client_if_still_due)
    for module in BLUEPRINTS:
        api.register_blueprint(module.bp)
    app.register_blueprint(dashboard.bp)
    return app


def _limit_posts() -> None:
    """Every public POST counts against its client IP, whatever its body.

    A route that hashes a password runs the check beside the hash instead, unless this worker
    refused the client lately (see RefusedClients): the answer then waits for the longer of
    the two rather than both in turn.
    """
    if request.method != "POST":
        return
    ip = request.remote_addr or "unknown"
    app_services = services()
    check = partial(limit_client, app_services, ip, utcnow())
    if request.endpoint in CHECKED_BESIDE_THE_HASH and not app_services.refused_clients.recent(ip):
        defer_client_check(check)
    else:
        check()


def _check_client_if_still_due(response: Response) -> Response:
    """Count the POSTs whose check was deferred but never reached (a bad body, say)."""
    check = deferred_client_check()
    if check is None:
        return response
    try:
        check()
    except Exception as exc:  # answered as any error of the request would be
        return current_app.make_response(current_app.handle_user_exception(exc))
    return response
