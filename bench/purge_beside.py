"""Registrations beside retention's purge: their answer times while the purge runs and while it
waits, in turns, and how sure the comparison is; then the same beside a neighbour that uses as
much CPU as the purge did and touches no database, to tell the purge's own cost from what any
process costs the registrations on a machine whose cores they share.

The purge runs in a process of its own, as the relay runs it (outbox_relay/daemon.py), not in
the process that times the registrations: as a thread of that process it read a smaller move
(bench/README.md, stop 57). Used by bench/scale_data.py.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from multiprocessing.context import SpawnContext
from multiprocessing.queues import Queue
from pathlib import Path
from typing import TypeAlias

from sqlalchemy import Engine, text

from bench.common import client_address, served
from bench.cpu import TICKS_PER_SECOND, process_ticks
from shared import operations
from shared.database.db import create_engine_for
from shared.settings.config import Settings
from support import processes

PASSWORD = "correct horse battery staple"
# Seconds the purge runs, then waits, in turn, while registrations go on (Turns).
WINDOW = 5.0
# Seconds of turns at most: 30 of each kind; a longer purge then finishes alone.
TURNS_FOR = 300.0
# Resamples of the bootstrap interval of p95 ran ÷ waited.
RESAMPLES = 2_000
# A neighbour's bursts on a core, in seconds (about one of the purge's batches), and how many
# seconds of its turns to run it runs.
BURST = 0.011
NEIGHBOUR_FOR = 60.0
# What a process beside the registrations puts on its queue: rows it deleted by kind, its
# seconds (its waits out) and the CPU seconds it used.
Outcome = tuple[dict[str, int], float, float]
Results: TypeAlias = "Queue[Outcome]"
# Registrations while it ran, while it waited, and its Outcome.
Beside = tuple[list[float], list[float], Outcome]


def register(port: int, count: int, label: str) -> list[float]:
    """`count` registrations one at a time; their answer times in ms."""
    times = []
    for n in range(count):
        body = {"email": f"r-{label}-{n}-{time.monotonic_ns()}@example.com", "password": PASSWORD}
        started = time.perf_counter()
        answer = processes.post(
            f"http://127.0.0.1:{port}/v1/registrations",
            body,
            {"X-Forwarded-For": client_address()},
        )
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status == 202, answer
    return times


def p95(times: list[float]) -> float:
    """The 95th percentile; not a number with fewer than 20 times."""
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else math.nan


def p50(times: list[float]) -> float:
    """The median; not a number with no times."""
    return statistics.median(times) if times else math.nan


def ratio_interval(ran: list[float], waited: list[float]) -> tuple[float, float]:
    """The 95 % bootstrap interval of p95(ran) ÷ p95(waited): how far the ratio of these two
    samples can be from the machine's own by chance alone; not numbers with fewer than 20."""
    if min(len(ran), len(waited)) < 20:
        return math.nan, math.nan
    chance = random.Random(51)
    ratios = sorted(
        p95(chance.choices(ran, k=len(ran))) / p95(chance.choices(waited, k=len(waited)))
        for _ in range(RESAMPLES)
    )
    return ratios[int(RESAMPLES * 0.025)], ratios[int(RESAMPLES * 0.975) - 1]


class Turns:
    """The purge's rests, made to run and wait in turns of WINDOW seconds while registrations
    go on: the registrations of each kind of turn span the same minutes (checkpoints,
    autovacuum, the machine's other work), which registrations before and after cannot. The
    first turn is a wait, so that a purge shorter than a turn (a day at 100,000 messages, 5 s)
    is still compared with its rest. Shared with the purge's process."""

    def __init__(self, context: SpawnContext) -> None:
        self.running = context.Event()
        self.between = context.Event()  # no batch of the purge in flight
        self.ready = context.Event()  # the process has started and connected
        self.waited = context.Value("d", 0.0)

    def rest(self, seconds: float) -> bool:
        """The purge's rest (shared/operations/retention.py), then its turn to run."""
        self.between.set()
        time.sleep(seconds)
        started = time.perf_counter()
        self.running.wait()
        self.waited.value += time.perf_counter() - started
        self.between.clear()
        return True

    def take(self, until: multiprocessing.process.BaseProcess) -> None:
        """Turn the purge on and off every WINDOW seconds until `until` ends or TURNS_FOR
        have passed; then leave it running."""
        ends = time.monotonic() + TURNS_FOR
        while until.is_alive() and time.monotonic() < ends:
            until.join(WINDOW)
            if self.running.is_set():
                self.running.clear()
            else:
                self.running.set()
        self.running.set()

    def now(self) -> str | None:
        """'during' while the purge may run, 'apart' while it waits with no batch in flight."""
        if self.running.is_set():
            return "during"
        return "apart" if self.between.is_set() else None


def purge_apart(env: dict[str, str], now: datetime, turns: Turns, results: Results) -> None:
    """Retention's purge as of `now`, in this process; puts the rows it deleted, by kind, its
    seconds (waits out, rests in) and the CPU seconds it and its backend used on `results`."""
    settings = Settings.from_env(env)
    engine = create_engine_for(settings.database_url)
    with engine.connect() as connection:
        backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        connection.commit()
        ticks = -process_ticks(backend) - process_ticks(os.getpid())
        turns.ready.set()
        started = time.perf_counter()
        purged = operations.purge(connection, settings, actor="bench", now=now, rest=turns.rest)
        seconds = time.perf_counter() - started - turns.waited.value
        ticks += process_ticks(backend) + process_ticks(os.getpid())
    results.put((asdict(purged), seconds, ticks / TICKS_PER_SECOND))
    engine.dispose()


