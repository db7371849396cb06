"""The relay against a real SMTP server: each reply ends the row as the spec says."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, update

from outbox_relay import claims, outcomes
from outbox_relay.channels import smtp_wire
from outbox_relay.compose import message_id
from outbox_relay.daemon import Daemon
from outbox_relay.relay import Relay
from outbox_relay.wake import Wake
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import outbox
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer

# Nothing listens on port 1: every connection is refused at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"

GOOD = {"email": "ada@example.com", "password": "correct horse battery staple"}


def queue(client: FlaskClient, **changes: str) -> str:
    response = client.post("/v1/registrations", json={**GOOD, **changes})
    assert response.status_code == 202
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def the_row(engine: Engine) -> dict[str, object]:
    [row] = rows(engine, "outbox")
    return row


def attempts(engine: Engine) -> list[tuple[str, str | None]]:
    return [(a["outcome"], a["error"]) for a in rows(engine, "outbox_attempts")]


def make_due(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))


def test_250_marks_sent_wipes_secrets_and_carries_a_stable_message_id(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    delivery_id = queue(client)
    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["secret_params"]) == ("sent", 1, None)
    assert row["sent_at"] is not None and row["locked_until"] is None
    assert mail["Message-ID"] == message_id(delivery_id, relay.settings.mail_from)
    assert mail["To"] == "ada@example.com"
    assert attempts(engine) == [("sent", None)]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


@pytest.mark.postgresql_only
def test_a_lone_message_costs_the_database_a_claim_and_one_write(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, smtp: SinkServer
) -> None:
    """What a relay woken for each message pays a message: two statements on its kept
    connections, no pool checkout, no transaction of their own (each is atomic). Its read of
    the providers' pauses is a poll interval's, not a message's: none within this one."""
    relay = make_relay(relay_poll_interval=60.0)
    statements: list[str] = []
    checkouts: list[object] = []
    event.listen(relay.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    event.listen(relay.engine, "checkout", lambda *args: checkouts.append(args))
    queue(client)
    relay.drain()  # the kept connections open
    make_the_next = queue(client, email="grace@example.com")
    statements.clear()
    checkouts.clear()
    assert relay.drain() == 1
    assert [s.split()[0] for s in statements] == ["UPDATE", "WITH"] and checkouts == []
    assert [row["status"] for row in rows(engine, "outbox")] == ["sent", "sent"]
    assert attempts(engine) == [("sent", None), ("sent", None)]
    assert client.get(f"/v1/deliveries/{make_the_next}").get_json()["status"] == "sent"


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        pytest.param("reply:451", "SMTP 451", id="451"),
        # Silent after the message: its end of DATA waited for to its bound (600 s; 1 s here).
        pytest.param("hang", "outcome unknown", id="hang-past-its-bound"),
        pytest.param("drop", "SMTPServerDisconnected", id="drop-after-data"),
    ],
)
def test_transient_failures_are_retried_with_the_same_message_id(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    behaviour: str,
    error: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if behaviour == "hang":
        # Only the silent server waits out the bound: a server that answers is waited for, a
        # loaded machine's second included.
        monkeypatch.setattr(smtp_wire, "END_OF_DATA_SECONDS", 1.0)
    smtp.sink.script = [behaviour]
    queue(client)
    before = time.monotonic()
    relay.drain()
    assert time.monotonic() - before < 10
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["dead_reason"]) == ("pending", 1, None)
    assert error in str(row["last_error"])
    assert row["secret_params"] is not None and row["claim_token"] is None
    make_due(engine)
    relay.drain()
    assert the_row(engine)["status"] == "sent"
    first, second = smtp.sink.data_commands
    assert first["Message-ID"] == second["Message-ID"]
    assert len(smtp.sink.received) == 1
    assert [outcome for outcome, _ in attempts(engine)] == ["transient", "sent"]


def test_a_transient_failure_is_due_again_within_the_backoff_ceiling(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:421"
    relay = make_relay(relay_backoff_base=600.0, relay_backoff_cap=600.0)
    queue(client)
    before = utcnow()
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["locked_until"], row["claim_token"]) == ("pending", None, None)
    retry_at = row["next_attempt_at"]
    assert before <= retry_at <= utcnow() + timedelta(seconds=600)  # type: ignore[operator]


def test_550_is_permanent_and_dead_at_once(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:550"
    delivery_id = queue(client)
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "permanent_error", 1)
    assert "550" in str(row["last_error"])
    assert row["secret_params"] is None
    assert [outcome for outcome, _ in attempts(engine)] == ["permanent"]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


def test_max_attempts_of_transient_failures_is_dead(
    client: FlaskClient, make_relay: MakeRelay, engine: Engine, smtp: SinkServer
) -> None:
    smtp.sink.mode = "reply:451"
    relay = make_relay(relay_max_attempts=3)
    queue(client)
    for _ in range(3):
        make_due(engine)
        relay.drain()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["attempts"]) == ("dead", "max_attempts", 3)
    assert [outcome for outcome, _ in attempts(engine)] == ["transient"] * 3


def test_an_expired_code_is_never_sent(
    client: FlaskClient, relay: Relay, engine: Engine, smtp: SinkServer
) -> None:
    delivery_id = queue(client)
    with engine.begin() as connection:
        connection.execute(update(outbox).values(expires_at=utcnow() - timedelta(seconds=1)))
    relay.drain()
    row = the_row(engine)
    assert (row["status"], row["dead_reason"], row["secret_params"]) == ("dead", "expired", None)
    assert smtp.sink.data_commands == []
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "expired"


