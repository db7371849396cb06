"""Doing what decide.py decides of a row: the operator and its provider told, the provider
paused and its sessions restarted, the outcome booked or the row handed back. The one place
with those effects; River's job completer is the model."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from outbox_relay import claims
from outbox_relay.decide import Decision, HandBack, Note, Outcome, PauseProvider, Tell
from outbox_relay.outcomes import OutcomeBook
from outbox_relay.providers import Provider
from outbox_relay.send_times import SendTimes, ms_since
from outbox_relay.sessions import Sessions
from shared.clock import utcnow

log = logging.getLogger(__name__)


class Doer:
    """Does each decision of the senders' rows on the book of outcomes and the providers'
    sessions."""

    def __init__(
        self,
        outcomes: OutcomeBook,
        sessions: dict[str, Sessions],
        send_times: SendTimes,
        *,
        stopping: threading.Event,
        heartbeat: Callable[[], None],
    ) -> None:
        self._outcomes = outcomes
        self._sessions = sessions
        self._send_times = send_times
        self._stopping = stopping
        self._heartbeat = heartbeat
        # The rows told of already, of a note said once a row: a line a lease for a day buried
        # every other error; one names each message whose mail is lost, and a restart (after a
        # fix of the keys) tells again of those still held.
        self._told_once: set[int] = set()

    def do(self, row: claims.Claimed, decision: Decision, provider: Provider | None) -> None:
        """Do what was decided of `row`, whose send was taken for `provider` (if any).

        The provider hears of a send it never saw first, so that a trial goes at once to the
        next send; of an answer once the outcome is collected, so that a recount (a provider
        answering its first probe at once) finds it, written or waiting.
        """
        note = decision.note
        if note is not None and not (note.once and row.id in self._told_once):
            _tell(row, note)
            if note.once:
                self._told_once.add(row.id)
        told = decision.provider
        if provider is not None and told is Tell.UNTRIED:
            provider.untried()
        fate = decision.fate
        if isinstance(fate, HandBack):
            self._outcomes.hand_back(row, fate.due, fallback=fate.fallback)
            return
        if decision.poses and provider is not None:
            fate = self._pose(fate, provider)
        self._outcomes.collect(fate)
        if provider is not None and told is Tell.ANSWERED:
            provider.answered()
        elif provider is not None and isinstance(told, PauseProvider):
            self._pause(provider, told)

    def _pause(self, provider: Provider, pause: PauseProvider) -> None:
        """Pause `provider`, its sessions back to one and none kept idle."""
        recount = pause.recount

        def counted() -> None:
            self._outcomes.recount(recount(utcnow()))

        provider.pause(pause.reason, pause.wait, counted)
        self._sessions[provider.name].restart()
        self._sessions[provider.name].close_idle()

    def _pose(self, outcome: Outcome, provider: Provider) -> Outcome:
        """`outcome`, once the time `provider` takes to accept a message has passed (a stop
        cuts the wait short), with that time: while the provider is paused, it waited as the
        others do (`pick`)."""
        started = time.perf_counter()
        self._stopping.wait(self._send_times.typical(provider.name))
        self._heartbeat()
        return replace(outcome, ms=ms_since(started))


def _tell(row: claims.Claimed, note: Note) -> None:
    """Tell the operator what a decision says of `row`."""
    extra = {"id": row.public_id}
    if note.error is not None:
        extra["error"] = note.error
    log.log(note.level, note.message, extra=extra, exc_info=note.bug)
