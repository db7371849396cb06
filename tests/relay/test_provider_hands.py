"""Providers in operators' hands (SPEC): a provider paused by hand holds its mail, queued and
`provider_unavailable`, with nothing sent until it is resumed; a fallback takes over meanwhile;
sends in flight finish; a pause with an end ends by itself; and the application hears
`provider.down` and `provider.up` once each, whatever the number of relays."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from api_service import create_app
from outbox_relay.bootstrap import build_relay
from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import provider_pauses as pauses
from shared.messaging import provider_pauses
from shared.settings.config import Settings
from shared.settings.smtp_url import parse_smtp_url
from support import processes
from support.commands import here, ok
from support.constants import ADMIN_TOKEN, PASSWORD, WEBHOOK_SECRET, MakeRelay
from support.relays import drain_until, keep_draining
from support.rows import rows
from support.smtp_sink import SinkServer
from support.smtp_stages import StagedSmtp

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
PLANNED = {"reason": "planned switch to the new relay host"}
# Events to a port nothing listens on: they stay in the outbox, to be counted.
HOOKED = {
    "WEBHOOK_URL": "http://127.0.0.1:9/hooks",
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "PROVIDER_DOWN_AFTER": "0.5",
}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment with the admin API on."""
    return {**env, "ADMIN_TOKEN": ADMIN_TOKEN}