@pytest.mark.parametrize("senders", [1, 3])
def test_each_sender_keeps_one_connection_for_all_its_messages(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, senders: int
) -> None:
    smtp.sink.delay = 0.01
    relay = make_relay(relay_concurrency=senders)
    queue_emails(engine, 30)
    assert relay.drain() == 30
    relay.close()
    assert len(smtp.sink.wait_for(30)) == 30
    assert smtp.sink.connections == senders


def test_a_lone_row_is_sent_over_a_senders_connection(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    relay = make_relay(relay_concurrency=1)
    queue_emails(engine, 3, prefix="batch")
    assert relay.drain() == 3
    queue_emails(engine, 1, prefix="lone")
    assert relay.drain() == 1
    relay.close()
    assert len(smtp.sink.wait_for(4)) == 4
    assert smtp.sink.connections == 1


def test_the_mail_carries_the_code_in_text_and_html(
    client: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    queue(client, locale="fr", full_name="Adélaïde")
    relay.drain()
    [mail] = smtp.sink.wait_for(1)
    assert mail["Content-Language"] == "fr"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    # An activation goes to an address not yet proven: no text the client chose (SPEC).
    assert "Adélaïde" not in text.get_content() + html.get_content()
    codes = {w for w in text.get_content().split() if w.isdigit() and len(w) == 6}
    assert len(codes) == 1
    assert codes.pop() in html.get_content()


def test_a_lone_messages_outcome_is_on_its_row_within_milliseconds_of_the_250(
    engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    relay.drain()  # a write just happened: a lone outcome no longer waits for the next
    late = []
    for n in range(5):
        queue_emails(engine, 1, prefix=f"one{n}-")
        relay.deliver_due()
        on_row = time.monotonic()  # deliver_due has returned: whatever it wrote is on the row
        assert statuses(engine) == ["sent"] * (n + 1)
        late.append(on_row - smtp.sink.accepted_at[n])
    assert sorted(late)[2] < 0.2, late


def test_the_outcomes_of_a_claim_of_many_rows_are_written_in_few_transactions(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No write falls due by time (a loaded machine takes over FLUSH_SECONDS for 60 sends):
    # the batch fills once, and the claim's end flushes what is left.
    monkeypatch.setattr(outcomes, "FLUSH_SECONDS", 3600.0)
    queue_emails(engine, 60)
    relay = make_relay(relay_batch_size=60)
    assert relay.drain() == 60
    # Each write stamps its rows with one sent_at.
    writes = {r["sent_at"] for r in rows(engine, "outbox")}
    assert None not in writes and len(writes) <= 2, len(writes)


def test_waiting_outcomes_and_claimed_rows_never_exceed_a_batch(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that a crash repeats at most a batch of sends, even when a timed write split one:
    the rows a claim may take and those held (claimed, their outcome not yet written) add up
    to a batch at most; the next claim comes once half of it is written, not all."""
    # Sends of 0.1 s, one at a time, and a write due 0.15 s after the previous one: a batch of
    # 3 has its first two outcomes written at its second, and the third at the claim's end.
    monkeypatch.setattr(outcomes, "FLUSH_SECONDS", 0.15)
    smtp.sink.delay = 0.1
    queue_emails(engine, 6)
    relay = make_relay(relay_batch_size=3, relay_concurrency=1)
    held_at_claims: list[tuple[int, int]] = []
    claim = relay._claimer.claim

    def claim_noting_held(**arguments: Any) -> list[claims.Claimed]:
        held = [r for r in rows(engine, "outbox") if r["status"] == "pending" and r["claim_token"]]
        held_at_claims.append((len(held), arguments["limit"]))
        return claim(**arguments)

    monkeypatch.setattr(relay._claimer, "claim", claim_noting_held)
    assert relay.drain() == 6
    assert statuses(engine) == ["sent"] * 6
    assert len({r["sent_at"] for r in rows(engine, "outbox")}) > 2, "no timed write split one"
    assert all(held + limit <= 3 for held, limit in held_at_claims), held_at_claims
    assert any(held for held, _limit in held_at_claims), "each claim waited for the last one"


def statuses(engine: Engine) -> list[str]:
    """The outbox rows' statuses, in id order."""
    return [r["status"] for r in rows(engine, "outbox")]


def test_outcomes_due_while_the_database_is_away_are_kept_not_left_due(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    relay = make_relay()
    working, unreachable = relay.engine, create_engine_for(UNREACHABLE)
    claimer, kept = relay._claimer, relay.outcomes._kept

    def database_away(_mail: object) -> None:
        relay.engine = relay.outcomes._engine = unreachable
        relay._claimer = claims.Claimer(unreachable)
        if kept is not None:  # PostgreSQL writes a lone outcome on a connection of its own
            relay.outcomes._kept = claims.Claimer(unreachable)

    smtp.sink.on_arrival = database_away
    queue_emails(engine, 1)
    # The outcome cannot be written, and is kept for later rather than left due (which would
    # have the daemon loop poll again at once, forever); the next claim fails.
    Daemon(relay, Wake()).poll()
    smtp.sink.on_arrival = None
    assert relay.outcomes.next_write_in() is None
    assert statuses(engine) == ["pending"]
    relay.engine, relay._claimer = working, claimer
    relay.outcomes._engine, relay.outcomes._kept = working, kept
    relay.deliver_due()
    assert statuses(engine) == ["sent"]
    assert len(smtp.sink.received) == 1, "written late, not sent again"
