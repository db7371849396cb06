"""The HTTP API: `create_app()` is the WSGI application gunicorn serves."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api_service import dashboard, http_limits, openapi, queue_time, request_spans
from api_service.flows.client_limit import ClientLimit
from api_service.flows.dependencies import Dependencies
from api_service.flows.idempotency import IdempotencyKeys
from api_service.flows.passwords import Passwords, Verifier
from api_service.flows.sms_counts import known_regions
from api_service.metrics import instrument, known_events
from api_service.problems import register_error_handlers
from api_service.request_body import MAX_BODY_BYTES
from api_service.routes import (
    activations,
    address_changes,
    admin,
    admin_confirm,
    admin_providers,
    deliveries,
    health,
    invitations,
    login_codes,
    logins,
    password_resets,
    provider_events,
    registrations,
    unsubscribe,
    webhook_endpoints,
)
from shared.accounts.unsubscribe import Unsubscribe
from shared.database import keyring
from shared.database.db import engine_for
from shared.database.throttle import Throttle
from shared.messaging.suppressions import LazySuppressor
from shared.runtime.logs import configure_logging
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

if TYPE_CHECKING:
    from api_service.flows.captcha import HumanCheck

log = logging.getLogger(__name__)

BLUEPRINTS = (
    registrations,
    deliveries,
    activations,
    password_resets,
    address_changes,
    logins,
    login_codes,
    provider_events,
    health,
    admin,
    admin_confirm,
    invitations,
    webhook_endpoints,
    admin_providers,
    unsubscribe,
)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API; `config` overrides the environment, variable by variable."""
    environ = {**os.environ, **(config or {})}
    settings = Settings.from_env(environ)
    configure_logging()
    for warning in settings.warnings:
        log.warning(warning)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config.update(openapi.SETTINGS)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
        queue_time.init_app(app, settings.api_queue_timeout)
    engine = engine_for(settings)
    keyring.admit_at_start(engine, settings)
    throttle = Throttle(settings.secret_key)
    app.extensions["outpost"] = Dependencies(
        settings=settings,
        engine=engine,
        passwords=Passwords(beside_transaction=engine.dialect.name != "sqlite"),
        verifier=Verifier(),
        box=SecretBox(*settings.secret_keys),
        throttle=throttle,
        suppressor=LazySuppressor(settings.secret_keys),
        idempotency=IdempotencyKeys(settings.secret_key),
        client_limit=ClientLimit(settings.ip_rate_limit, throttle),
        unsubscribe=Unsubscribe(*settings.secret_keys),
        human_check=_human_check(settings),
    )
    api = openapi.Api(app)
    register_error_handlers(app)
    instrument(app)
    request_spans.init_app(app, environ)
    known_events()
    known_regions(settings.sms_allowed_regions or ())
    http_limits.init_app(app)
    for module in BLUEPRINTS:
        api.register_blueprint(module.bp)
    app.register_blueprint(dashboard.bp)
    return app


def _human_check(settings: Settings) -> HumanCheck | None:
    """The human check CAPTCHA_URL configures, if any."""
    if not settings.captcha:
        return None
    # Its HTTP client (httpx, with rich and click under it) loads only where one is configured.
    from api_service.flows.captcha import HumanCheck

    return HumanCheck(settings.captcha, settings.captcha_min_score)
