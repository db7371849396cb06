"""An idle session is not an outage, against Debian's Postfix: a session it closed past its
smtpd_timeout (`421 4.4.2 … Error: timeout exceeded`, then the close) is replaced at once, over
STARTTLS and AUTH, the next mail delayed by less than that timeout and nothing paused."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import Engine

from support.bulk import queue_emails
from support.constants import MakeRelay
from support.postfix import Postfix, addresses, delivered_once
from support.postfix_config import DOMAIN, IDLE_TIMEOUT
from support.processes import eventually
from support.relays import drain_until
from support.rows import outcomes, rows, statuses


def test_a_session_postfix_closed_idle_delays_the_next_mail_less_than_its_timeout(
    engine: Engine,
    postfix_relay: MakeRelay,
    postfix: Postfix,
    caplog: pytest.LogCaptureFixture,
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("idle")
    caplog.set_level(logging.INFO, logger="outbox_relay")
    relay = postfix_relay(postfix.url("idle", starttls=True), relay_concurrency=1)
    ids = queue_emails(engine, 1, prefix=prefix, domain=DOMAIN)
    drain_until(relay, lambda: statuses(engine) == {"sent": 1}, 10)
    eventually(
        lambda: "timeout after" in "\n".join(postfix.service_log("idle", since)),
        IDLE_TIMEOUT + 10,
        "Postfix closing the idle session",
    )
    ids += queue_emails(engine, 1, prefix=f"{prefix}b", domain=DOMAIN)
    started = time.monotonic()
    drain_until(relay, lambda: statuses(engine) == {"sent": 2}, 10)
    assert time.monotonic() - started < IDLE_TIMEOUT
    assert outcomes(engine) == {"sent": 2}
    assert {row["attempts"] for row in rows(engine, "outbox")} == {1}
    assert [r for r in caplog.records if r.getMessage() == "provider paused"] == []
    delivered_once(postfix, relay, [*addresses(prefix, 1), *addresses(f"{prefix}b", 1)], ids)
