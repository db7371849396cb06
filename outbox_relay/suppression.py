"""The suppression list as the relay reads and writes it, through one Suppressor for its life."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from shared.suppressions import Suppressor


class SuppressionList:
    """The list, hashed under its one Suppressor: made with the first connection that needs it
    (the list's key is kept in the database, which a relay may start before), kept after."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._secret_keys = secret_keys
        self._suppressor: Suppressor | None = None

    def _keyed(self, connection: Connection) -> Suppressor:
        if self._suppressor is None:
            self._suppressor = Suppressor.of(connection, self._secret_keys)
        return self._suppressor

    def among(self, connection: Connection, addresses: Iterable[str]) -> set[str]:
        """Which of `addresses` are suppressed."""
        return self._keyed(connection).among(connection, addresses)

    def add_rejected(self, connection: Connection, address: str, now: datetime) -> None:
        """Suppress an address the provider refused as such (5.1.x)."""
        self._keyed(connection).add(connection, address, reason="rejected", source="smtp", now=now)
