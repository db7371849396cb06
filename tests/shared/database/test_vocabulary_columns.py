"""The columns of words (shared/database/columns.py `Vocabulary`): the VARCHAR the migrations
made, written from a member or its text, read as the member; a word this release does not know
(a newer release's row, read during a rolling upgrade) reads as its plain text, never an
error."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, Engine, MetaData, insert, select, text

from outbox_relay.claims import Claimer
from shared.accounts.accounts import UserStatus
from shared.accounts.history import AccountEvent, events_of
from shared.clock import utcnow
from shared.database.columns import Vocabulary
from shared.database.models import (
    account_events,
    metadata,
    outbox,
    outbox_attempts,
    provider_events,
    provider_pauses,
    suppressions,
    users,
    verification_tokens,
)
from shared.messaging.outbox import AttemptOutcome, Channel, Purpose, Status
from shared.messaging.provider_pauses import pauses
from shared.messaging.suppressions import SuppressionReason, listed
from shared.operations.dead_letters import show
from shared.operations.lookup import accounts_of, messages_to
from shared.operations.tallies import status_counts
from shared.reports.provider_events import ProviderEventType
from shared.secrets.codes import CodeStatus
from shared.vocabulary import PausedBy
from support.bulk import queue_one

# A word no release of ours has written: short enough for every column of words.
NEWER = "newer"
RECIPIENT = "ada@example.com"


def _columns_of_words() -> list[Column[str]]:
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Vocabulary)
    ]


def _type_changes(connection: Connection, models: MetaData) -> list[str]:
    """The columns whose type alembic's autogenerate would change to match `models`."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    changes = [
        step
        for diff in compare_metadata(context, models)
        if isinstance(diff, list)
        for step in diff
        if step[0] == "modify_type"
    ]
    return sorted(f"{table}.{column}" for _, _, table, column, *_ in changes)


def test_the_columns_of_words_are_the_varchars_the_migrations_made(engine: Engine) -> None:
    words = {f"{column.table.name}.{column.name}" for column in _columns_of_words()}
    wider = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(wider)
    wider.tables["outbox"].c.channel.type = Vocabulary((Channel,), 11)
    with engine.connect() as connection:
        assert words & set(_type_changes(connection, metadata)) == set()
        # The comparison sees a column of words: one wider than the schema's is a change.
        assert "outbox.channel" in _type_changes(connection, wider)


def test_a_word_is_written_from_its_member_or_its_text_and_read_as_its_member(
    engine: Engine,
) -> None:
    queue_one(engine, RECIPIENT, channel="email")
    queue_one(engine, RECIPIENT, channel=Channel.SMS, purpose=Purpose.WELCOME)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT channel FROM outbox ORDER BY id")).scalars()
        assert [type(word) for word in stored] == [str, str]
        read = connection.execute(select(outbox.c.channel).order_by(outbox.c.id)).scalars()
        assert list(read) == [Channel.EMAIL, Channel.SMS]
        found = connection.execute(select(outbox.c.id).where(outbox.c.channel == "sms")).all()
        assert len(found) == 1


def _allow_newer_words(connection: Connection) -> None:
    """What a newer release's migration would do: let the columns take words this one does not
    know (the CHECKs that list each column's words)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        return
    checks = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        )
    ).all()
    for table, name in checks:
        connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def test_a_claim_reads_a_word_it_does_not_know_as_its_text(
    engine: Engine, claimer: Claimer
) -> None:
    queue_one(engine, RECIPIENT)
    with engine.begin() as connection:
        _allow_newer_words(connection)
        connection.execute(text(f"UPDATE outbox SET channel = '{NEWER}', purpose = '{NEWER}'"))
    [claimed] = claimer.claim(now=utcnow() + timedelta(seconds=1), limit=10, lease_seconds=60)
    assert (claimed.channel, claimed.purpose) == (NEWER, NEWER)
    assert type(claimed.channel) is str and type(claimed.purpose) is str


def _every_table_with_words(connection: Connection, public_id: str) -> int:
    """A row in each table that has a column of words, each word a known one: the user's id."""
    now = utcnow()
    user_id = connection.execute(
        insert(users).returning(users.c.id),
        {"email": RECIPIENT, "password_hash": "x", "locale": "en"}
        | {"status": UserStatus.ACTIVE, "created_at": now},
    ).scalar_one()
    message_id = connection.execute(
        select(outbox.c.id).where(outbox.c.public_id == public_id)
    ).scalar_one()
    connection.execute(
        insert(verification_tokens),
        {"user_id": user_id, "purpose": Purpose.ACTIVATION, "code_hmac": "x"}
        | {"status": CodeStatus.ACTIVE, "failed_attempts": 0}
        | {"created_at": now, "expires_at": now},
    )
    connection.execute(
        insert(account_events), {"user_id": user_id, "type": AccountEvent.ACTIVATED, "at": now}
    )
    connection.execute(
        insert(outbox_attempts),
        {"outbox_id": message_id, "attempted_at": now}
        | {"outcome": AttemptOutcome.TRANSIENT, "duration_ms": 1},
    )
    connection.execute(
        insert(provider_events),
        {"outbox_id": message_id, "type": ProviderEventType.BOUNCE, "permanent": True}
        | {"source": "outpost", "at": now},
    )
    connection.execute(
        insert(suppressions),
        {"address_hash": "x", "reason": SuppressionReason.REJECTED}
        | {"source": "outpost", "created_at": now},
    )
    connection.execute(
        insert(provider_pauses),
        {"provider": "smtp", "paused_by": PausedBy.RELAY, "why": "x", "since": now},
    )
    return int(user_id)


def test_every_column_reads_a_word_it_does_not_know_as_its_text(engine: Engine) -> None:
    public_id = queue_one(engine, RECIPIENT)
    written = [c for c in _columns_of_words() if c.table.name != "outbox_counts"]
    with engine.begin() as connection:
        user_id = _every_table_with_words(connection, public_id)
        _allow_newer_words(connection)
        for column in written:
            connection.execute(text(f"UPDATE {column.table.name} SET {column.name} = '{NEWER}'"))
    with engine.connect() as connection:
        for column in _columns_of_words():
            read = set(connection.execute(select(column).distinct()).scalars())
            assert NEWER in read, column
            assert {type(word) for word in read if word == NEWER} == {str}, column
        detail = show(connection, public_id)
        [sent], _ = messages_to(connection, RECIPIENT)
        [account] = accounts_of(connection, email=RECIPIENT)
        [event], _ = events_of(connection, user_id)
        [suppression] = listed(connection)
        counts = status_counts(connection)
        [pause] = pauses(connection).values()
    assert detail is not None
    assert pause.paused_by == NEWER
    assert (detail.status, detail.dead_reason, detail.resolution) == (NEWER, NEWER, NEWER)
    assert (detail.history[0].outcome, detail.provider_events[0].type) == (NEWER, NEWER)
    assert (sent.channel, sent.purpose, sent.status, sent.reason) == (NEWER, NEWER, NEWER, None)
    assert (account.status, event.type, suppression.reason) == (NEWER, NEWER, NEWER)
    assert counts[NEWER] == {NEWER: 1}
    assert counts.get(Status.PENDING, {}) == {}
