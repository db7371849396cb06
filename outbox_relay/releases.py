"""Rows handed back untried: due again, their claim let go, in one fenced statement a claim."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from outbox_relay.claims import Claimed
from outbox_relay.store import OnFallback
from shared.messaging import transitions


def release(
    engine: Engine,
    rows: list[Claimed],
    now: datetime,
    *,
    due: datetime | None = None,
    on_fallback: OnFallback | None = None,
) -> int:
    """Hand rows back untried (shutdown, too little lease left, no provider or no rate slot
    in time), due again at `due` (now by default); returns how many. `on_fallback`: their
    codes fall back on the other channel, in the same transaction, if all were still held."""
    if not rows:
        return 0
    released = 0
    with engine.begin() as connection:
        for token, ids in _by_claim(rows).items():
            held = {"ids": ids, "token": token, "due": due or now}
            released += connection.execute(transitions.RELEASE, held).rowcount
        if on_fallback is not None and released == len(rows):
            on_fallback(connection, rows)
    return released


def _by_claim(rows: list[Claimed]) -> dict[str, list[int]]:
    """Row ids grouped by the claim that holds them: one fenced statement per claim."""
    grouped: dict[str, list[int]] = {}
    for row in rows:
        grouped.setdefault(row.claim_token, []).append(row.id)
    return grouped
