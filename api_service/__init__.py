"""The HTTP API: `create_app()` is the WSGI application gunicorn serves."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from api_service import dashboard, openapi
from api_service.idempotency import IdempotencyKeys
from api_service.limits import limit_client
from api_service.metrics import instrument
from api_service.passwords import Passwords
from api_service.problems import register_error_handlers
from api_service.routes import (
    activations,
    admin,
    deliveries,
    health,
    password_resets,
    registrations,
)
from api_service.services import Services, services
from api_service.throttle import Throttle
from shared.clock import utcnow
from shared.config import Settings
from shared.db import create_engine_for
from shared.logs import configure_logging
from shared.secretbox import SecretBox

MAX_BODY_BYTES = 16 * 1024
BLUEPRINTS = (registrations, deliveries, activations, password_resets, health, admin)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API; `config` overrides the environment, variable by variable."""
    settings = Settings.from_env({**os.environ, **(config or {})})
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config.update(openapi.SETTINGS)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    engine = create_engine_for(settings.database_url)
    app.extensions["outpost"] = Services(
        settings=settings,
        engine=engine,
        passwords=Passwords(beside_transaction=engine.dialect.name != "sqlite"),
        box=SecretBox(settings.secret_key),
        throttle=Throttle(settings.secret_key),
        idempotency=IdempotencyKeys(settings.secret_key),
    )
    api = openapi.Api(app)
    register_error_handlers(app)
    instrument(app)
    app.before_request(_limit_posts)
    for module in BLUEPRINTS:
        api.register_blueprint(module.bp)
    app.register_blueprint(dashboard.bp)
    return app


def _limit_posts() -> None:
    """Every public POST counts against its client IP, whatever its body."""
    if request.method == "POST":
        limit_client(services(), request.remote_addr or "unknown", utcnow())
