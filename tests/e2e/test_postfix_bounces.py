"""Debian's Postfix as the smarthost (support/postfix.py, the `smarthost` service): mail it took
and the next server (aiosmtpd on loopback) refused comes back as Postfix's own report to the
mail's VERP envelope sender, which Postfix hands through docs/install.md's `pipe` service
(`recipient_delimiter`, a transport entry for the bounce address, `flags=DO`, `${recipient}`) to
the suite's installed `outbox-relay` console script. pipe(8) runs nothing as root (the suite's
user) nor as Postfix's own, so the service runs it as `nobody:nogroup`, who reads the
environment file through its group as docs/install.md's user does, on Debian's python3 seeing
the suite's packages (support/bounce_pipe.py); PostgreSQL only, since that user reaches a
database over TCP and no SQLite file under the suite's private temporary directory.

A 5.1.1 at RCPT reads failed/address_rejected (suppressed) within a bound derived from one run
of the command measured alone; a 5.7.1 after DATA, and a 4xx until Postfix gives up (its queue
lifetime made 0: one try), failed/undeliverable with nothing suppressed; a delivered mail stays
sent; forged reports through the same path act on nothing; while the database is away the
command exits 75 and Postfix keeps the report until it is read."""

from __future__ import annotations

import re
import smtplib
import subprocess
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.reports.bounce_tokens import verp_address
from support import bounce_pipe
from support.bounce_reports import Recipient, delivery_status
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.ports import free_port
from support.postfix import Postfix
from support.postfix_config import BOUNCES, NEXT_HOP
from support.processes import eventually
from support.relays import drain_until
from support.rows import rows
from support.smtp_stages import StagedSmtp

pytestmark = pytest.mark.postgresql_only

REFUSED = "550 5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table"


@pytest.fixture
def next_hop(postfix: Postfix, env: dict[str, str]) -> Iterator[StagedSmtp]:
    """The server after the smarthost; Postfix's reports to BOUNCES piped to the command."""
    server = StagedSmtp()
    server.start()
    postfix.route({NEXT_HOP: server.port})
    postfix.pipe_reports(env)
    yield server
    postfix.route({})
    server.stop()


@pytest.fixture
def alone(postfix: Postfix, next_hop: StagedSmtp) -> float:
    """Seconds one run of the pipe's command takes, as its user, on what is not a mail (65)."""
    base = postfix.base
    command = [bounce_pipe.interpreter(base), bounce_pipe.SCRIPT]
    command += ["--env-file", bounce_pipe.env_file(base), "bounce"]
    began = time.monotonic()
    done = subprocess.run(
        command,
        input=b"\n",
        capture_output=True,
        user=bounce_pipe.USER,
        group=bounce_pipe.GROUP,
        extra_groups=[],
        timeout=300,
    )
    took = time.monotonic() - began
    assert done.returncode == 65, done.stderr
    print(f"\none run of outbox-relay bounce alone, as {bounce_pipe.USER}: {took:.2f} s")
    return took


def status_of(engine: Engine) -> dict[str, tuple[str, str | None]]:
    return {r["public_id"]: (r["status"], r["dead_reason"]) for r in rows(engine, "outbox")}


def seen_by_client(client: FlaskClient, public_id: str) -> tuple[str, str | None]:
    """What GET /v1/deliveries/<id> says: status and reason."""
    view = client.get(f"/v1/deliveries/{public_id}").get_json()
    return view["status"], view["reason"]


def piped(postfix: Postfix, since: int, count: int, timeout: float) -> list[str]:
    """The pipe's first `count` deliveries since `since`, once Postfix has logged them."""
    eventually(lambda: len(postfix.piped(since)) >= count, timeout, f"{count} piped")
    return postfix.piped(since)[:count]


