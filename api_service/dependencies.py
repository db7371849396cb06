"""The dependencies of the Flask application handling the current request."""

from __future__ import annotations

from flask import current_app

from api_service.flows.dependencies import Dependencies
from api_service.flows.unit_of_work import UnitOfWork


def dependencies() -> Dependencies:
    """The dependencies of the application handling the current request."""
    value = current_app.extensions["outpost"]
    assert isinstance(value, Dependencies)
    return value


def unit_of_work() -> UnitOfWork:
    """A new unit of work of the application handling the current request."""
    return dependencies().unit_of_work()