def neighbour_apart(share: float, turns: Turns, results: Results) -> None:
    """A neighbour that touches no database: bursts of BURST on a core, resting between them
    so that it uses `share` of one, for NEIGHBOUR_FOR seconds of its turns to run."""
    turns.ready.set()
    started = time.perf_counter()
    while time.perf_counter() - started - turns.waited.value < NEIGHBOUR_FOR:
        burst_ends = time.perf_counter() + BURST
        while time.perf_counter() < burst_ends:
            pass
        turns.rest(BURST * (1 / share - 1))
    results.put(({}, NEIGHBOUR_FOR, NEIGHBOUR_FOR * share))


def in_turns(port: int, label: str, target: Callable[..., None], *args: object) -> Beside:
    """Registrations one after another while `target(*args, turns, results)` runs in a
    process of its own in turns (Turns), each counted with the turn it began and ended in:
    those while it ran, those while it waited, and what it put on `results`."""
    context = multiprocessing.get_context("spawn")
    turns, results = Turns(context), context.Queue()
    running = context.Process(target=target, args=(*args, turns, results))
    running.start()
    # Not while it starts: a new interpreter importing the app is not what is measured.
    turns.ready.wait()
    taking = threading.Thread(target=turns.take, args=(running,))
    taking.start()
    beside: dict[str, list[float]] = {"during": [], "apart": []}
    while taking.is_alive():
        began = turns.now()
        [took] = register(port, 1, f"{label}{sum(map(len, beside.values()))}")
        if began is not None and turns.now() == began:
            beside[began].append(took)
    outcome = results.get()
    running.join()
    return beside["during"], beside["apart"], outcome


def compared(what: str, ran: list[float], waited: list[float]) -> dict[str, float]:
    """The registrations' p50 and p95 while `what` ran and while it waited, p95 ran ÷ waited
    and its interval."""
    low, high = ratio_interval(ran, waited)
    return {
        f"registration p50 beside {what}, while it ran": p50(ran),
        f"registration p50 beside {what}, while it waited": p50(waited),
        f"registration p95 beside {what}, while it ran": p95(ran),
        f"registration p95 beside {what}, while it waited": p95(waited),
        f"beside {what}: p95 ran ÷ waited": p95(ran) / p95(waited),
        f"beside {what}: p95 ran ÷ waited, 95 % interval from": low,
        f"beside {what}: p95 ran ÷ waited, 95 % interval to": high,
        f"registrations beside {what}": len(ran) + len(waited),
    }


def registrations_and_purge(
    env: dict[str, str], label: str, count: int, admin: Engine, now: datetime
) -> dict[str, float]:
    """`count` registrations alone (their p50 and p95); then registrations beside
    retention's purge as of `now`, in turns; the vacuum that autovacuum would run next,
    timed; then registrations beside a neighbour of the purge's CPU that touches no
    database, in turns too: what any process of that size costs them on this machine."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-purge-beside-"))

    def wal() -> int:
        """Bytes of WAL written so far."""
        with admin.connect() as connection:
            lsn = "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"
            return int(connection.execute(text(f"SELECT {lsn}")).scalar_one())

    def autocommit(statement: str) -> float:
        """Run `statement` outside a transaction; its seconds."""
        started = time.perf_counter()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(statement))
        return time.perf_counter() - started

    with served({**env, "TRUSTED_PROXIES": "1"}, workdir) as port:
        alone = register(port, count, f"{label}a")
        # As in a service, the week-old pages the purge changes were written before the last
        # checkpoint: each is written whole to the WAL once when first changed after it.
        autocommit("CHECKPOINT")
        written = [wal()]
        ran, waited, (purged, seconds, used) = in_turns(port, f"{label}p", purge_apart, env, now)
        written.append(wal())
        vacuumed = autocommit("VACUUM outbox, outbox_attempts")
        written.append(wal())
        share = used / seconds
        near, apart, _ = in_turns(port, f"{label}n", neighbour_apart, share)
    messages = purged["sent"] + purged["dead"] + purged["cancelled"]
    return {
        "registration p50": statistics.median(alone),
        "registration p95": p95(alone),
        **compared("the purge", ran, waited),
        **compared("a neighbour of the purge's CPU", near, apart),
        "the purge's CPU, a share of one core while it ran": share,
        "purge of the oldest day (messages)": messages,
        "purge of the oldest day (rows of every kind)": sum(purged.values()),
        "purge of the oldest day (rows/s)": sum(purged.values()) / seconds,
        "vacuum of the outbox and attempts after it (s)": vacuumed,
        # The registrations beside the purge write some of it (about 5 KB each).
        "WAL of the purge, a message purged (bytes)": (written[1] - written[0]) / messages,
        "WAL of the vacuum, a message purged (bytes)": (written[2] - written[1]) / messages,
    }
