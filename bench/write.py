"""Sign-up transactions on one connection: Outpost's own write code against plain psycopg.

Run from the repository root: `.venv/bin/python -m bench.write [--signups N] [--rounds N]`.

Both write the rows a sign-up leaves in PostgreSQL: the user (with its password hash), its
activation code's HMAC, the outbox row with the sealed code, and the per-address throttle
event. Outpost's side is the registration flow itself (`api_service.flows.registration`) with
every statement, lock and check it runs, minus the argon2 hash: both sides take the same
pre-computed hash. The plain side is four INSERTs and a commit with psycopg, its codes and
sealed secrets drawn before the clock starts. A third loop runs Outpost's own statements (the
address's lock, its throttle check, the user's INSERT, the code's and its message's in one
statement, the hash's UPDATE) with plain psycopg,
which splits the gap in two: what those statements cost the database, and what the layers
above the driver (SQLAlchemy, the flow's Python) cost. The NOTIFY trigger fires on all
three. Rounds alternate, so that a machine whose speed drifts weighs on all alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import hmac
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import psycopg

from api_service import create_app
from api_service.flows.commands import Register
from api_service.flows.dependencies import Dependencies
from api_service.flows.passwords import Passwords, make_hasher
from api_service.flows.registration import Registration, register
from bench.common import command, machine, postgres_database
from shared.clock import utcnow
from shared.secrets.codes import code_hmac, derive_key, new_code
from shared.secrets.secretbox import SecretBox
from shared.vocabulary import Purpose
from support.constants import SECRET_KEY

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
HASH = make_hasher().hash(PASSWORD)
ACTIVATION_TTL = 86400


class Prehashed(Passwords):
    """The password's hash is known already: the work alone runs, on the calling thread."""

    def hash_beside(self, password: str, work: Callable[[], T]) -> tuple[str, T]:
        return HASH, work()


def main() -> int:
    """Measure both loops in alternate rounds, print their rates, the ratio and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signups", type=int, default=2000, help="per loop and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with postgres_database("outpost_write") as url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY})
        deps = dataclasses.replace(
            app.extensions["outpost"], passwords=Prehashed(beside_transaction=False)
        )
        plain = PlainWriter(url.replace("postgresql+psycopg://", "postgresql://"))
        loops: dict[str, Callable[[str, int], None]] = {
            "outpost": partial(outpost_signups, deps),
            "plain": plain.signups,
            "statements": plain.outpost_statements,
        }
        rates: dict[str, list[float]] = {name: [] for name in loops}
        for n in range(args.rounds + 1):
            for name, loop in loops.items():
                seconds = timed(loop, f"{name[0]}{n}", args.signups)
                # The first round warms all (statement caches, prepared statements): not counted.
                if n:
                    rates[name].append(args.signups / seconds)
        deps.engine.dispose()
        plain.close()

    print(machine())
    print(f"sign-up transactions on one connection, {args.signups} a loop, {args.rounds} rounds:")
    print(f"  Outpost's write code: {_rates(rates['outpost'])}")
    print(f"  plain psycopg, same rows: {_rates(rates['plain'])}")
    print(f"  plain psycopg, Outpost's statements: {_rates(rates['statements'])}")
    _ratios("Outpost ÷ plain", rates["outpost"], rates["plain"], " (target: at least 0.70)")
    _ratios("Outpost's statements ÷ plain (what they cost)", rates["statements"], rates["plain"])
    _ratios(
        "Outpost ÷ its statements (what the layers cost)", rates["outpost"], rates["statements"]
    )
    print(command("bench.write"))
    return 0


def timed(work: Callable[[str, int], None], tag: str, count: int) -> float:
    """Seconds `work(tag, count)` took."""
    started = time.perf_counter()
    work(tag, count)
    return time.perf_counter() - started


def outpost_signups(deps: Dependencies, tag: str, count: int) -> None:
    """`count` registrations through the flow, each its own transaction."""
    for n in range(count):
        data = {
            "email": f"{tag}n{n}@example.com",
            "password": PASSWORD,
            "full_name": None,
            "locale": "en",
            "channel": "email",
        }
        register(deps, Registration(Register.of(data), payload=data))


@dataclass(frozen=True)
class _Signup:
    """What one plain sign-up writes: its address, times, code and sealed secret."""

    email: str
    now: datetime
    expires: datetime
    code: str
    sealed: str


class PlainWriter:
    """The same rows with plain psycopg statements and nothing else."""

    def __init__(self, url: str) -> None:
        self._connection = psycopg.connect(url)
        self._box = SecretBox(SECRET_KEY)
        self._throttle_key = derive_key(SECRET_KEY, "outpost/throttle")

    def signups(self, tag: str, count: int) -> None:
        """`count` sign-ups, each its own transaction: four INSERTs."""
        cursor = self._connection.cursor()
        for one in self._each(tag, count):
            cursor.execute(_THROTTLE, (uuid.uuid4().hex + uuid.uuid4().hex, one.now))
            user_id = _one(cursor.execute(_USER, (one.email, HASH, one.now)))
            self._code_and_message(cursor, one, user_id)

    def outpost_statements(self, tag: str, count: int) -> None:
        """`count` sign-ups made of the statements Outpost's flow sends, written out: the
        address's lock, its throttle check and event (forgetting its code tries), the user
        with no hash yet, its code and the outbox row in one statement, and the hash's
        UPDATE (the per-IP check, which the flow takes with that UPDATE, is not run here)."""
        cursor = self._connection.cursor()
        for one in self._each(tag, count):
            key = self._digest(f"activation:{one.email}")
            cursor.execute(_LOCK, (int.from_bytes(bytes.fromhex(key)[:8], "big", signed=True),))
            forgotten = self._digest(f"code-tries:activation:{one.email}")
            minute, hour = one.now - timedelta(minutes=1), one.now - timedelta(hours=1)
            values = {"key": key, "now": one.now, "forgotten": forgotten}
            cursor.execute(_TAKE, {**values, "since0": minute, "since1": hour})
            user_id = _one(cursor.execute(_USER_PENDING, (one.email, one.now)))
            token = code_hmac(SECRET_KEY, user_id, Purpose.ACTIVATION, one.code)
            row = (user_id, token, one.now, one.expires, str(uuid.uuid4()), one.now)
            cursor.execute(_TOKEN_AND_OUTBOX, (*row, one.email, _PARAMS, one.sealed, user_id))
            cursor.execute(_SET_HASH, (HASH, user_id))

    def _each(self, tag: str, count: int) -> Iterator[_Signup]:
        """The values of `count` sign-ups, codes and sealed secrets drawn before the first;
        each sign-up's transaction commits once the loop's body for it has run."""
        codes = [new_code() for _ in range(count)]
        sealed = [self._box.seal({"code": code}) for code in codes]
        for n in range(count):
            now = utcnow()
            expires = now + timedelta(seconds=ACTIVATION_TTL)
            yield _Signup(f"{tag}n{n}@example.com", now, expires, codes[n], sealed[n])
            self._connection.commit()

    @staticmethod
    def _code_and_message(cursor: psycopg.Cursor[Any], one: _Signup, user_id: int) -> None:
        """The user's activation code and its outbox row."""
        token = code_hmac(SECRET_KEY, user_id, Purpose.ACTIVATION, one.code)
        token_id = _one(cursor.execute(_TOKEN, (user_id, token, one.now, one.expires)))
        values = (str(uuid.uuid4()), one.now, one.email, _PARAMS, one.sealed, user_id, token_id)
        cursor.execute(_OUTBOX, (*values, one.now, one.expires))

    def _digest(self, subject: str) -> str:
        return hmac.new(self._throttle_key, subject.encode(), hashlib.sha256).hexdigest()

    def close(self) -> None:
        self._connection.close()


