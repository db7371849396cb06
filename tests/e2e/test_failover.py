"""A failover under load: the primary killed (kill -9), its synchronous standby promoted, while two
API workers take registrations and two relays deliver. Nothing acknowledged is lost or sent twice,
nothing restarts, and the clients see 503s with Retry-After meanwhile, never a 500."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shared.database.db import create_engine_for, migrate
from shared.database.models import outbox
from shared.settings.database_url import normalise_database_url
from support import processes
from support.constants import SECRET_KEY
from support.ports import free_port
from support.replication import PostgresPair
from support.smtp_sink import SinkServer

CLIENTS = 3
BEFORE, AFTER = 2.0, 2.0  # seconds of load before the kill, and after the promotion
LEASE = 6  # RELAY_LEASE_SECONDS: the longest a claim whose answer was lost holds its rows
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Answer:
    """One registration's answer, as the client got it."""

    status: int
    retry_after: str | None
    delivery_id: str | None
    at: float


def children(pid: int) -> set[int]:
    """The process ids of `pid`'s children (gunicorn's workers)."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def register(port: int, numbers: itertools.count[int], stop: threading.Event) -> list[Answer]:
    """Register new addresses one after another until `stop`; every answer."""
    answers = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
        while not stop.is_set():
            body = {"email": f"user{next(numbers)}@example.com", "password": PASSWORD}
            response = client.post("/v1/registrations", json=body)
            delivery = response.json().get("delivery") if response.status_code == 202 else None
            answers.append(
                Answer(
                    response.status_code,
                    response.headers.get("Retry-After"),
                    delivery and delivery["id"],
                    time.monotonic(),
                )
            )
    return answers


@pytest.mark.postgresql_only
def test_a_failover_under_load_loses_nothing_acknowledged(
    pair: PostgresPair, tmp_path: Path
) -> None:
    url = pair.url(pair.create_database())
    migrate(normalise_database_url(url))
    sink = SinkServer()
    sink.start()
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        # A send bounded well inside the short lease, as the relay requires.
        "SMTP_URL": sink.url(timeout=2),
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "IP_RATE_LIMIT": "100000",
        "RELAY_POLL_INTERVAL": "0.2",
        "RELAY_LEASE_SECONDS": str(LEASE),
        "RELAY_METRICS_PORT": "0",
    }
    port = free_port()
    api = processes.gunicorn(env, port, tmp_path)
    relays = []
    for n in (1, 2):
        (tmp_path / f"relay{n}").mkdir()
        relays.append(processes.relay(env, tmp_path / f"relay{n}"))
    everyone = [api, *relays]
    logs = [tmp_path / "gunicorn.log", *(tmp_path / f"relay{n}" / "relay.log" for n in (1, 2))]

    def context() -> str:
        return "".join(f"--- {log} ---\n{log.read_text(errors='replace')}" for log in logs)

    numbers, stop = itertools.count(), threading.Event()
    results: list[list[Answer]] = [[] for _ in range(CLIENTS)]
    clients = [
        threading.Thread(target=lambda n=n: results[n].extend(register(port, numbers, stop)))
        for n in range(CLIENTS)
    ]
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
        for client in clients:
            client.start()
        time.sleep(BEFORE)
        pids = {process.pid for process in everyone} | children(api.pid)
        assert len(pids) == 5, f"gunicorn's workers: {children(api.pid)}"
        new_primary = pair.standby
        pair.primary.kill()
        killed = time.monotonic()
        time.sleep(0.3)
        new_primary.promote()
        promoted = time.monotonic()
        time.sleep(AFTER)
        stop.set()
        for client in clients:
            client.join(30)
        answers = sorted(itertools.chain.from_iterable(results), key=lambda a: a.at)

        refused = [a for a in answers if a.status != 202]
        assert all(a.status == 503 and a.retry_after for a in refused), Counter(
            (a.status, a.retry_after) for a in refused
        )
        acknowledged = {a.delivery_id for a in answers if a.status == 202}
        assert any(a.at < killed for a in answers if a.status == 202)
        back = [a.at - promoted for a in answers if a.status == 202 and a.at > promoted]
        assert back, f"no 202 after the promotion\n{context()}"

        engine = create_engine_for(normalise_database_url(url))
        try:
            with engine.connect() as connection:
                stored = set(connection.scalars(select(outbox.c.public_id)).all())
        finally:
            engine.dispose()
        missing = acknowledged - {str(public_id) for public_id in stored}
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged rows lost"

        expected = {f"<{delivery_id}@outpost.test>" for delivery_id in acknowledged}

        def delivered() -> set[str]:
            return {str(message["Message-ID"]) for message in sink.sink.received}

        processes.eventually(
            lambda: expected <= delivered(),
            timeout=LEASE + 10,
            what=f"delivery of the {len(expected)} acknowledged messages",
        )
        received = Counter(str(message["Message-ID"]) for message in sink.sink.received)
        twice = {message_id: n for message_id, n in received.items() if n > 1}
        assert not twice, f"sent more than once: {twice}"
        last = max(
            at
            for message, at in zip(sink.sink.received, sink.sink.accepted_at, strict=True)
            if str(message["Message-ID"]) in expected
        )
        assert last - promoted < LEASE + 2, "a claim whose answer was lost held rows past its lease"
        # One relay listened on the old primary; one (either) listens on the new.
        processes.eventually(
            lambda: sum(log.read_text().count("listening for new messages") for log in logs) >= 2,
            what="a relay listening on the new primary",
        )
        assert all(process.poll() is None for process in everyone), context()
        assert {process.pid for process in everyone} | children(api.pid) == pids, context()
        print(
            f"{len(answers)} answers, {len(acknowledged)} acknowledged, {len(refused)} 503s; "
            f"API back {min(back):.2f}s after the promotion; "
            f"last acknowledged message {last - promoted:.2f}s after it"
        )
    finally:
        stop.set()
        codes = [processes.stop(process, signal.SIGTERM) for process in everyone]
        sink.stop()
    assert codes == [0, 0, 0], context()
