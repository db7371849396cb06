"""The dependencies of the Flask application handling the current request."""

from __future__ import annotations

from flask import current_app

from api_service.flows.dependencies import Dependencies


def dependencies() -> Dependencies:
    """The dependencies of the application handling the current request."""
    value = current_app.extensions["outpost"]
    assert isinstance(value, Dependencies)
    return value
