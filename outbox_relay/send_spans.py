"""The relay's spans while traces are on (shared/runtime/tracing.py): one for each delivery of a
claimed row, in the trace of the request that wrote it.

A span per delivery, consumer kind (the OpenTelemetry messaging conventions' "process" of a
message the API produced), named `deliver <channel>`, with the row's public id, purpose,
channel and attempt, the provider it went to (the relay's metric label: smtp, smtp_fallback,
sms, …) and its outcome (an `Ending`, or `handed_back` for a row given back untried). A failure
(a retry, a death, a provider down, a horizon passed) marks it failed.

Its parent is the trace context the row keeps (shared.runtime.tracing.KEY), on every try, so that
one trace holds the request and each try of its message. A retry (attempt 2 on) also links to that
context: it is no longer the request that causes it but the backoff, long after the request
ended, and the link is how the messaging conventions (and River's otelriver, a consumer span
per job worked) tell a message's creation apart from its processing; the first try, which the
request's commit woke, is its plain child. A row that keeps no context (an operator's reissue,
an event of the purge, a request that was not traced) gets a trace of its own: its delivery is
still worth seeing (a slow provider, a failure) and the sampler decides for it as for any
root.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from outbox_relay.claims import Claimed
from outbox_relay.decide import Outcome
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.precedence import Ticket
from shared.messaging.outbox import Ending
from shared.runtime import tracing

S = TypeVar("S")
Deliver = Callable[[S, Claimed, bool, Ticket], None]
# Outcomes that are no failure of the message: it went, or was not to go.
FINE = (Ending.SENT, Ending.WITHHELD, Ending.SUPPRESSED)
HANDED_BACK = "handed_back"


def traced(deliver: Deliver[S]) -> Deliver[S]:
    """`deliver` (Senders._deliver), in a span of the row's trace while traces are on."""

    @functools.wraps(deliver)
    def delivering(senders: S, row: Claimed, suppressed: bool, ticket: Ticket) -> None:
        traces = tracing.active()
        if traces is None:
            deliver(senders, row, suppressed, ticket)
            return
        attributes: dict[str, str | int] = {
            "outpost.outbox.id": row.public_id,
            "outpost.purpose": row.purpose,
            "outpost.channel": row.channel,
            "outpost.attempt": row.attempts + 1,
        }
        kept = row.params.get(tracing.KEY) or {}
        name = f"deliver {row.channel}"
        opened = traces.open(name, "consumer", kept, attributes, link=row.attempts > 0)
        try:
            deliver(senders, row, suppressed, ticket)
        finally:
            opened.close()

    return delivering


def provider(name: str) -> None:
    """Note the provider the current delivery goes to."""
    traces = tracing.active()
    if traces is not None:
        traces.note({"outpost.provider": name})


def outcome_book() -> type[OutcomeBook]:
    """The relay's OutcomeBook: while traces are on, one that notes each outcome on its
    delivery's span."""
    return TracedOutcomes if tracing.active() is not None else OutcomeBook


class TracedOutcomes(OutcomeBook):
    """An OutcomeBook that notes what became of a delivery on its span, current on the sender
    thread that collects the outcome or hands the row back."""

    def collect(self, outcome: Outcome) -> None:
        """Note the outcome, then keep it for the next write."""
        traces = tracing.active()
        if traces is not None:
            error = None if outcome.name in FINE else (outcome.error or outcome.name.value)
            traces.note({"outpost.outcome": outcome.name.value}, error)
        super().collect(outcome)

    def hand_back(self, row: Claimed, due: datetime, *, fallback: bool = False) -> None:
        """Note that the row goes back untried, then give it back."""
        traces = tracing.active()
        if traces is not None:
            traces.note({"outpost.outcome": HANDED_BACK})
        super().hand_back(row, due, fallback=fallback)
