"""Notices the owner does not pay for: a number that never signed up gets no SMS, and a "no
account" mail past NO_ACCOUNT_HOURLY_LIMIT (or with no unsubscribe link to carry) is not sent.
The row is written alike and the relay ends it `withheld` in a send's time without calling any
provider, so that its client sees what a sent message shows (SPEC "No enumeration")."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, update

from api_service import create_app
from outbox_relay.relay import Relay
from outbox_relay.send_times import FIRST_GUESS_SECONDS, SendTimes
from shared import operations
from shared.clock import utcnow
from shared.database.models import outbox
from shared.settings.config import Settings
from support.commands import here_all, ok
from support.constants import ADMIN_TOKEN, MakeRelay
from support.dashboard import signed_in
from support.deliveries import but_the_wait
from support.rows import count, forget_throttles, rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer

PASSWORD = "correct horse battery staple"
KNOWN, UNKNOWN = "+33612345678", "+33698765432"
ROUTES = {"resend": "/v1/activations/resend", "reset": "/v1/password-resets"}
PUBLIC_URL = "https://api.outpost.test"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server standing in for the SMS gateway; answers 202."""
    with SmsGateway(mode=202, hang_seconds=0.4) as server:
        yield server


@pytest.fixture
def sms_relay(make_relay: MakeRelay, gateway: SmsGateway) -> Relay:
    """A relay whose SMS provider is the gateway stand-in."""
    return make_relay(sms_url=gateway.url + "/sms")


