"""A year's data by SQL, for bench/scale_data.py: messages numbered [start, stop) and what goes
with them, spread over the last 7 days in the order of their numbers.

Message i: every 10th an SMS, the rest emails; even ones an activation code (its account and
token written with it: one account for two messages), odd ones a welcome notice. By i % 100:
90 % sent, 3 % dead (unresolved), 1 % pending (tried once, due again in 12
hours, expiring after 8 days: no relay of the bench claims them), 4 %
cancelled (never tried), 1 % withheld, 1 % bounced (with the bounce and the address's
suppression); one attempt each but the cancelled. Every 10th sent message has its delivery
receipt. In proportion besides: throttle rows over the last 8 hours (one per 20 messages),
idempotency keys and provider notifications of the last day (one per 50), audit rows (one per
1,000). Ids are the message's number (and the account's), so each table's rows are written in
one statement a chunk without a join; the app's own rows get ids from APP_IDS on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text

from shared.operations.tallies import fold

# One transaction a chunk: its rows and their index entries stay in memory.
CHUNK = 250_000
SERIES = "FROM generate_series(:start, :stop - 1) AS i"
_CODE = "md5(i::text) || md5((i + 1)::text)"
_SENT = "i % 100 < 90 OR i % 100 = 99 OR i % 100 = 98"
STATUS = (
    "CASE WHEN i % 100 < 90 THEN 'sent' WHEN i % 100 < 93 THEN 'dead' "
    "WHEN i % 100 = 93 THEN 'pending' WHEN i % 100 < 98 THEN 'cancelled' "
    "WHEN i % 100 = 98 THEN 'withheld' ELSE 'bounced' END"
)
# How long before :now row i was written, as a share of its window (7 days for a message): the
# rows of one growth, [:first, :last), spread evenly over it in the order of their numbers, as
# a service writes them, so that a day's rows lie together where retention deletes them
# (spread at random, each batch of the purge touched a thousand pages, and wrote each whole to
# the WAL after a checkpoint).
AGO = "(1 - (i - :first + 0.5) / (:last - :first))"
WRITTEN = f"CAST(:now AS timestamptz) - {AGO} * interval '7 days'"
USERS = f"""
INSERT INTO users (id, email, password_hash, locale, status, created_at, activated_at)
SELECT i / 2 + 1, 'u' || (i / 2) || '@scale.test', '$argon2id$v=19$m=65536,t=3,p=4$bench',
       'en', CASE WHEN i % 40 = 0 THEN 'pending' ELSE 'active' END, {WRITTEN},
       CASE WHEN i % 40 = 0 THEN NULL ELSE {WRITTEN} END
{SERIES} WHERE i % 2 = 0
"""
TOKENS = f"""
INSERT INTO verification_tokens (id, user_id, purpose, code_hmac, status, failed_attempts,
                                 created_at, expires_at, used_at)
SELECT i / 2 + 1, i / 2 + 1, 'activation', {_CODE}, 'used', 0, {WRITTEN},
       {WRITTEN} + interval '1 day', {WRITTEN} + interval '5 minutes'
{SERIES} WHERE i % 2 = 0
"""
OUTBOX = f"""
INSERT INTO outbox (id, public_id, created_at, channel, purpose, recipient, locale, template,
                    params, user_id, token_id, status, attempts, next_attempt_at, expires_at,
                    sent_at, dead_reason, dead_at, priority, recipient_hash, last_error)
