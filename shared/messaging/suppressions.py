"""The suppression list: addresses refused for good (a 5.1.x refusal, a hard bounce, a
complaint), which no message is sent to any more until an operator removes them.

Each entry keeps a keyed hash of the address beside it, so that erasing an account can drop
the address and still suppress it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.database.keyring import first_list_key, suppression_key
from shared.database.models import suppression_counts, suppressions

# Its words live with the tables' (shared/vocabulary.py), which store them.
from shared.vocabulary import SuppressionReason as SuppressionReason

REASONS = tuple(reason.value for reason in SuppressionReason)
# Built once: the relay asks it for every claim.
_SUPPRESSED = select(suppressions.c.address_hash).where(
    suppressions.c.address_hash.in_(bindparam("hashes", expanding=True))
)


@dataclass(frozen=True)
class Suppression:
    """One suppressed address (None once its account was erased), why, from where, since when."""

    id: int
    address: str | None
    reason: SuppressionReason
    source: str
    event_id: int | None
    created_at: datetime


class Suppressor:
    """Hashes addresses with the list's key and reads and writes the list."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def of(cls, connection: Connection, secret_keys: tuple[str, ...]) -> Suppressor:
        """The list's suppressor, its key unsealed with SECRET_KEY or a fallback (keyring)."""
        return cls(suppression_key(connection, secret_keys))

    @classmethod
    def under(cls, secret_key: str) -> Suppressor:
        """A suppressor keyed as a list first made under `secret_key` is."""
        return cls(first_list_key(secret_key))

    def hash(self, address: str) -> str:
        """The keyed hash an entry keeps of `address` (already normalised)."""
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()

    def add(
        self,
        connection: Connection,
        address: str,
        *,
        reason: str,
        source: str,
        now: datetime,
        event_id: int | None = None,
    ) -> None:
        """Suppress `address`; an address already on the list keeps its first entry."""
        values = {
            "address": address,
            "address_hash": self.hash(address),
            "reason": reason,
            "source": source,
            "event_id": event_id,
            "created_at": now,
        }
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(suppressions).values(values)
        connection.execute(statement.on_conflict_do_nothing(index_elements=["address_hash"]))

    def among(self, connection: Connection, addresses: Iterable[str]) -> set[str]:
        """Which of `addresses` are suppressed."""
        by_hash = {self.hash(address): address for address in addresses}
        if not by_hash:
            return set()
        found = connection.execute(_SUPPRESSED, {"hashes": list(by_hash)}).scalars()
        return {by_hash[h] for h in found}

    def remove(self, connection: Connection, addresses: Iterable[str]) -> list[str]:
        """Take `addresses` off the list; those that were on it."""
        wanted = {self.hash(address): address for address in addresses}
        if not wanted:
            return []
        removed = connection.execute(
            delete(suppressions)
            .where(suppressions.c.address_hash.in_(list(wanted)))
            .returning(suppressions.c.address_hash)
        ).scalars()
        return sorted(wanted[h] for h in removed)

    def lift_unsubscribed(self, connection: Connection, address: str) -> None:
        """Take `address` off the list if it is there by its own unsubscribing: its owner
        proved it, so the "no account" notices it refused are for someone else no more."""
        connection.execute(
            delete(suppressions).where(
                suppressions.c.address_hash == self.hash(address),
                suppressions.c.reason == SuppressionReason.UNSUBSCRIBED,
            )
        )

    def forget_address(self, connection: Connection, address: str) -> None:
        """Drop the address itself from its entry, keeping the hash (erasure)."""
        connection.execute(
            suppressions.update()
            .where(
                or_(
                    suppressions.c.address_hash == self.hash(address),
                    suppressions.c.address == address,
                )
            )
            .values(address=None)
        )


class LazySuppressor:
    """The one suppressor of a process, made on first use: its key is kept in the keyring table,
    which is read through the first connection that asks for it."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._secret_keys = secret_keys
        self._made: Suppressor | None = None

    def of(self, connection: Connection) -> Suppressor:
        """The suppressor, its key read through `connection` the first time."""
        if self._made is None:
            self._made = Suppressor.of(connection, self._secret_keys)
        return self._made


def listed(connection: Connection, *, limit: int = 500) -> list[Suppression]:
    """The newest entries first; needs no key."""
    rows = connection.execute(
        select(
            suppressions.c.id,
            suppressions.c.address,
            suppressions.c.reason,
            suppressions.c.source,
            suppressions.c.event_id,
            suppressions.c.created_at,
        )
        .order_by(suppressions.c.created_at.desc(), suppressions.c.id.desc())
        .limit(limit)
    )
    return [Suppression(**row._mapping) for row in rows]


def count(connection: Connection) -> int:
    """How many addresses are suppressed, from their tally (shared/operations/tallies.py),
    which reads no entry."""
    total = func.coalesce(func.sum(suppression_counts.c.n), 0)
    return int(connection.execute(select(total)).scalar_one())
