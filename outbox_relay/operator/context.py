"""What every operator command gets besides its connection, and how it refuses bad usage."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import Connection

from shared.database.throttle import Throttle
from shared.messaging.suppressions import LazySuppressor
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

PROG = "outbox-relay"


@dataclass(frozen=True)
class CliDependencies:
    """The dependencies a retry or reissue queues through: the settings, their secret box,
    throttle and suppressor, built once per command."""

    settings: Settings
    box: SecretBox
    throttle: Throttle
    suppressor: LazySuppressor
    # An operator's messages answer no request: no client's budgets, nothing hidden from anyone.
    cause: None = None

    @classmethod
    def of(cls, settings: Settings) -> CliDependencies:
        """The dependencies of a command run with `settings`."""
        return cls(
            settings,
            SecretBox(*settings.secret_keys),
            Throttle(settings.secret_key),
            LazySuppressor(settings.secret_keys),
        )


@dataclass(frozen=True)
class Context:
    """What every command gets besides its connection: arguments, deps, actor, time, output."""

    args: argparse.Namespace
    deps: CliDependencies
    actor: str
    now: datetime
    out: TextIO
    err: TextIO


Command = Callable[[Connection, Context], int]


class UsageError(Exception):
    """Arguments argparse accepted but that make no sense together."""
