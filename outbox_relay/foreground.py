"""`outbox-relay run`: the delivery daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import FrameType

from outbox_relay import metrics
from outbox_relay.bootstrap import build_relay
from outbox_relay.daemon import Daemon
from outbox_relay.heartbeat import Heartbeat
from outbox_relay.priority import yield_cpu
from outbox_relay.relay import Relay
from outbox_relay.render import TemplateError
from outbox_relay.wake import Wake
from shared.database.db import engine_for
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError

log = logging.getLogger(__name__)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def run(settings: Settings) -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT.

    The relay first lowers its CPU priority by RELAY_NICE: on a machine it shares with the API,
    a person signing up gets a little ahead of a message waiting for a core.
    """
    yield_cpu(settings.relay_nice)
    for warning in settings.warnings:
        log.warning(warning)
    wake = Wake()
    try:
        relay = build_relay(
            settings, engine_for(settings), heartbeat=Heartbeat().beat, wake=wake.set
        )
    except TemplateError as exc:
        print(f"outbox-relay: template error: {exc}", file=sys.stderr)
        return 2
    daemon = Daemon(relay, wake)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        daemon.stop()

    # Before anything outside can see the relay up (its metrics answering): a SIGTERM sent
    # once they answer then stops it as one sent later would, not by the default action.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, on_signal)
    try:
        metrics.serve(settings.relay_metrics_port, settings.relay_metrics_host)
    except metrics.MetricsPortInUse as exc:
        print(f"outbox-relay: {exc}", file=sys.stderr)
        return 1
    # Python runs a handler on the main thread, between two of its bytecodes. `stop` sets the
    # daemon's Events; had the handler interrupted the daemon's loop inside one of them, it
    # would wait forever for a lock its own thread holds. So the loop runs on a thread of its
    # own, and the main thread only waits for it (and re-raises what ended it). That thread,
    # and every thread it starts, blocks the signals: the kernel then delivers them to the
    # main thread, whose wait they interrupt; delivered to another, the handler would wait
    # for the main thread to wake by itself.
    with ThreadPoolExecutor(
        1,
        thread_name_prefix="daemon",
        initializer=signal.pthread_sigmask,
        initargs=(signal.SIG_BLOCK, STOP_SIGNALS),
    ) as runner:
        running = runner.submit(daemon.run)
        _stop_in_time(running, relay)
        try:
            running.result()
        except ConfigError as exc:
            print(f"outbox-relay: configuration error: {exc}", file=sys.stderr)
            return 2
    return 0


def _stop_in_time(running: Future[None], relay: Relay) -> None:
    """Wait for the daemon's thread; once a stop has waited RELAY_STOP_SECONDS for the sends in
    flight, break off those still waiting on a provider, so that the relay records them and
    exits before systemd's TimeoutStopSec kills it (and their outcome with it)."""
    while not relay.stopping.is_set():
        if wait([running], timeout=0.5).done:
            return
    if wait([running], timeout=relay.settings.relay_stop_seconds).not_done:
        log.warning(
            "sends still in flight after RELAY_STOP_SECONDS: broken off",
            extra={"seconds": relay.settings.relay_stop_seconds},
        )
        relay.senders.cut()
