"""The relay's SMTP_RATE slots: one row a provider in `provider_slots`, shared by every relay."""

from __future__ import annotations

from sqlalchemy import Engine, text

# One provider's next free slot under SMTP_RATE: each reservation moves it on by :step seconds
# from whichever is later, itself or :now, in one statement, so relays on one database never
# hand out the same slot. Returns the start of the slot reserved (seconds since the epoch).
_RESERVE_SLOT = """
    INSERT INTO provider_slots (provider, next_at) VALUES (:provider, :now + :step)
    ON CONFLICT (provider) DO UPDATE SET next_at = {later}(provider_slots.next_at, :now) + :step
    RETURNING next_at - :step
"""
_RESERVE_SLOT_BY_DIALECT = {
    "postgresql": text(_RESERVE_SLOT.format(later="GREATEST")),
    "sqlite": text(_RESERVE_SLOT.format(later="MAX")),
}


def reserve_slot(engine: Engine, provider: str, *, step: float, now: float) -> float:
    """Reserve `provider`'s next slot, `step` seconds after the previous one; when it starts.

    Times are seconds since the epoch: relays on several hosts share slots by the clock, as
    they share leases.
    """
    statement = _RESERVE_SLOT_BY_DIALECT[engine.dialect.name]
    with engine.begin() as connection:
        slot = connection.execute(
            statement, {"provider": provider, "now": now, "step": step}
        ).scalar_one()
    return float(slot)
