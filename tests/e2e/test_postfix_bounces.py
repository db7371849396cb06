"""Debian's Postfix as the smarthost (support/postfix.py, the `smarthost` service): mail it
took and the next server refused comes back as Postfix's own report to the mail's VERP
envelope sender, which `outbox-relay bounce` reads as Postfix's pipe hands it over (the bounce
domain's mail is relayed to a server on loopback; the pipe's user could not run this checkout's
interpreter, kept under /root). A 5.1.1 at RCPT reads failed/address_rejected (suppressed)
within seconds of Postfix's report; a 5.7.1 after DATA, and a 4xx until Postfix gives up (its
queue lifetime made 0: one try), failed/undeliverable; a delivered mail stays sent; forged
reports through the same path act on nothing."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from shared.bounce_tokens import verp_address
from support.bounce_reports import Recipient, delivery_status
from support.bulk import queue_emails
from support.constants import MakeRelay
from support.postfix import Postfix
from support.postfix_config import BOUNCE_DOMAIN, NEXT_HOP
from support.relays import drain_until
from support.rows import rows
from support.smtp_sink import SinkServer
from support.smtp_stages import StagedSmtp

BOUNCES = f"bounces@{BOUNCE_DOMAIN}"
REFUSED = "550 5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table"


@pytest.fixture
def hops(postfix: Postfix) -> Iterator[tuple[StagedSmtp, SinkServer]]:
    """The server after the smarthost, and the one that receives the bounce domain's mail."""
    next_hop, bounce_host = StagedSmtp(), SinkServer()
    next_hop.start()
    bounce_host.start()
    postfix.route({NEXT_HOP: next_hop.port, BOUNCE_DOMAIN: bounce_host.port})
    yield next_hop, bounce_host
    postfix.route({})
    next_hop.stop()
    bounce_host.stop()


def hand_over(env: dict[str, str], bounce_host: SinkServer, n: int) -> None:
    """Report `n` the bounce host received, to `outbox-relay bounce` as Postfix's pipe runs it
    (the envelope recipient as `${recipient}`); read, exit 0."""
    [recipient] = bounce_host.sink.recipients[n]
    command = [sys.executable, "-m", "outbox_relay.cli", "bounce", "--recipient", recipient]
    environ = {**env, "BOUNCE_ADDRESS": BOUNCES}
    done = subprocess.run(command, input=bounce_host.sink.raw[n], env=environ, capture_output=True)
    assert done.returncode == 0, done.stderr


def status_of(engine: Engine) -> dict[str, tuple[str, str | None]]:
    return {r["public_id"]: (r["status"], r["dead_reason"]) for r in rows(engine, "outbox")}


