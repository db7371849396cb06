"""bench/patroni.py's steady sign-ups, and what one fault did to them: answers by status, the
outage, every acknowledged account present and its mail received exactly once."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from bench.common import client_address
from support import processes
from support.smtp_sink import SinkServer

PASSWORD = "correct horse battery staple"
WAITING = "SELECT count(*) FROM outbox WHERE status = 'pending'"


@dataclass(frozen=True)
class Answer:
    """One registration's answer: its address, status (0: none), Retry-After, when it came
    (time.monotonic) and the seconds it took."""

    email: str
    status: int
    retry_after: str | None
    at: float
    seconds: float


class SignUps:
    """`rate` new addresses a second registered by a pool of clients, alternately on each port,
    from entering the block to leaving it."""

    def __init__(self, ports: list[int], rate: float, prefix: str) -> None:
        self.ports, self.rate, self.prefix = ports, rate, prefix
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(32)
        self._pacer = threading.Thread(target=self._pace)

    def __enter__(self) -> SignUps:
        self._pacer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._pacer.join()
        self._pool.shutdown(wait=True)

    def _pace(self) -> None:
        began, n = time.monotonic(), 0
        while not self._stop.wait(max(0.0, began + n / self.rate - time.monotonic())):
            self._pool.submit(self._register, n)
            n += 1

    def _register(self, n: int) -> None:
        email = f"{self.prefix}{n}@example.com"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports[n % len(self.ports)]}/v1/registrations",
            data=json.dumps({"email": email, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": client_address()},
        )
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, retry = response.status, response.headers["Retry-After"]
        except urllib.error.HTTPError as error:
            status, retry = error.code, error.headers["Retry-After"]
        except OSError:
            status, retry = 0, None
        now = time.monotonic()
        self.answers.append(Answer(email, status, retry, now, now - sent))


@dataclass(frozen=True)
class Fault:
    """A fault as it happened: its name, the leader before and after, when it began (monotonic)
    and the seconds until the cluster was healthy again."""

    name: str
    leaders: tuple[str, str]
    began: float
    healed: float


@dataclass(frozen=True)
class Outcome:
    """What one fault did to the sign-ups through one route."""

    route: str
    fault: Fault
    statuses: Counter[int]
    bare_503s: int  # 503s without Retry-After
    acknowledged: int
    lost: int  # acknowledged, no account
    unsent: int  # acknowledged, no mail
    twice: int  # recipients mailed more than once
    saved_unacknowledged: int  # accounts whose registration was not answered 202
    outage: float | None  # first non-2xx answer to the first 202 after it
    last_failure: float | None  # the fault's start to the last non-2xx answer
    slowest: float  # the slowest answer's seconds
    mail_gap: float  # the longest wait for a mail from the fault's start

    @property
    def held(self) -> bool:
        """No 500 (nor a 503 without Retry-After), nothing lost, nothing sent twice or unsent."""
        errors = sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)
        return not (errors or self.bare_503s or self.lost or self.unsent or self.twice)


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    """A query's rows through `url`, retried for a minute while the cluster settles."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5) as connection:
                return connection.execute(query).fetchall()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def outcome(route: str, fault: Fault, url: str, load: SignUps, sink: SinkServer) -> Outcome:
    """Count what `fault` did to `load`, once the relay has sent every message."""
    processes.eventually(lambda: rows(url, WAITING) == [(0,)], 300, "the relay's drain")
    answers = sorted(load.answers, key=lambda answer: answer.at)
    acknowledged = {answer.email for answer in answers if answer.status == 202}
    query = f"SELECT email FROM users WHERE email LIKE '{load.prefix}%'"
    saved = {str(row[0]) for row in rows(url, query)}
    arrivals = [
        (at, str(message["To"]))
        for message, at in zip(sink.sink.received, sink.sink.accepted_at, strict=True)
        if str(message["To"]).startswith(load.prefix)
    ]
    mailed = Counter(to for _, to in arrivals)
    failed = [answer.at for answer in answers if answer.status // 100 != 2]
    back = [a.at for a in answers if failed and a.status == 202 and a.at > failed[0]]
    times = [fault.began, *(at for at, _ in arrivals if at > fault.began)]
    return Outcome(
        route=route,
        fault=fault,
        statuses=Counter(answer.status for answer in answers),
        bare_503s=sum(answer.status == 503 and not answer.retry_after for answer in answers),
        acknowledged=len(acknowledged),
        lost=len(acknowledged - saved),
        unsent=len(acknowledged - set(mailed)),
        twice=sum(n > 1 for n in mailed.values()),
        saved_unacknowledged=len(saved - acknowledged),
        outage=back[0] - failed[0] if failed and back else None,
        last_failure=failed[-1] - fault.began if failed else None,
        slowest=max(answer.seconds for answer in answers),
        mail_gap=max((later - earlier for earlier, later in itertools.pairwise(times)), default=0),
    )