def test_a_refusal_at_the_next_hop_reaches_its_row_and_a_delivered_mail_stays_sent(
    engine: Engine,
    env: dict[str, str],
    client: FlaskClient,
    postfix: Postfix,
    postfix_relay: MakeRelay,
    next_hop: StagedSmtp,
    alone: float,
) -> None:
    prefix = postfix.fresh("verp")
    refused, delivered = f"{prefix}0@{NEXT_HOP}", f"{prefix}1@{NEXT_HOP}"
    next_hop.script.recipients[refused] = REFUSED.format(refused)
    ids = queue_emails(engine, 2, prefix=prefix, domain=NEXT_HOP)
    since = postfix.mark()
    relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
    drain_until(relay, lambda: {s for s, _ in status_of(engine).values()} == {"sent"}, 10)
    next_hop.script.wait_for(1)
    [line] = piped(postfix, since, 1, 60 + 30 * alone)
    # Postfix's own figure: from its report's arrival in the queue to the command's exit.
    delay = re.search(r" delay=([0-9.]+),", line)
    assert delay, line
    took = float(delay[1])
    print(f"Postfix's report to its row through the pipe: {took:.2f} s")
    assert "status=sent (delivered via outpost-bounce service" in line, line
    assert took < 10 * alone + 1, f"{took:.1f} s, one run alone {alone:.1f} s"
    assert seen_by_client(client, ids[0]) == ("failed", "address_rejected")
    assert seen_by_client(client, ids[1]) == ("sent", None)
    assert [r["address"] for r in rows(engine, "suppressions")] == [refused]
    [event] = rows(engine, "provider_events")
    assert (event["source"], event["permanent"]) == ("mail", True)
    assert "failed 5.1.1" in event["diagnostic"]

    # Two forged reports about the delivered mail, sent to the bounce address through
    # Postfix: a made-up token naming its recipient, and its own token (which its recipient
    # holds) naming someone else. Both read (exit 0); neither acts.
    made_up = verp_address(BOUNCES, ids[1], "not the key " * 3)
    own = verp_address(BOUNCES, ids[1], env["SECRET_KEY"])
    since = postfix.mark()
    with smtplib.SMTP("127.0.0.1", postfix.ports["smarthost"], timeout=10) as session:
        for to, named in ((made_up, delivered), (own, f"{prefix}9@{NEXT_HOP}")):
            forged = delivery_status(to, [Recipient(named)], envelope_id=ids[1])
            session.sendmail("", [to], forged)
    lines = piped(postfix, since, 2, 60 + 30 * alone)
    assert all("status=sent" in line for line in lines), lines
    assert seen_by_client(client, ids[1]) == ("sent", None)
    assert len(rows(engine, "provider_events")) == 1
    assert [r["address"] for r in rows(engine, "suppressions")] == [refused]
    # NOTIFY=FAILURE,DELAY: Postfix reported no success; nothing else came to the pipe.
    assert len(postfix.piped(since)) == 2


def test_a_refusal_after_data_fails_the_delivery_and_suppresses_nothing(
    engine: Engine,
    client: FlaskClient,
    postfix: Postfix,
    postfix_relay: MakeRelay,
    next_hop: StagedSmtp,
    alone: float,
) -> None:
    next_hop.script.set(data="554 5.7.1 Message refused: content policy")
    [public_id] = queue_emails(engine, 1, prefix=postfix.fresh("content"), domain=NEXT_HOP)
    since = postfix.mark()
    relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
    drain_until(relay, lambda: status_of(engine)[public_id][0] == "sent", 10)
    piped(postfix, since, 1, 60 + 30 * alone)
    assert seen_by_client(client, public_id) == ("failed", "undeliverable")
    assert status_of(engine)[public_id] == ("bounced", "permanent_error")
    assert rows(engine, "suppressions") == []


def test_a_deferral_until_postfix_gives_up_fails_the_delivery_and_suppresses_nothing(
    engine: Engine,
    client: FlaskClient,
    postfix: Postfix,
    postfix_relay: MakeRelay,
    next_hop: StagedSmtp,
    alone: float,
) -> None:
    prefix = postfix.fresh("deferred")
    deferred = f"{prefix}0@{NEXT_HOP}"
    next_hop.script.recipients[deferred] = "451 4.2.0 Mailbox busy, try again later"
    since = postfix.mark()
    # 0: Postfix tries once and gives up, as it does after maximal_queue_lifetime (5 days).
    postfix.configure(maximal_queue_lifetime="0", bounce_queue_lifetime="0")
    try:
        [public_id] = queue_emails(engine, 1, prefix=prefix, domain=NEXT_HOP)
        relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
        drain_until(relay, lambda: status_of(engine)[public_id][0] == "sent", 10)
        piped(postfix, since, 1, 60 + 30 * alone)
    finally:
        postfix.configure(maximal_queue_lifetime="5d", bounce_queue_lifetime="5d")
    assert seen_by_client(client, public_id) == ("failed", "undeliverable")
    assert rows(engine, "suppressions") == []
    [event] = rows(engine, "provider_events")
    assert event["diagnostic"].startswith("failed 4.2.0")


def test_a_report_postfix_pipes_while_the_database_is_away_is_kept_and_read_once_it_is_back(
    engine: Engine,
    env: dict[str, str],
    client: FlaskClient,
    postfix: Postfix,
    postfix_relay: MakeRelay,
    next_hop: StagedSmtp,
    alone: float,
) -> None:
    prefix = postfix.fresh("away")
    refused = f"{prefix}0@{NEXT_HOP}"
    next_hop.script.recipients[refused] = REFUSED.format(refused)
    # The command's database: a port nobody listens on.
    postfix.pipe_reports(
        {**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    )
    [public_id] = queue_emails(engine, 1, prefix=prefix, domain=NEXT_HOP)
    since = postfix.mark()
    relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
    drain_until(relay, lambda: status_of(engine)[public_id][0] == "sent", 10)
    [line] = piped(postfix, since, 1, 60 + 30 * alone)
    assert "status=deferred" in line, line
    assert seen_by_client(client, public_id) == ("sent", None)
    postfix.pipe_reports(env)
    since = postfix.mark()
    postfix.flush()
    [line] = piped(postfix, since, 1, 60 + 30 * alone)
    assert "status=sent" in line, line
    assert seen_by_client(client, public_id) == ("failed", "address_rejected")
    assert [r["address"] for r in rows(engine, "suppressions")] == [refused]
