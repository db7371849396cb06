"""Fixtures: every database test runs on SQLite and on PostgreSQL, each on a database at head.

Migrations run once per session into a template (a file for SQLite, a template database for
PostgreSQL); each test gets a copy, so tests may use many connections and processes at once.
PostgreSQL's copies are made ahead on a thread, and each given back is reset there for a later
test, or dropped behind on others (support.databases.Copies).
Set TEST_DATABASE_URL to choose the PostgreSQL server. Without one the PostgreSQL variants are
not collected; with OUTPOST_REQUIRE_POSTGRES=1 (CI) an unreachable server fails the run.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from api_service.flows import passwords
from outbox_relay.bootstrap import build_relay
from outbox_relay.claims import Claimer
from outbox_relay.relay import Relay
from shared.database.db import create_engine_for, migrate
from shared.settings.config import Settings
from support import alone, bytecode, processes, route_builders
from support.constants import ADMIN_TOKEN, SECRET_KEY, MakeRelay
from support.databases import PG_URL, Copies, create_database, drop_database, url_of
from support.databases import admin as pg_admin
from support.hashes import quick_hasher
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer
from support.smtp_stages import StagedSmtp
from support.sns import TOKEN
from support.twilio_api import TwilioApi
from support.vonage_api import VonageApi

REQUIRE_PG = os.environ.get("OUTPOST_REQUIRE_POSTGRES") == "1"

pytest_plugins = ["support.no_skips"]


def _postgresql_reachable() -> bool:
    try:
        pg_admin().close()
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            pytest.exit(f"PostgreSQL unreachable at {PG_URL}: {exc}", returncode=3)
        return False
    return True


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """A worker a core and one more (`-n auto`; at most 4, pyproject.toml): many tests wait on
    processes they started (Postfix, a greylister's minute, Chromium), and on 2 cores a third
    worker took the suite from 18 minutes to 11, the cores still 15 % idle. Tests that time
    themselves never run beside each other (the `alone` mark)."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        bytecode.compile_checkout()
    route_builders.remember()
    config.addinivalue_line(
        "markers", "postgresql_only: the test is about PostgreSQL and runs only there"
    )
    config.addinivalue_line(
        "markers",
        "alone(neighbour=True): the test measures time or CPU; never beside another such "
        "test (beside no test with neighbour=False)",
    )
    config.addinivalue_line(
        "markers", "hash_cost: the test hashes passwords at the application's own cost"
    )
    config.addinivalue_line(
        "markers", "long: the test takes tens of seconds; it starts early, never last"
    )
    config.stash[_BACKENDS] = ["sqlite"] + (["postgresql"] if _postgresql_reachable() else [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test using `database_url` runs once per backend reachable here."""
    if "database_url" not in metafunc.fixturenames:
        return
    backends = metafunc.config.stash[_BACKENDS]
    if metafunc.definition.get_closest_marker("postgresql_only"):
        backends = [b for b in backends if b == "postgresql"]
    metafunc.parametrize("database_url", backends, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `alone` tests first, then the long ones; PostgreSQL-only tests that start servers
    of their own only where PostgreSQL is (not here without it, like the PostgreSQL variants of
    the others).

    First, the `alone` tests fall to one worker, one after the other, and none waits for another
    (support.alone); the one that runs beside no test waits only for the other workers' first
    tests, where mid-run it would wait for a long one and hold both workers meanwhile. A `long`
    test started last leaves one worker running it while the others are done; started early,
    the short tests fill in around it (docs/decisions/0037).
    """
    items.sort(
        key=lambda item: (
            _alone_order(item.get_closest_marker("alone")),
            item.get_closest_marker("long") is None,
        )
    )
    if "postgresql" in config.stash[_BACKENDS]:
        return
    kept = [item for item in items if not item.get_closest_marker("postgresql_only")]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported frozen out of the garbage collector's passes, and its youngest
    generation collected every 10,000 allocations rather than 700: a worker holds about 300,000
    objects, and tests/api's three workers spent 29.5 s of CPU collecting them, 14.3 s so
    (docs/decisions/0046)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


_BACKENDS = pytest.StashKey[list[str]]()


def _alone_order(marked: pytest.Mark | None) -> int:
    """An `alone` test without a neighbour first, then the other `alone` tests, then the
    rest."""
    return 2 if marked is None else int(_beside_others(marked))


def _beside_others(marked: pytest.Mark | None) -> bool:
    """Whether a test with this `alone` mark (or none) may run beside other tests."""
    return marked is None or bool(marked.kwargs.get("neighbour", True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Setup, call and teardown of each test in its turn (support.alone)."""
    directory = alone.lock_directory(item.config)
    if directory is None:
        return (yield)
    worker, workers = alone.worker_slots(item.config)
    marked = item.get_closest_marker("alone")
    with alone.turn(directory, marked is not None, worker, workers, beside=_beside_others(marked)):
        return (yield)


@pytest.fixture(autouse=True)
def quick_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Applications built in this process hash passwords at argon2's lowest cost
    (support.hashes.quick_hasher), but in the tests marked `hash_cost`, which are about that
    cost (a timing, a rehash); processes started by a test hash at the application's own."""
    if request.node.get_closest_marker("hash_cost") is None:
        monkeypatch.setattr(passwords, "make_hasher", quick_hasher)


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Whatever a test started as a process is gone after it, even if it failed first."""
    yield
    processes.kill_leftovers()


@pytest.fixture(scope="session")
def pg_copies() -> Iterator[Copies]:
    """Copies of a migrated PostgreSQL template database."""
    template = create_database("outpost_tpl")
    try:
        migrate(url_of(template))
        copies = Copies(template, "outpost_test")
        try:
            yield copies
        finally:
            copies.close()
    finally:
        drop_database(template)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A database at head, fresh or reset to its template's state (support.databases.Copies)."""
    if request.param == "sqlite":
        path = tmp_path / "outpost.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    copies: Copies = request.getfixturevalue("pg_copies")
    name = copies.take()
    try:
        yield url_of(name)
    finally:
        copies.give_back(name)


@pytest.fixture
def backend(database_url: str) -> str:
    """`sqlite` or `postgresql`."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test database, for reading what the code wrote."""
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def claimer(engine: Engine) -> Iterator[Claimer]:
    """Claims on the test database, as one relay makes them; its connection closed after."""
    with closing(Claimer(engine)) as claimer:
        yield claimer


@pytest.fixture
def smtp() -> Iterator[SinkServer]:
    """A real SMTP server on a free port."""
    with SinkServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[StagedSmtp]:
    """A real SMTP server on a free port whose every stage a test can script."""
    with StagedSmtp() as staged:
        yield staged


@pytest.fixture
def twilio() -> Iterator[TwilioApi]:
    """A real HTTP server built to Twilio's Messages API, on a free port."""
    with TwilioApi() as api:
        yield api


@pytest.fixture
def receiver() -> Iterator[SmsGateway]:
    """The application's webhook endpoint: a real HTTP server answering 200 unless scripted."""
    with SmsGateway(mode=200) as server:
        yield server


@pytest.fixture
def vonage() -> Iterator[VonageApi]:
    """A real HTTP server built to Vonage's SMS API, on a free port."""
    with VonageApi() as api:
        yield api


@pytest.fixture
def env(database_url: str, smtp: SinkServer) -> dict[str, str]:
    """The environment both processes get in a test."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        # The relay's own timeout: a test of a hang sets a short one (`url(timeout=…)`) itself.
        "SMTP_URL": smtp.url(),
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
        "RELAY_BACKOFF_BASE": "0.001",
        "RELAY_BACKOFF_CAP": "0.002",
        "RELAY_POLL_INTERVAL": "0.2",
        # SMS written to the relay's log, as under `outpost up`; unset, SMS is not offered.
        "SMS_URL": "log:",
        # Tests post from one address far faster than a person; test_throttles sets its own.
        "IP_RATE_LIMIT": "100000",
        # 0: no metrics endpoint, so relays started by tests never fight over a port.
        "RELAY_METRICS_PORT": "0",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings parsed from the test environment."""
    return Settings.from_env(env)


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[Flask]:
    """The API bound to the test database."""
    app = create_app(env)
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the API."""
    return app.test_client()


@pytest.fixture
def make_relay(settings: Settings) -> Iterator[MakeRelay]:
    """Relays on the test database with some settings changed; closed after the test."""
    made: list[Relay] = []

    def make(**changes: Any) -> Relay:
        made.append(
            build_relay(settings.replace(**changes), create_engine_for(settings.database_url))
        )
        return made[-1]

    yield make
    for relay in made:
        relay.close()
        relay.engine.dispose()


@pytest.fixture
def relay(make_relay: MakeRelay) -> Relay:
    """A relay with the test settings."""
    return make_relay()


@pytest.fixture
def admin_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API with ADMIN_TOKEN set: admin routes and dashboard on."""
    app = create_app({**env, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def admin(admin_app: Flask) -> FlaskClient:
    """A test client of the API with the admin routes and dashboard on."""
    return admin_app.test_client()


@pytest.fixture
def hooks_app(env: dict[str, str]) -> Iterator[Flask]:
    """The API taking providers' events, with the admin routes and dashboard on."""
    app = create_app({**env, "PROVIDER_EVENTS_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield app
    app.extensions["outpost"].engine.dispose()


@pytest.fixture
def api(hooks_app: Flask) -> FlaskClient:
    """A test client of the API taking providers' events."""
    return hooks_app.test_client()
