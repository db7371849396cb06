"""TLS and credentials against Debian's Postfix: STARTTLS not offered, smtps, a certificate
from another CA, and credentials that only ever travel over TLS, as Postfix's log shows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from support.bulk import queue_emails
from support.constants import MakeRelay
from support.postfix import Postfix, addresses, delivered_once
from support.postfix_config import DOMAIN
from support.relays import drain_until, keep_draining, paused_for
from support.rows import statuses, untried


@pytest.mark.parametrize(
    "starttls",
    [
        pytest.param(True, id="starttls-asked"),
        pytest.param(False, id="credentials-only"),
    ],
)
def test_a_server_without_starttls_is_paused_and_never_sees_the_credentials(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix, starttls: bool
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("clear")
    queue_emails(engine, 2, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("notls", starttls=starttls))
    drain_until(relay, lambda: relay.providers.status() or "pending" not in statuses(engine), 10)
    assert paused_for(relay, "STARTTLS not offered")
    keep_draining(relay, 1)
    untried(engine, 2)
    relay.close()
    lines = postfix.sessions("notls", since)
    assert not [line for line in lines if " auth=" in line]
    assert "sasl_" not in postfix.log(since)


def test_smtps_is_implicit_tls(engine: Engine, postfix_relay: MakeRelay, postfix: Postfix) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("implicit")
    ids = queue_emails(engine, 3, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("smtps", scheme="smtps"))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    delivered_once(postfix, relay, addresses(prefix, 3), ids)
    log = "\n".join(postfix.service_log("smtps", since))
    assert "TLS connection established" in log and "sasl_method=PLAIN" in log


def test_a_certificate_from_another_ca_pauses_the_provider_and_sends_nothing(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("otherca")
    queue_emails(engine, 2, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("otherca", starttls=True))
    drain_until(relay, lambda: paused_for(relay, "CERTIFICATE_VERIFY_FAILED"), 10)
    keep_draining(relay, 1)
    untried(engine, 2)
    assert "client=" not in postfix.log(since)
    assert all(postfix.mailbox(a) == [] for a in addresses(prefix, 2))


def test_credentials_without_a_starttls_parameter_go_over_tls(
    engine: Engine, postfix_relay: MakeRelay, postfix: Postfix
) -> None:
    since = postfix.mark()
    prefix = postfix.fresh("tlsfirst")
    ids = queue_emails(engine, 3, prefix=prefix, domain=DOMAIN)
    relay = postfix_relay(postfix.url("starttls_auth"))
    drain_until(relay, lambda: statuses(engine) == {"sent": 3}, 10)
    delivered_once(postfix, relay, addresses(prefix, 3), ids)
    relay.close()
    authenticated = [line for line in postfix.sessions("starttls_auth", since) if " auth=" in line]
    assert authenticated and all(" starttls=1 " in line for line in authenticated)
    log = postfix.log(since)
    assert log.index("TLS connection established") < log.index("sasl_method=")
