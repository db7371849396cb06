"""A relay meeting a database that refuses writes (a standby, a demoted leader: SQLSTATE 25006)
waits as for a database away, and delivers once it takes writes again: its kept connections to
the read-only server are dropped, not kept refusing every claim."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from outbox_relay.daemon import Daemon
from outbox_relay.wake import Wake
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.databases import refusing_writes
from support.rows import statuses
from support.smtp_sink import SinkServer

pytestmark = pytest.mark.postgresql_only


def test_a_relay_waits_out_a_database_refusing_writes_then_delivers(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_url(str(engine.url)).database
    assert name is not None
    relay = make_relay()
    queue_emails(engine, 1)
    with refusing_writes(name):
        # Its connections opened from now on refuse writes, as a standby's would.
        relay.engine.dispose()
        Daemon(relay, Wake()).poll()
    assert "poll failed, database unavailable" in caplog.text
    assert statuses(engine) == {"pending": 1}
    assert relay.drain() == 1
    assert statuses(engine) == {"sent": 1}
    assert len(smtp.sink.wait_for(1)) == 1