def _register_phone(client: FlaskClient, engine: Engine, relay: Relay, gateway: SmsGateway) -> None:
    """An active account with the KNOWN number, proven by the code its activation SMS carried
    (only a proven number gets reset codes); its welcome SMS sent."""
    body = {"phone": KNOWN, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202
    assert relay.drain() == 1
    [code] = re.findall(r"\b\d{6}\b", gateway.requests[-1].json["body"])
    activation = {"phone": KNOWN, "code": code}
    assert client.post("/v1/activations", json=activation).status_code == 200
    assert relay.drain() == 1
    forget_throttles(engine)


def _shown(client: FlaskClient, delivery_id: str) -> dict[str, Any]:
    """What GET /v1/deliveries says, but for the id."""
    response = client.get(f"/v1/deliveries/{delivery_id}")
    assert response.status_code == 200
    return {**response.get_json(), "id": None}


def _status(engine: Engine, delivery_id: str) -> str:
    return next(str(r["status"]) for r in rows(engine, "outbox") if r["public_id"] == delivery_id)


def _sms_counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("outpost_sms_total", {"region": "FR", "outcome": outcome})
    return value or 0.0


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_number_that_never_signed_up_gets_no_sms_and_its_client_cannot_tell(
    client: FlaskClient,
    engine: Engine,
    sms_relay: Relay,
    gateway: SmsGateway,
    route: str,
) -> None:
    _register_phone(client, engine, sms_relay, gateway)
    queued, withheld = _sms_counted("queued"), _sms_counted("withheld")
    started = time.monotonic()
    known = client.post(ROUTES[route], json={"phone": KNOWN})
    unknown = client.post(ROUTES[route], json={"phone": UNKNOWN})
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    answers = [r.get_json() for r in (known, unknown)]
    for answer in answers:
        answer["delivery"]["id"] = None
    assert (
        answers[0]
        == answers[1]
        == {
            "status": "accepted",
            "delivery": {"id": None, "channel": "sms", "status": "queued"},
        }
    )
    ids = [r.get_json()["delivery"]["id"] for r in (known, unknown)]
    earlier, later = but_the_wait([_shown(client, i) for i in ids], started)
    assert earlier == later
    assert (_sms_counted("queued"), _sms_counted("withheld")) == (queued + 1, withheld + 1)

    assert sms_relay.drain() == 2
    # The activation, the welcome and the known number's message.
    assert [request.json["to"] for request in gateway.requests] == [KNOWN] * 3
    assert [_status(engine, i) for i in ids] == ["sent", "withheld"]
    # Clients see both sent, tried once; operators see no attempt at a provider.
    earlier, later = but_the_wait([_shown(client, i) for i in ids], started)
    assert earlier == later
    assert (later["status"], later["attempts"]) == ("sent", 1)
    assert [str(a["outcome"]) for a in rows(engine, "outbox_attempts")] == ["sent"] * 3
    withheld_row = next(r for r in rows(engine, "outbox") if r["public_id"] == ids[1])
    assert withheld_row["secret_params"] is None and withheld_row["sent_at"] is not None


def test_a_withheld_row_ends_in_the_time_its_provider_takes_to_accept_a_message(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, gateway: SmsGateway
) -> None:
    relay = make_relay(sms_url=gateway.url + "/sms")
    _register_phone(client, engine, make_relay(sms_url=gateway.url + "/sms"), gateway)
    # The provider takes about 0.4 s to accept the known number's message.
    gateway.script = ["hang"]
    assert client.post(ROUTES["reset"], json={"phone": KNOWN}).status_code == 202
    started = time.monotonic()
    assert relay.drain() == 1
    send = time.monotonic() - started
    assert send >= gateway.hang_seconds
    assert client.post(ROUTES["reset"], json={"phone": UNKNOWN}).status_code == 202
    started = time.monotonic()
    assert relay.drain() == 1
    assert time.monotonic() - started >= 0.9 * gateway.hang_seconds
    # The activation, the welcome and the known number's reset: nothing to the unknown one.
    assert len(gateway.requests) == 3
    # A relay that has sent nothing yet takes the first guess.
    forget_throttles(engine)
    assert client.post(ROUTES["reset"], json={"phone": UNKNOWN}).status_code == 202
    fresh = make_relay(sms_url=gateway.url + "/sms")
    started = time.monotonic()
    assert fresh.drain() == 1
    assert time.monotonic() - started >= FIRST_GUESS_SECONDS
    assert len(gateway.requests) == 3


def test_send_times_follow_the_provider_from_a_first_guess() -> None:
    times = SendTimes()
    assert times.typical("sms") == FIRST_GUESS_SECONDS
    times.accepted("sms", 1.0)
    assert times.typical("sms") == 1.0
    for _ in range(60):
        times.accepted("sms", 0.1)
    assert 0.1 <= times.typical("sms") < 0.11
    assert times.typical("smtp") == FIRST_GUESS_SECONDS


def test_withheld_rows_are_counted_apart_for_operators(
    client: FlaskClient,
    admin: FlaskClient,
    engine: Engine,
    sms_relay: Relay,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    before = REGISTRY.get_sample_value(
        "outpost_relay_messages_total", {"channel": "sms", "outcome": "withheld"}
    )
    assert client.post(ROUTES["reset"], json={"phone": UNKNOWN}).status_code == 202
    assert sms_relay.drain() == 1
    after = REGISTRY.get_sample_value(
        "outpost_relay_messages_total", {"channel": "sms", "outcome": "withheld"}
    )
    assert (after or 0) == (before or 0) + 1
    with engine.connect() as connection:
        figures = operations.stats(connection, utcnow())
    assert figures.by_status == {"withheld": {"sms": 1}}
    assert figures.sent_last_hour == 0
    assert [row.status for row in figures.rows][-1] == "withheld"
    stats = admin.get("/v1/admin/stats", headers=AUTH).get_json()
    assert stats["by_status"] == {"withheld": {"sms": 1}}
    _, table = here_all(env, tmp_path, ("stats", "--json"), ("stats",))
    lines = ok(table).stdout.splitlines()
    assert ["withheld", "0", "1", "1"] in [line.split() for line in lines]
    assert "<td>withheld</td>" in _overview(admin).replace(" ", "")


def _overview(admin: FlaskClient) -> str:
    signed_in(admin)
    return admin.get("/admin").get_data(as_text=True)


@pytest.fixture
def admin(env: dict[str, str]) -> Iterator[FlaskClient]:
    """The API with ADMIN_TOKEN set."""
    app = create_app({**env, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app.test_client()
    app.extensions["outpost"].engine.dispose()


def test_no_account_mails_past_the_hours_budget_are_withheld_and_answered_alike(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    strangers = [f"stranger{n}@example.com" for n in range(3)]
    # Two relays share the hour's budget of two.
    relays = [make_relay(public_url=PUBLIC_URL, no_account_hourly_limit=2) for _ in range(2)]
    answers = []
    started = time.monotonic()
    for n, stranger in enumerate(strangers):
        answers.append(client.post(ROUTES["resend"], json={"email": stranger}))
        assert answers[-1].status_code == 202
        assert relays[n // 2].drain() == 1
    ids = [a.get_json()["delivery"]["id"] for a in answers]
    assert sorted(str(m["To"]) for m in smtp.sink.received) == strangers[:2]
    assert [_status(engine, i) for i in ids] == ["sent", "sent", "withheld"]
    # Each cooldown started with its own request, the relay's drain between them.
    shown = but_the_wait([_shown(client, i) for i in ids], started)
    assert shown[0] == shown[1] == shown[2]


def test_without_public_url_a_no_account_mail_has_no_way_out_and_is_withheld(
    client: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    answer = client.post(ROUTES["reset"], json={"email": "stranger@example.com"})
    assert answer.status_code == 202
    assert make_relay(public_url=None).drain() == 1
    assert smtp.sink.received == []
    assert _status(engine, answer.get_json()["delivery"]["id"]) == "withheld"
    assert count(engine, "outbox_attempts") == 0


def test_the_purge_takes_withheld_rows_as_it_takes_sent_ones(
    client: FlaskClient, engine: Engine, sms_relay: Relay, settings: Settings
) -> None:
    for number in (UNKNOWN, "+33698765433"):
        assert client.post(ROUTES["reset"], json={"phone": number}).status_code == 202
    assert sms_relay.drain() == 2
    old, young = (r["id"] for r in rows(engine, "outbox"))
    with engine.begin() as connection:
        connection.execute(
            update(outbox).where(outbox.c.id == old).values(sent_at=utcnow() - timedelta(days=8))
        )
    with engine.connect() as connection:
        purged = operations.purge(connection, settings, actor="test", now=utcnow())
    assert purged.sent == 1
    assert [r["id"] for r in rows(engine, "outbox")] == [young]
