"""Claims, leases and fencing in the relay's SQL, on a real database."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text, update

from outbox_relay import claims, marks, releases, store
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import outbox
from shared.messaging.outbox import ERASED
from support.bulk import add_rows, queue_emails
from support.databases import admin
from support.rows import rows

GOOD = {"password": "correct horse battery staple"}


def queue(client: FlaskClient, n: int) -> None:
    for i in range(n):
        body = {**GOOD, "email": f"user{i}@example.com"}
        assert client.post("/v1/registrations", json=body).status_code == 202


def test_claimed_rows_are_invisible_to_other_claims_until_the_lease_lapses(
    client: FlaskClient, engine: Engine, claimer: claims.Claimer
) -> None:
    queue(client, 3)
    now = utcnow()
    first = claimer.claim(now=now, limit=2, lease_seconds=60)
    second = claimer.claim(now=now, limit=10, lease_seconds=60)
    assert len(first) == 2 and len(second) == 1
    assert not {r.id for r in first} & {r.id for r in second}
    assert claimer.claim(now=now, limit=10, lease_seconds=60) == []
    later = now + timedelta(seconds=61)
    again = claimer.claim(now=later, limit=10, lease_seconds=60)
    assert {r.id for r in again} == {r.id for r in first + second}


def test_a_relay_whose_lease_lapsed_cannot_mark_the_row(
    client: FlaskClient, engine: Engine, claimer: claims.Claimer
) -> None:
    queue(client, 1)
    now = utcnow()
    [mine] = claimer.claim(now=now, limit=1, lease_seconds=60)
    later = now + timedelta(seconds=61)
    sent = marks.Mark(mine, marks.Attempt("sent", later, 5))
    assert store.mark(engine, [sent], later) == set()
    [theirs] = claimer.claim(now=later, limit=1, lease_seconds=60)
    assert theirs.claim_token != mine.claim_token
    dead = marks.Mark(mine, marks.Attempt("permanent", later, 5), dead_reason="permanent_error")
    retry = marks.Mark(mine, marks.Attempt("transient", later, 5), retry_at=later)
    assert store.mark(engine, [sent, dead, retry], later) == set()
    assert rows(engine, "outbox_attempts") == []
    assert store.mark(engine, [marks.Mark(theirs, marks.Attempt("sent", later, 5))], later) == {
        theirs.id
    }
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_sent_rows_of_many_claims_are_marked_together_but_not_one_another_relay_took(
    engine: Engine, claimer: claims.Claimer
) -> None:
    queue_emails(engine, 3)
    now = utcnow()
    [lapsed] = claimer.claim(now=now, limit=1, lease_seconds=10)
    first, second = (claimer.claim(now=now, limit=1, lease_seconds=60)[0] for _ in range(2))
    # Another relay takes the row whose lease lapsed.
    later = now + timedelta(seconds=11)
    with closing(claims.Claimer(engine)) as other:
        [taken] = other.claim(now=later, limit=10, lease_seconds=60)
    assert taken.id == lapsed.id and len({first.claim_token, second.claim_token}) == 2
    sent = [marks.Mark(row, marks.Attempt("sent", later, 1)) for row in (lapsed, first, second)]
    assert store.mark(engine, sent, later) == {first.id, second.id}
    by_id = {row["id"]: row for row in rows(engine, "outbox")}
    assert by_id[taken.id]["claim_token"] == taken.claim_token
    assert by_id[taken.id]["status"] == "pending"
    assert [a["outbox_id"] for a in rows(engine, "outbox_attempts")] == [first.id, second.id]


@pytest.mark.postgresql_only
def test_delivered_rows_written_in_one_statement_are_fenced_as_a_batch_is(
    engine: Engine, claimer: claims.Claimer
) -> None:
    queue_emails(engine, 4)
    now = utcnow()
    [lapsed] = claimer.claim(now=now, limit=1, lease_seconds=10)
    mine, erased, silent = claimer.claim(now=now, limit=3, lease_seconds=60)
    later = now + timedelta(seconds=11)
    with closing(claims.Claimer(engine)) as other:
        [taken] = other.claim(now=later, limit=10, lease_seconds=60)
    with engine.begin() as connection:
        connection.execute(update(outbox).where(outbox.c.id == erased.id).values(recipient=ERASED))

    def delivered(*sent: tuple[claims.Claimed, str | None, int]) -> set[int]:
        written = [
            marks.Mark(row, marks.Attempt("sent", later, ms), provider_id=provider_id)
            for row, provider_id, ms in sent
        ]
        return claimer.run(lambda connection: store.mark_delivered(connection, written, later))

    assert delivered((lapsed, "id-1", 5)) == set()
    assert delivered((mine, "id-2", 7)) == {mine.id}
    assert delivered((mine, "id-3", 8)) == set(), "a row marks once"
    both = delivered((lapsed, "id-4", 5), (erased, "id-5", 9), (silent, None, 11))
    assert both == {erased.id, silent.id}
    by_id = {row["id"]: row for row in rows(engine, "outbox")}
    assert (by_id[taken.id]["status"], by_id[taken.id]["claim_token"]) == (
        "pending",
        taken.claim_token,
    )
    assert [by_id[row.id]["status"] for row in (mine, erased, silent)] == ["sent"] * 3
    assert [by_id[row.id]["provider_message_id"] for row in (mine, erased, silent)] == [
        "id-2",
        None,
        None,
    ]
    assert [by_id[mine.id][column] for column in ("attempts", "secret_params", "sent_at")] == [
        1,
        None,
        later,
    ]
    recorded = sorted(
        (a["outbox_id"], a["outcome"], a["duration_ms"], a["attempted_at"])
        for a in rows(engine, "outbox_attempts")
    )
    assert recorded == [
        (mine.id, "sent", 7, later),
        (erased.id, "sent", 9, later),
        (silent.id, "sent", 11, later),
    ]


@pytest.mark.postgresql_only
def test_a_claim_outlives_the_server_dropping_the_kept_connection(
    engine: Engine, claimer: claims.Claimer
) -> None:
    queue_emails(engine, 2)
    [first] = claimer.claim(now=utcnow(), limit=1, lease_seconds=60)
    with admin() as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = %s",
            (engine.url.database,),
        )
    [second] = claimer.claim(now=utcnow(), limit=1, lease_seconds=60)
    assert first.id != second.id


def test_one_write_marks_a_whole_batch_and_fences_each_row(
    client: FlaskClient, engine: Engine, claimer: claims.Claimer
) -> None:
    queue(client, 4)
    now = utcnow()
    first, second, third, fourth = claimer.claim(now=now, limit=4, lease_seconds=60)
    at = now + timedelta(seconds=1)
    kept = store.mark(
        engine,
        [
            marks.Mark(first, marks.Attempt("sent", at, 3)),
            marks.Mark(second, marks.Attempt("sent", at, 4)),
            marks.Mark(third, marks.Attempt("permanent", at, 5, "SMTP 550"), "permanent_error"),
            marks.Mark(fourth, marks.Attempt("transient", at, 6, "SMTP 451"), retry_at=at),
        ],
        at,
    )
    assert kept == {first.id, second.id, third.id, fourth.id}
    statuses = [
        (r["status"], r["attempts"], r["secret_params"] is None) for r in rows(engine, "outbox")
    ]
    assert statuses == [
        ("sent", 1, True),
        ("sent", 1, True),
        ("dead", 1, True),
        ("pending", 1, False),
    ]
    assert [a["outcome"] for a in rows(engine, "outbox_attempts")] == [
        "sent",
        "sent",
        "permanent",
        "transient",
    ]


def test_release_hands_rows_back_at_once(
    client: FlaskClient, engine: Engine, claimer: claims.Claimer
) -> None:
    queue(client, 2)
    now = utcnow()
    claimed = claimer.claim(now=now, limit=10, lease_seconds=60)
    assert releases.release(engine, claimed, now) == 2
    assert len(claimer.claim(now=now, limit=10, lease_seconds=60)) == 2


def test_ten_thousand_rows_claimed_at_once_are_released_and_marked_in_one_go(
    engine: Engine, claimer: claims.Claimer
) -> None:
    """The bench drains 10,000 rows claimed together: one statement must take them all."""
    queue_emails(engine, 10_000)
    now = utcnow()
    claimed = claimer.claim(now=now, limit=10_000, lease_seconds=60)
    assert releases.release(engine, claimed, now) == 10_000
    claimed = claimer.claim(now=now, limit=10_000, lease_seconds=60)
    sent = [marks.Mark(row, marks.Attempt("sent", now, 1)) for row in claimed]
    assert len(store.mark(engine, sent, now)) == 10_000


def test_claiming_reads_the_due_index_not_the_sent_rows(
    client: FlaskClient, engine: Engine, backend: str, claimer: claims.Claimer
) -> None:
    queue(client, 1)
    add_rows(engine, 200_000)
    with engine.begin() as connection:
        if backend == "sqlite":
            connection.execute(text("ANALYZE"))
            plan = " ".join(
                str(r[-1])
                for r in connection.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE status = 'pending' "
                        "AND next_attempt_at <= :now ORDER BY priority, next_attempt_at LIMIT 100"
                    ),
                    {"now": "9999"},
                )
            )
            assert "USING INDEX outbox_due" in plan, plan
        else:
            connection.execute(text("ANALYZE outbox"))
            [[plan]] = connection.execute(
                text(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM outbox "
                    "WHERE status = 'pending' AND next_attempt_at <= now() "
                    "ORDER BY priority, next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED"
                )
            )
            top = plan[0]["Plan"]
            blocks = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
            assert blocks < 20, f"claim touched {blocks} blocks with 200,000 sent rows"
    assert len(claimer.claim(now=utcnow(), limit=100, lease_seconds=60)) == 1


def test_concurrent_claims_never_share_a_row(engine: Engine, database_url: str) -> None:
    queue_emails(engine, 400)
    engines = [create_engine_for(database_url) for _ in range(8)]
    barrier = threading.Barrier(len(engines))
    claimed: list[list[int]] = []

    def claim_all(own: Engine) -> None:
        barrier.wait()
        mine: list[int] = []
        with closing(claims.Claimer(own)) as claimer:
            while batch := claimer.claim(now=utcnow(), limit=25, lease_seconds=60):
                mine.extend(row.id for row in batch)
                # A relay delivers between claims. Claiming back to back, one thread could take
                # every batch while SQLite's busy handler had the others sleep (it did, in CI).
                time.sleep(0.005)
        claimed.append(mine)

    threads = [threading.Thread(target=claim_all, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for own in engines:
        own.dispose()
    every = [row_id for mine in claimed for row_id in mine]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for mine in claimed if mine) > 1, "the claims did not overlap in time"


@pytest.mark.postgresql_only
def test_a_claim_skips_rows_another_transaction_holds(engine: Engine, database_url: str) -> None:
    ids = queue_emails(engine, 10)
    impatient = create_engine_for(database_url, connect_args={"options": "-c lock_timeout=2000"})
    try:
        with engine.connect() as holder, holder.begin():
            held = (
                holder.execute(text("SELECT id FROM outbox ORDER BY id LIMIT 4 FOR UPDATE"))
                .scalars()
                .all()
            )
            with closing(claims.Claimer(impatient)) as claimer:
                claimed = claimer.claim(now=utcnow(), limit=10, lease_seconds=60)
        assert len(ids) == 10
        assert {row.id for row in claimed} == {r["id"] for r in rows(engine, "outbox")} - set(held)
    finally:
        impatient.dispose()


@pytest.mark.postgresql_only
def test_claims_walk_the_due_index_in_order_even_with_stale_statistics(
    engine: Engine, database_url: str
) -> None:
    # 20,000 rows sent and 1,000 due, never analysed: the planner believes few rows are due
    # and, left alone, reads them all through a bitmap and sorts them on every claim.
    queue_emails(engine, 1_000, prefix="old")
    columns = ", ".join(c.name for c in outbox.columns if c.name not in ("id", "public_id"))
    copy = (
        f"INSERT INTO outbox (public_id, {columns}) "
        f"SELECT gen_random_uuid()::text, {columns} FROM outbox ORDER BY id LIMIT 1000"
    )
    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET status = 'sent'"))
        # The other 19,000 copied in the database: 20,000 sealed one by one took minutes on a
        # loaded machine.
        for _ in range(19):
            connection.execute(text(copy))
    queue_emails(engine, 1_000, prefix="due")
    relays = create_engine_for(database_url)
    claims.prepare(relays)
    try:
        with relays.connect() as connection:
            plan = "\n".join(connection.execute(text(f"EXPLAIN {CLAIM_SCAN}")).scalars())
    finally:
        relays.dispose()
    assert "Index Scan using outbox_due" in plan, plan


CLAIM_SCAN = (
    "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now() "
    "ORDER BY priority, next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED"
)


def test_a_code_is_claimed_before_a_backlog_of_notices(
    client: FlaskClient, engine: Engine, claimer: claims.Claimer
) -> None:
    queue_emails(engine, 1_000, prefix="welcome")
    reset = {"email": "late@example.com"}
    assert client.post("/v1/registrations", json={**GOOD, **reset}).status_code == 202
    first = claimer.claim(now=utcnow(), limit=100, lease_seconds=60)
    assert [r.recipient for r in first if r.purpose == "activation"] == ["late@example.com"]
    assert sum(1 for r in first if r.purpose == "welcome") == 99


def test_rows_of_a_paused_channel_stay_unclaimed_unless_their_horizon_passed(
    engine: Engine, claimer: claims.Claimer
) -> None:
    [waiting, expired] = queue_emails(engine, 2, prefix="paused")
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == expired)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    claimed = claimer.claim(now=utcnow(), limit=100, lease_seconds=60, paused=["email"])
    assert [r.public_id for r in claimed] == [expired]
    claimed = claimer.claim(now=utcnow(), limit=100, lease_seconds=60, paused=["sms"])
    assert [r.public_id for r in claimed] == [waiting]
