"""Providers paused now, shared by every relay on the database (`provider_pauses`): an operator's
pauses, which every relay obeys, the relays' own, recorded for operators to see, and `told_at`,
which lets one relay among many tell the application `provider.down` once. Its SQL, named once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from shared.database.models import provider_pauses
from shared.messaging.outbox import Channel
from shared.settings.config import Settings
from shared.vocabulary import PausedBy


def providers_of(settings: Settings) -> dict[Channel, tuple[str, ...]]:
    """The providers of each channel, in the order relays try them."""
    sms = ("sms",) if settings.sms_url else ()
    return {
        Channel.EMAIL: ("smtp", "smtp_fallback") if settings.mail_fallback_provider else ("smtp",),
        Channel.SMS: sms + (("sms_fallback",) if settings.sms_fallback_url else ()),
        # Always: endpoints are added while relays run (shared/messaging/webhook_endpoints.py).
        Channel.WEBHOOK: ("webhook",),
    }


@dataclass(frozen=True)
class Pause:
    """One provider's pause: who paused it, why, since when, until when (an operator's: None
    until resumed; a relay's: its lease), and when the application was told."""

    provider: str
    paused_by: PausedBy
    actor: str | None
    reason: str
    since: datetime
    until: datetime | None
    told_at: datetime | None

    def lasts(self, now: datetime) -> bool:
        """Whether it still holds at `now` (an operator's may have run out)."""
        return self.until is None or self.until > now

    def by_hand(self, now: datetime) -> bool:
        """Whether an operator holds the provider at `now`."""
        return self.paused_by == PausedBy.OPERATOR and self.lasts(now)


def _pause(row: Row[tuple[object, ...]]) -> Pause:
    return Pause(**row._mapping)


# Its columns as Pause names them.
_COLUMNS = [c.label("reason") if c.name == "why" else c for c in provider_pauses.c]
_EVERY = select(*_COLUMNS)


def pauses(connection: Connection) -> dict[str, Pause]:
    """Every pause recorded, by provider."""
    return {p.provider: p for p in map(_pause, connection.execute(_EVERY))}


def held(connection: Connection, now: datetime) -> set[str]:
    """The providers an operator holds at `now`."""
    return {name for name, p in pauses(connection).items() if p.by_hand(now)}


def _insert(connection: Connection, values: dict[str, object]) -> postgresql.Insert:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement: postgresql.Insert = dialect.insert(provider_pauses).values(values)
    return statement


def pause_by_hand(
    connection: Connection,
    provider: str,
    *,
    actor: str,
    reason: str,
    until: datetime | None,
    now: datetime,
) -> None:
    """An operator's pause of `provider`: it replaces any pause there is, keeping its start and
    whether the application was told (the outage goes on)."""
    mine = {"paused_by": PausedBy.OPERATOR, "actor": actor[:200], "why": reason, "until": until}
    statement = _insert(connection, {"provider": provider, "since": now, **mine})
    connection.execute(statement.on_conflict_do_update(index_elements=["provider"], set_=mine))


def record_relay_pause(
    connection: Connection, provider: str, *, reason: str, since: datetime, until: datetime
) -> None:
    """A relay's pause of `provider` on its own failure, unless a pause is recorded already.
    `until` is a lease, renewed while a relay finds the provider down (`renew`): the pause of
    a relay that died ends by itself."""
    values = {"provider": provider, "paused_by": PausedBy.RELAY, "why": reason, "since": since}
    statement = _insert(connection, {**values, "until": until})
    connection.execute(statement.on_conflict_do_nothing())


def renew(connection: Connection, provider: str, until: datetime) -> None:
    """Extend the lease of a relay's pause of `provider` to `until`."""
    connection.execute(
        update(provider_pauses)
        .where(
            provider_pauses.c.provider == provider, provider_pauses.c.paused_by == PausedBy.RELAY
        )
        .values(until=until)
    )


def end(
    connection: Connection, provider: str, paused_by: PausedBy, until: datetime | None = None
) -> Pause | None:
    """Delete `provider`'s pause made by `paused_by` (the operator's only if it still ends at
    `until`, when given: one that ran out, not one renewed meanwhile); the pause, if this ended it.
    """
    where = [provider_pauses.c.provider == provider, provider_pauses.c.paused_by == paused_by]
    if until is not None:
        where.append(provider_pauses.c.until == until)
    ended = connection.execute(delete(provider_pauses).where(*where).returning(*_COLUMNS))
    row = ended.one_or_none()
    return None if row is None else _pause(row)


def claim_telling(connection: Connection, provider: str, now: datetime) -> bool:
    """Mark `provider`'s pause told at `now`; False if another relay told it first."""
    told = connection.execute(
        update(provider_pauses)
        .where(provider_pauses.c.provider == provider, provider_pauses.c.told_at.is_(None))
        .values(told_at=now)
    )
    return told.rowcount == 1
