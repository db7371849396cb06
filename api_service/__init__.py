"""The HTTP API: `create_app()` is the WSGI application gunicorn serves."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask

from api_service.passwords import make_hasher
from api_service.problems import register_error_handlers
from api_service.routes import deliveries, health, registrations
from api_service.services import Services
from shared.config import Settings
from shared.db import create_engine_for
from shared.logs import configure_logging
from shared.secretbox import SecretBox

MAX_BODY_BYTES = 16 * 1024


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the API; `config` overrides the environment, variable by variable."""
    settings = Settings.from_env({**os.environ, **(config or {})})
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["outpost"] = Services(
        settings=settings,
        engine=create_engine_for(settings.database_url),
        hasher=make_hasher(),
        box=SecretBox(settings.secret_key),
    )
    register_error_handlers(app)
    for module in (registrations, deliveries, health):
        app.register_blueprint(module.bp)
    return app
