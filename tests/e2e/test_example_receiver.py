"""The recipe of examples/provisioning_receiver.py, run as a real process: provisioning that
fails for a while ends in the dead letters and stranded accounts, and a retry after the fix
completes the work, once, however often the event is delivered."""

from __future__ import annotations

import random
import runpy
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from api_service import create_app
from shared.database.models import outbox
from support import processes
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_KEY, WEBHOOK_SECRET, MakeRelay
from support.ports import free_port
from support.rows import rows
from support.smtp_sink import SinkServer, code_in

EXAMPLE = processes.ROOT / "examples" / "provisioning_receiver.py"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Events of the concurrency test, and the threads delivering them (ThreadingHTTPServer's).
CONCURRENT_EVENTS = 200
CONCURRENT_DELIVERIES = 30


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The example receiver, broken at first; its URL, its database and its broken flag."""
    port = free_port()
    broken = tmp_path / "broken"
    broken.touch()
    database = tmp_path / "app.db"
    log = tmp_path / "receiver.log"
    process = processes.tied(
        [sys.executable, EXAMPLE, str(port), str(database)],
        tmp_path,
        log,
        env={"WEBHOOK_SECRET": WEBHOOK_SECRET, "PROVISIONING_BROKEN": str(broken), "PATH": ""},
    )
    try:
        processes.eventually(lambda: "listening" in log.read_text(), 30, "the receiver listening")
        yield f"http://127.0.0.1:{port}/outpost-events", database, broken
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def app(env: dict[str, str], receiver: tuple[str, Path, Path]) -> Iterator[Flask]:
    url, _, _ = receiver
    built = create_app(
        {**env, "WEBHOOK_URL": url, "WEBHOOK_SECRET": WEBHOOK_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN}
    )
    yield built
    built.extensions["outpost"].engine.dispose()


def activated_event(engine: Engine) -> dict[str, Any]:
    [event] = [r for r in rows(engine, "outbox") if r["purpose"] == "account.activated"]
    return event


def workspaces(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT user_id, email FROM workspaces"))


def test_provisioning_that_fails_for_a_while_is_repaired_by_a_retry(
    client: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
    engine: Engine,
    receiver: tuple[str, Path, Path],
) -> None:
    url, database, broken = receiver
    relay = make_relay(webhook_url=url, webhook_secret=WEBHOOK_KEY, relay_max_attempts=3)
    client.post("/v1/registrations", json={"email": "tenant@example.com", "password": PASSWORD})
    relay.drain()
    code = code_in(smtp.sink.received[-1])
    assert (
        client.post(
            "/v1/activations", json={"email": "tenant@example.com", "code": code}
        ).status_code
        == 200
    )
    # The test settings' backoff is a few milliseconds; a drain within it finds nothing due.
    deadline = time.monotonic() + 10
    while (event := activated_event(engine))["status"] == "pending":
        assert time.monotonic() < deadline, event
        relay.drain()
    assert (event["status"], event["dead_reason"]) == ("dead", "max_attempts")
    dead = client.get("/v1/admin/dead-letters", headers=BEARER).get_json()["items"]
    assert event["public_id"] in [d["id"] for d in dead]
    [stranded] = client.get("/v1/admin/stranded", headers=BEARER).get_json()["items"]
    assert stranded["delivery"] == event["public_id"]
    assert workspaces(database) == []

    broken.unlink()
    retry = client.post(f"/v1/admin/dead-letters/{event['public_id']}/retry", headers=BEARER)
    assert retry.get_json()["outcome"] == "requeued"
    relay.drain()
    [user] = rows(engine, "users")
    assert workspaces(database) == [(user["id"], "tenant@example.com")]

    # Delivered once more (at-least-once): the receiver does the work once.
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == event["public_id"])
            .values(status="pending", attempts=0)
        )
    relay.drain()
    assert workspaces(database) == [(user["id"], "tenant@example.com")]


def test_concurrent_deliveries_with_failures_provision_every_event_exactly_once(
    tmp_path: Path,
) -> None:
    """The example's store under the server's threads: each event's delivery retried until it
    is answered, twice at once, with failures injected into a third of the transactions."""
    recipe = runpy.run_path(str(EXAMPLE), run_name="recipe")
    database = tmp_path / "app.db"
    store = recipe["Store"](str(database))
    events = [(f"evt_{n:03d}", n) for n in range(1, CONCURRENT_EVENTS + 1)]
    go = threading.Event()
    answered: list[str] = []

    def deliver(webhook_id: str, user_id: int) -> None:
        """Provision until it returns (the receiver's 204), as the relay retries an event."""
        go.wait()
        while True:
            failing = random.random() < 1 / 3
            try:
                store.provision(webhook_id, user_id, None if failing else f"{user_id}@x")
            except (sqlite3.Error, ValueError):
                continue  # answered 503: delivered again
            answered.append(webhook_id)
            return

    with sqlite3.connect(database) as db:
        # Injected failure: a NULL email makes the workspace insert fail mid-transaction.
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON workspaces WHEN NEW.email IS NULL "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    twice = [event for event in events for _ in range(2)]
    with ThreadPoolExecutor(max_workers=CONCURRENT_DELIVERIES) as pool:
        delivered = pool.map(lambda event: deliver(*event), twice)
        go.set()
        list(delivered)
    assert sorted(answered) == sorted(webhook_id for webhook_id, _ in twice)
    assert sorted(workspaces(database)) == [(n, f"{n}@x") for _, n in events]
    with sqlite3.connect(database) as db:
        assert sorted(id for (id,) in db.execute("SELECT webhook_id FROM handled")) == [
            webhook_id for webhook_id, _ in events
        ]