def test_a_refusal_at_the_next_hop_reaches_its_row_and_a_delivered_mail_stays_sent(
    engine: Engine,
    env: dict[str, str],
    postfix: Postfix,
    postfix_relay: MakeRelay,
    hops: tuple[StagedSmtp, SinkServer],
) -> None:
    next_hop, bounce_host = hops
    prefix = postfix.fresh("verp")
    refused, delivered = f"{prefix}0@{NEXT_HOP}", f"{prefix}1@{NEXT_HOP}"
    next_hop.script.recipients[refused] = REFUSED.format(refused)
    ids = queue_emails(engine, 2, prefix=prefix, domain=NEXT_HOP)
    relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
    drain_until(relay, lambda: {s for s, _ in status_of(engine).values()} == {"sent"}, 10)
    next_hop.script.wait_for(1)
    [report] = bounce_host.sink.wait_for(1, timeout=30)
    reported = time.monotonic()
    assert report.get_content_type() == "multipart/report"
    # RET=HDRS: the original's headers come back, never its text; ENVID: the delivery id.
    parts = [part.get_content_type() for part in report.walk()]
    assert "text/rfc822-headers" in parts and "message/rfc822" not in parts
    said = bounce_host.sink.raw[0].decode().lower()
    assert f"original-envelope-id: {ids[0]}" in said
    assert f"original-recipient: rfc822;{refused}" in said, "ORCPT"
    hand_over(env, bounce_host, 0)
    took = time.monotonic() - reported
    assert took < 10, f"{took:.1f} s from Postfix's report to the row"
    states = status_of(engine)
    assert states[ids[0]] == ("bounced", None)
    assert states[ids[1]] == ("sent", None)
    assert [r["address"] for r in rows(engine, "suppressions")] == [refused]
    [event] = rows(engine, "provider_events")
    assert (event["source"], event["permanent"]) == ("mail", True)
    assert "failed 5.1.1" in event["diagnostic"]
    # NOTIFY=FAILURE,DELAY: Postfix reports no success, and nothing else came back.
    time.sleep(1)
    assert len(bounce_host.sink.received) == 1

    # Two forged reports about the delivered mail, sent to the bounce address through
    # Postfix: a made-up token naming its recipient, and its own token (which its recipient
    # holds) naming someone else. Neither acts.
    made_up = verp_address(BOUNCES, ids[1], "not the key " * 3)
    own = verp_address(BOUNCES, ids[1], env["SECRET_KEY"])
    with smtplib.SMTP("127.0.0.1", postfix.ports["smarthost"], timeout=10) as session:
        for to, named in ((made_up, delivered), (own, f"{prefix}9@{NEXT_HOP}")):
            forged = delivery_status(to, [Recipient(named)], envelope_id=ids[1])
            session.sendmail("", [to], forged)
    bounce_host.sink.wait_for(3, timeout=30)
    hand_over(env, bounce_host, 1)
    hand_over(env, bounce_host, 2)
    assert status_of(engine)[ids[1]] == ("sent", None)
    assert len(rows(engine, "provider_events")) == 1
    assert [r["address"] for r in rows(engine, "suppressions")] == [refused]


def test_a_refusal_after_data_fails_the_delivery_and_suppresses_nothing(
    engine: Engine,
    env: dict[str, str],
    postfix: Postfix,
    postfix_relay: MakeRelay,
    hops: tuple[StagedSmtp, SinkServer],
) -> None:
    next_hop, bounce_host = hops
    next_hop.script.set(data="554 5.7.1 Message refused: content policy")
    [public_id] = queue_emails(engine, 1, prefix=postfix.fresh("content"), domain=NEXT_HOP)
    relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
    drain_until(relay, lambda: status_of(engine)[public_id][0] == "sent", 10)
    bounce_host.sink.wait_for(1, timeout=30)
    hand_over(env, bounce_host, 0)
    assert status_of(engine)[public_id] == ("bounced", "permanent_error")
    assert rows(engine, "suppressions") == []


def test_a_deferral_until_postfix_gives_up_fails_the_delivery_and_suppresses_nothing(
    engine: Engine,
    env: dict[str, str],
    postfix: Postfix,
    postfix_relay: MakeRelay,
    hops: tuple[StagedSmtp, SinkServer],
) -> None:
    next_hop, bounce_host = hops
    prefix = postfix.fresh("deferred")
    deferred = f"{prefix}0@{NEXT_HOP}"
    next_hop.script.recipients[deferred] = "451 4.2.0 Mailbox busy, try again later"
    # 0: Postfix tries once and gives up, as it does after maximal_queue_lifetime (5 days).
    postfix.configure(maximal_queue_lifetime="0", bounce_queue_lifetime="0")
    try:
        [public_id] = queue_emails(engine, 1, prefix=prefix, domain=NEXT_HOP)
        relay = postfix_relay(postfix.url("smarthost", login=False), bounce_address=BOUNCES)
        drain_until(relay, lambda: status_of(engine)[public_id][0] == "sent", 10)
        bounce_host.sink.wait_for(1, timeout=30)
    finally:
        postfix.configure(maximal_queue_lifetime="5d", bounce_queue_lifetime="5d")
    hand_over(env, bounce_host, 0)
    assert status_of(engine)[public_id] == ("bounced", "permanent_error")
    assert rows(engine, "suppressions") == []
    [event] = rows(engine, "provider_events")
    assert event["diagnostic"].startswith("failed 4.2.0")
