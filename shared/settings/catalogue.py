"""Every declared variable, in the reference's order: those Settings reads, then those the
processes read beside it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from shared.settings import (
    abuse,
    database,
    keys,
    lifetimes,
    mail,
    processes,
    relay,
    signup,
    sms,
)
from shared.settings.variable import Group, Variable


def _declared(*modules: ModuleType) -> tuple[Variable[Any], ...]:
    """The variables `modules` declare, in the order they are written."""
    found = (value for module in modules for value in vars(module).values())
    return tuple(dict.fromkeys(value for value in found if isinstance(value, Variable)))


# Read by Settings.from_env.
SETTINGS = _declared(database, keys, mail, sms, signup, abuse, lifetimes, relay)
# Read beside Settings: gunicorn's bind and workers, the log level, the demo's own.
BESIDE = _declared(processes)
VARIABLES = SETTINGS + BESIDE
BY_NAME = {variable.name: variable for variable in VARIABLES}
GROUPS: tuple[Group, ...] = tuple(dict.fromkeys(variable.group for variable in VARIABLES))
