"""Fixtures of the end-to-end tests: a private PostgreSQL pair and a private Postfix, one each
for the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from outbox_relay.relay import Relay
from shared.settings.smtp_url import parse_smtp_url
from support import private_postgres
from support.constants import MakeRelay
from support.postfix import RELAY_SETTINGS, Postfix, available
from support.replication import PostgresPair


@pytest.fixture(scope="session")
def session_pair() -> Iterator[PostgresPair]:
    """One private PostgreSQL primary and synchronous standby for the session."""
    if not private_postgres.available():
        pytest.fail(f"PostgreSQL 15's initdb and pg_ctl are needed in {private_postgres.BIN}")
    with PostgresPair() as pair:
        yield pair


@pytest.fixture
def pair(session_pair: PostgresPair) -> PostgresPair:
    """The session's pair, whole again whatever the last test did to it (a failover)."""
    session_pair.heal()
    return session_pair


@pytest.fixture(scope="session")
def postfix() -> Iterator[Postfix]:
    """One private Debian Postfix for the session, each scenario a service of its own."""
    if not available():
        pytest.fail("Postfix needs root and `apt-get install postfix sasl2-bin libsasl2-modules`")
    instance = Postfix()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


@pytest.fixture
def postfix_relay(
    postfix: Postfix, make_relay: MakeRelay, monkeypatch: pytest.MonkeyPatch
) -> MakeRelay:
    """Relays sending through an SMTP_URL of `postfix` (`url`, then settings changed by
    keyword), trusting its test CA through SSL_CERT_FILE as an operator's would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(postfix.ca_file))

    def make(url: str, **changes: Any) -> Relay:
        return make_relay(smtp=parse_smtp_url(url), **{**RELAY_SETTINGS, **changes})

    return make