def _one(cursor: psycopg.Cursor[Any]) -> int:
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


_PARAMS = json.dumps({"expires_minutes": ACTIVATION_TTL // 60})
_THROTTLE = "INSERT INTO throttle_events (key, at) VALUES (%s, %s)"
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
# The throttle's statement as shared.database.throttle builds it for a sign-up: one message a
# minute and five an hour, the address's code tries forgotten once the event is recorded.
_LIMITED = """
    EXISTS (SELECT id FROM throttle_events
             WHERE key = %(key)s AND at > %(since0)s LIMIT 1 OFFSET 0)
    OR EXISTS (SELECT id FROM throttle_events
                WHERE key = %(key)s AND at > %(since1)s LIMIT 1 OFFSET 4)
"""
_TAKE = f"""
    WITH forgotten AS (DELETE FROM throttle_events
                        WHERE key IN (%(forgotten)s) AND NOT ({_LIMITED}))
    INSERT INTO throttle_events (key, at) SELECT %(key)s, %(now)s WHERE NOT ({_LIMITED})
"""
_USER_PENDING = """
    INSERT INTO users (email, phone, password_hash, full_name, locale, status, created_at)
    VALUES (%s, NULL, '!', NULL, 'en', 'pending', %s) ON CONFLICT DO NOTHING RETURNING id
"""
_SET_HASH = "UPDATE users SET password_hash = %s WHERE id = %s"
_USER = """
    INSERT INTO users (email, password_hash, locale, status, created_at)
    VALUES (%s, %s, 'en', 'pending', %s) RETURNING id
"""
_TOKEN = """
    INSERT INTO verification_tokens
        (user_id, purpose, code_hmac, status, failed_attempts, created_at, expires_at)
    VALUES (%s, 'activation', %s, 'active', 0, %s, %s) RETURNING id
"""
# The code and its message as shared.messaging.outbox.enqueue writes them on PostgreSQL: one
# statement.
_TOKEN_AND_OUTBOX = """
    WITH token AS (
        INSERT INTO verification_tokens
            (user_id, purpose, code_hmac, status, failed_attempts, created_at, expires_at)
        VALUES (%s, 'activation', %s, 'active', 0, %s, %s) RETURNING id, created_at, expires_at
    )
    INSERT INTO outbox (public_id, created_at, channel, purpose, recipient, locale, template,
                        params, secret_params, user_id, token_id, status, attempts,
                        next_attempt_at, expires_at, priority)
    SELECT %s, %s, 'email', 'activation', %s, 'en', 'activation', %s, %s, %s, token.id,
           'pending', 0, token.created_at, token.expires_at, 0
    FROM token
"""
_OUTBOX = """
    INSERT INTO outbox (public_id, created_at, channel, purpose, recipient, locale, template,
                        params, secret_params, user_id, token_id, status, attempts,
                        next_attempt_at, expires_at, priority)
    VALUES (%s, %s, 'email', 'activation', %s, 'en', 'activation', %s, %s, %s, %s, 'pending', 0,
            %s, %s, 0)
"""


def _ratios(label: str, above: list[float], below: list[float], target: str = "") -> None:
    ratios = [a / b for a, b in zip(above, below, strict=True)]
    print(
        f"  {label}, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}{target}"
    )


def _rates(rates: list[float]) -> str:
    return (
        f"{', '.join(f'{r:.0f}' for r in rates)} sign-ups/s (median {statistics.median(rates):.0f})"
    )


if __name__ == "__main__":
    sys.exit(main())