SELECT i + 1, md5('m' || i)::uuid::text, {WRITTEN},
       CASE WHEN i % 10 = 9 THEN 'sms' ELSE 'email' END,
       CASE WHEN i % 2 = 0 THEN 'activation' ELSE 'welcome' END,
       CASE WHEN i % 10 = 9 THEN '+1555' || lpad((i / 2)::text, 7, '0')
            ELSE 'u' || (i / 2) || '@scale.test' END,
       'en', CASE WHEN i % 2 = 0 THEN 'activation' ELSE 'welcome' END, '{{}}'::json,
       i / 2 + 1, CASE WHEN i % 2 = 0 THEN i / 2 + 1 END, {STATUS},
       CASE WHEN i % 100 BETWEEN 94 AND 97 THEN 0 ELSE 1 END,
       CASE WHEN i % 100 = 93 THEN CAST(:now AS timestamptz) + interval '12 hours'
            ELSE {WRITTEN} END,
       {WRITTEN} + interval '8 days',
       CASE WHEN {_SENT} THEN {WRITTEN} + interval '2 seconds' END,
       CASE WHEN i % 100 BETWEEN 90 AND 92 THEN 'permanent_error' END,
       CASE WHEN i % 100 BETWEEN 90 AND 92 THEN {WRITTEN} + interval '2 seconds' END,
       CASE WHEN i % 2 = 0 THEN 0 ELSE 1 END, {_CODE},
       CASE WHEN i % 100 BETWEEN 90 AND 93 THEN 'SMTP 550 5.1.1 no such user' END
{SERIES}
"""
ATTEMPTS = f"""
INSERT INTO outbox_attempts (id, outbox_id, attempted_at, outcome, duration_ms, error)
SELECT i + 1, i + 1, {WRITTEN} + interval '2 seconds',
       CASE WHEN i % 100 BETWEEN 90 AND 92 THEN 'permanent'
            WHEN i % 100 = 93 THEN 'transient' ELSE 'sent' END, 40,
       CASE WHEN i % 100 BETWEEN 90 AND 93 THEN 'SMTP 550 5.1.1 no such user' END
{SERIES} WHERE i % 100 NOT BETWEEN 94 AND 97
"""
EVENTS = f"""
INSERT INTO provider_events (id, outbox_id, type, permanent, diagnostic, source, at)
SELECT i + 1, i + 1, CASE WHEN i % 100 = 99 THEN 'bounce' ELSE 'delivery' END,
       i % 100 = 99, NULL, 'ses', {WRITTEN} + interval '1 minute'
{SERIES} WHERE i % 100 = 99 OR (i % 10 = 0 AND i % 100 < 90)
"""
SUPPRESSIONS = f"""
INSERT INTO suppressions (id, address, address_hash, reason, source, event_id, created_at)
SELECT i + 1, CASE WHEN i % 10 = 9 THEN '+1555' || lpad((i / 2)::text, 7, '0')
                   ELSE 'u' || (i / 2) || '@scale.test' END,
       {_CODE}, 'hard_bounce', 'ses', i + 1, {WRITTEN} + interval '1 minute'
{SERIES} WHERE i % 100 = 99
"""
THROTTLES = f"""
INSERT INTO throttle_events (id, key, at)
SELECT i + 1, {_CODE}, CAST(:now AS timestamptz) - {AGO} * interval '8 hours'
{SERIES} WHERE i % 20 = 0
"""
IDEMPOTENCY = f"""
INSERT INTO idempotency_keys (key, request_hmac, created_at)
SELECT {_CODE}, md5('r' || i), CAST(:now AS timestamptz) - {AGO} * interval '1 day'
{SERIES} WHERE i % 50 = 0
"""
NOTIFICATIONS = f"""
INSERT INTO provider_notifications (source, notification_id, received_at)
SELECT 'ses', 'n' || i, CAST(:now AS timestamptz) - {AGO} * interval '1 day'
{SERIES} WHERE i % 50 = 25
"""
AUDIT = f"""
INSERT INTO operator_actions (at, actor, action, target, details)
SELECT {WRITTEN}, 'cli:bench', 'retry', md5('m' || i)::uuid::text, '{{}}'::json
{SERIES} WHERE i % 1000 = 0
"""
STATEMENTS = (
    USERS,
    TOKENS,
    OUTBOX,
    ATTEMPTS,
    EVENTS,
    SUPPRESSIONS,
    THROTTLES,
    IDEMPOTENCY,
    NOTIFICATIONS,
    AUDIT,
)
TALLIES = ("outbox_counts", "attempt_hours", "minute_counts", "suppression_counts")
# Where the ids of the rows the app writes start, past any message number.
APP_IDS = 1_000_000_000
SEQUENCES = (
    "users_id_seq",
    "verification_tokens_id_seq",
    "outbox_id_seq",
    "outbox_attempts_id_seq",
    "provider_events_id_seq",
    "suppressions_id_seq",
    "throttle_events_id_seq",
)


def grow(engine: Engine, start: int, stop: int, now: datetime) -> None:
    """Write messages [start, stop) and their rows, a chunk a transaction; then set the
    sequences past them, fold the tallies and vacuum and analyze, as a running relay and
    autovacuum would have by then."""
    for low in range(start, stop, CHUNK):
        bounds = {"start": low, "stop": min(stop, low + CHUNK), "now": now}
        bounds |= {"first": start, "last": stop}
        with engine.begin() as connection:
            for statement in STATEMENTS:
                connection.execute(text(statement), bounds)
    with engine.begin() as connection:
        for sequence in SEQUENCES:
            connection.execute(
                text(
                    f"SELECT setval('{sequence}', greatest(last_value, {APP_IDS})) FROM {sequence}"
                )
            )
        # What a running relay's report does every 5 s (shared/operations/tallies.py).
        fold(connection, now)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # The bulk inserts appended a tally row a minute of the week a chunk, folded away: a
        # running service's tallies stay small (autovacuum keeps up with a fold's few rows).
        connection.execute(text(f"VACUUM FULL {', '.join(TALLIES)}"))
        connection.execute(text("VACUUM ANALYZE"))


# The tables that grow with the messages, whose bytes a message the projection cites.
MEASURED = (
    "outbox",
    "outbox_attempts",
    "verification_tokens",
    "provider_events",
    "users",
    "throttle_events",
    "suppressions",
    "operator_actions",
)


def footprint(engine: Engine, messages: int) -> dict[str, float]:
    """Bytes a message of each table that grows with them, its indexes and TOAST included
    (pg_total_relation_size), after the vacuum `grow` ends with."""
    with engine.connect() as connection:
        return {
            table: connection.execute(
                text("SELECT pg_total_relation_size(CAST(:table AS regclass))"), {"table": table}
            ).scalar_one()
            / messages
            for table in MEASURED
        }
