"""What every operator command gets besides its connection, and how it refuses bad usage."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import Connection

from shared.config import Settings
from shared.secretbox import SecretBox

PROG = "outbox-relay"


@dataclass(frozen=True)
class CliDependencies:
    """The dependencies a retry or reissue queues through: the settings and their secret box."""

    settings: Settings
    box: SecretBox


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