def _register(client: FlaskClient, email: str = "ada@example.com") -> str:
    answer = client.post("/v1/registrations", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 202
    delivery_id: str = answer.get_json()["delivery"]["id"]
    return delivery_id


def _shown(client: FlaskClient, delivery_id: str) -> tuple[str, str | None]:
    shown = client.get(f"/v1/deliveries/{delivery_id}").get_json()
    return shown["status"], shown["reason"]


def _providers(client: FlaskClient) -> dict[str, dict[str, Any]]:
    answer = client.get("/v1/admin/providers", headers=AUTH)
    assert answer.status_code == 200
    return {p["name"]: p for p in answer.get_json()["items"]}


def _events(engine: Engine) -> list[str]:
    """The providers' events the application was sent."""
    purposes = [str(r["purpose"]) for r in rows(engine, "outbox")]
    return [purpose for purpose in purposes if purpose.startswith("provider.")]


def test_a_provider_paused_by_hand_holds_the_mail_until_it_is_resumed(
    client: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    paused = client.post("/v1/admin/providers/smtp/pause", json=PLANNED, headers=AUTH)
    assert paused.status_code == 200
    assert paused.get_json()["state"] == "paused_by_operator"
    delivery_id = _register(client)
    keep_draining(relay, 1.0)
    assert _shown(client, delivery_id) == ("queued", "provider_unavailable")
    assert smtp.sink.received == [] and rows(engine, "outbox_attempts") == []
    listed = _providers(client)["smtp"]
    assert (listed["state"], listed["paused_by"], listed["reason"], listed["until"]) == (
        "paused_by_operator",
        "alice@127.0.0.1",
        PLANNED["reason"],
        None,
    )
    assert client.post("/v1/admin/providers/smtp/resume", headers=AUTH).status_code == 200
    drain_until(relay, lambda: _shown(client, delivery_id) == ("sent", None), timeout=10)
    assert len(smtp.sink.wait_for(1)) == 1
    assert _providers(client)["smtp"]["state"] == "up"
    actions = client.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert [(a["action"], a["target"]) for a in actions] == [
        ("provider_resume", "smtp"),
        ("provider_pause", "smtp"),
    ]
    again = client.post("/v1/admin/providers/smtp/resume", headers=AUTH)
    assert again.status_code == 409
    unknown = client.post("/v1/admin/providers/nowhere/pause", json=PLANNED, headers=AUTH)
    assert unknown.status_code == 404


def test_a_fallback_takes_the_mail_of_a_provider_paused_by_hand(
    client: FlaskClient, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    fallback = SinkServer()
    fallback.start()
    try:
        relay = make_relay(smtp_fallback=parse_smtp_url(fallback.url()))
        body = {**PLANNED, "seconds": 3600}
        assert (
            client.post("/v1/admin/providers/smtp/pause", json=body, headers=AUTH).status_code
            == 200
        )
        delivery_id = _register(client)
        drain_until(relay, lambda: _shown(client, delivery_id) == ("sent", None), timeout=10)
        assert len(fallback.sink.wait_for(1)) == 1 and smtp.sink.received == []
    finally:
        fallback.stop()


def test_a_pause_with_an_end_ends_by_itself(
    client: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    body = {**PLANNED, "seconds": 2}
    assert client.post("/v1/admin/providers/smtp/pause", json=body, headers=AUTH).status_code == 200
    delivery_id = _register(client)
    relay.drain()
    assert _shown(client, delivery_id) == ("queued", "provider_unavailable")
    drain_until(relay, lambda: _shown(client, delivery_id) == ("sent", None), timeout=15)
    assert len(smtp.sink.wait_for(1)) == 1
    # The relay that saw it run out cleared it.
    assert rows(engine, "provider_pauses") == []


def test_a_send_in_flight_when_the_provider_is_held_finishes(relay: Relay) -> None:
    [smtp, *_] = relay.providers.every()
    taken = smtp.take()
    assert taken is not None
    smtp.hold(utcnow())
    assert not smtp.paused_since(taken) and not smtp.usable and smtp.take() is None
    assert "email" in relay.providers.paused_channels()
    smtp.hold(None)
    assert smtp.usable


def test_the_application_hears_down_and_up_once_whatever_the_number_of_relays(
    env: dict[str, str], engine: Engine
) -> None:
    hooked = {**env, **HOOKED}
    app = create_app(hooked)
    client = app.test_client()
    settings = Settings.from_env(hooked)
    relays = [build_relay(settings, create_engine_for(settings.database_url)) for _ in range(3)]
    try:
        _down_then_up(client, relays, engine)
    finally:
        for relay in relays:
            relay.close()
        app.extensions["outpost"].engine.dispose()


def _down_then_up(client: FlaskClient, relays: list[Relay], engine: Engine) -> None:
    assert (
        client.post("/v1/admin/providers/smtp/pause", json=PLANNED, headers=AUTH).status_code == 200
    )
    deadline = time.monotonic() + 15
    while "provider.down" not in _events(engine):
        assert time.monotonic() < deadline
        for relay in relays:
            relay.deliver_due()
        time.sleep(0.05)
    for relay in relays:
        keep_draining(relay, 0.5)
    assert _events(engine).count("provider.down") == 1
    [told] = [r for r in rows(engine, "outbox") if r["purpose"] == "provider.down"]
    assert told["params"]["data"]["provider"] == "smtp"
    assert told["params"]["data"]["reason"] == PLANNED["reason"]
    assert client.post("/v1/admin/providers/smtp/resume", headers=AUTH).status_code == 200
    for relay in relays:
        keep_draining(relay, 0.3)
    assert sorted(_events(engine)) == ["provider.down", "provider.up"]


def test_a_relays_own_pause_is_listed_with_its_failure_until_its_probe_passes(
    client: FlaskClient, make_relay: MakeRelay, server: StagedSmtp, engine: Engine
) -> None:
    server.script.set(mail="451 4.3.0 try later")
    relay = make_relay(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=1.0, relay_backoff_cap=1.0
    )
    delivery_id = _register(client)
    keep_draining(relay, 0.5)
    listed = _providers(client)["smtp"]
    assert (listed["state"], listed["paused_by"]) == ("paused_by_relay", "relay")
    assert "451 4.3.0 try later" in listed["reason"]
    # An operator's resume ends an operator's pause only: the relay's ends with its probe.
    assert client.post("/v1/admin/providers/smtp/resume", headers=AUTH).status_code == 409
    server.script.set(mail=None)
    drain_until(relay, lambda: _shown(client, delivery_id) == ("sent", None), timeout=15)
    keep_draining(relay, 0.5)
    assert _providers(client)["smtp"]["state"] == "up"
    assert rows(engine, "provider_pauses") == []


def test_relay_processes_obey_a_pause_typed_at_the_command_line(
    env: dict[str, str], client: FlaskClient, smtp: SinkServer, tmp_path: Path
) -> None:
    """Two `outbox-relay run` processes on the database: neither sends while the provider is
    paused by hand; the mail leaves once it is resumed."""
    ok(here(env, tmp_path, "providers", "pause", "smtp", "--reason", PLANNED["reason"]))
    for n in range(2):
        (tmp_path / f"relay{n}").mkdir()
    relays = [processes.relay(env, tmp_path / f"relay{n}") for n in range(2)]
    try:
        processes.eventually(lambda: all(_held(tmp_path, n) for n in range(2)), 60, "held")
        delivery_id = _register(client)
        # A few polls of both relays (RELAY_POLL_INTERVAL 0.2 s), slack for a loaded machine.
        time.sleep(2)
        assert _shown(client, delivery_id) == ("queued", "provider_unavailable")
        assert smtp.sink.received == []
        ok(here(env, tmp_path, "providers", "resume", "smtp"))
        processes.eventually(lambda: _shown(client, delivery_id) == ("sent", None), 20, "sent")
        assert len(smtp.sink.wait_for(1)) == 1
        # Each relay hears of the resume at its own next poll, the one that sent it first.
        released = lambda: all("provider released" in _log(tmp_path, n) for n in range(2))  # noqa: E731
        processes.eventually(released, 30, "released by both")
    finally:
        assert [processes.stop(relay) for relay in relays] == [0, 0]


def _log(tmp_path: Path, n: int) -> str:
    path = tmp_path / f"relay{n}" / "relay.log"
    return path.read_text() if path.exists() else ""


def _held(tmp_path: Path, n: int) -> bool:
    """Whether relay `n` is up and holds the provider the operator paused."""
    return "provider held" in _log(tmp_path, n)


def test_the_pause_of_a_relay_gone_ends_with_its_lease(
    client: FlaskClient, relay: Relay, engine: Engine
) -> None:
    """A relay that paused a provider and died renews its pause no more: the relays alive,
    which find the provider answering, delete it once its lease has run out."""
    now = utcnow()
    with engine.begin() as connection:
        provider_pauses.record_relay_pause(
            connection,
            "smtp",
            reason="SMTP 535 5.7.8 at auth",
            since=now - timedelta(minutes=10),
            until=now + timedelta(hours=1),
        )
    assert _providers(client)["smtp"]["state"] == "paused_by_relay"
    # Its lease runs out (however long the request above took on a loaded machine).
    with engine.begin() as connection:
        connection.execute(update(pauses).values(until=utcnow() - timedelta(seconds=1)))
    drain_until(relay, lambda: rows(engine, "provider_pauses") == [], timeout=10)
    assert _providers(client)["smtp"]["state"] == "up"


# How long the test waits for what must come before failing.
GIVE_UP = 30


def test_a_relays_own_pause_is_told_down_then_up_once_its_probe_passes(
    env: dict[str, str], server: StagedSmtp, engine: Engine
) -> None:
    server.script.set(mail="451 4.3.0 try later")
    settings = Settings.from_env({**env, **HOOKED}).replace(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=1.0, relay_backoff_cap=1.0
    )
    relays = [build_relay(settings, create_engine_for(settings.database_url)) for _ in range(2)]
    app = create_app({**env, **HOOKED})
    try:
        delivery_id = _register(app.test_client())
        # Waits, not bounds (what must come, however loaded the machine).
        deadline = time.monotonic() + GIVE_UP
        while "provider.down" not in _events(engine):
            assert time.monotonic() < deadline, "provider.down never told"
            for relay in relays:
                relay.deliver_due()
            time.sleep(0.05)
        [down] = [r for r in rows(engine, "outbox") if r["purpose"] == "provider.down"]
        assert "451 4.3.0 try later" in down["params"]["data"]["reason"]
        server.script.set(mail=None)
        deadline = time.monotonic() + GIVE_UP
        while "provider.up" not in _events(engine) or by_id(engine, delivery_id) != "sent":
            assert time.monotonic() < deadline, "provider.up never told"
            for relay in relays:
                relay.deliver_due()
            time.sleep(0.05)
        for relay in relays:
            keep_draining(relay, 0.5)
        assert sorted(_events(engine)) == ["provider.down", "provider.up"]
    finally:
        for relay in relays:
            relay.close()
        app.extensions["outpost"].engine.dispose()


def test_a_pause_ends_when_another_relay_sends_through_the_provider(
    env: dict[str, str], server: StagedSmtp, engine: Engine
) -> None:
    """The relay that paused the provider has no message left to probe it with: the other
    relay took it and the provider answered. That relay ends the pause and the application
    hears `provider.up`; the first resumes at its next poll, and nobody hears `down` again."""
    server.script.set(mail="451 4.3.0 try later")
    settings = Settings.from_env({**env, **HOOKED}).replace(
        smtp=parse_smtp_url(server.url()), relay_backoff_base=1.0, relay_backoff_cap=1.0
    )
    pausing, other = (
        build_relay(settings, create_engine_for(settings.database_url)) for _ in range(2)
    )
    app = create_app({**env, **HOOKED})
    try:
        delivery_id = _register(app.test_client())
        _deliver_until(pausing, lambda: "provider.down" in _events(engine))
        server.script.set(mail=None)
        _deliver_until(other, lambda: by_id(engine, delivery_id) == "sent")
        assert pausing.providers.status() != []
        _deliver_until(other, lambda: "provider.up" in _events(engine))
        _deliver_until(pausing, lambda: pausing.providers.status() == [])
        for relay in (pausing, other):
            keep_draining(relay, 0.5)
        assert sorted(_events(engine)) == ["provider.down", "provider.up"]
        assert rows(engine, "provider_pauses") == []
    finally:
        for relay in (pausing, other):
            relay.close()
        app.extensions["outpost"].engine.dispose()


def _deliver_until(relay: Relay, done: Callable[[], bool]) -> None:
    """Deliver what is due again and again until `done` holds (GIVE_UP: a wait, not a bound)."""
    deadline = time.monotonic() + GIVE_UP
    while not done():
        assert time.monotonic() < deadline, "not done"
        relay.deliver_due()
        time.sleep(0.05)


def by_id(engine: Engine, delivery_id: str) -> str:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == delivery_id]
    return str(row["status"])
