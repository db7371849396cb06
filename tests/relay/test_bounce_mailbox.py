"""BOUNCE_MAILBOX: the relay reads reports by mail from an IMAP mailbox over TLS (a real
server, support/imap_server.py), acts on each as `outbox-relay bounce` does and deletes it; a
server whose certificate does not verify is never given the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.bounce_mailbox import read_mailbox
from outbox_relay.relay import Relay
from shared.settings.bounce_mailbox import Mailbox
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.bounce_reports import Recipient, delivery_status, vacation
from support.constants import SECRET_KEY, MakeRelay
from support.imap_server import ImapServer
from support.rows import rows
from support.smtp_sink import SinkServer
from support.smtp_stages import SmtpCA
from support.sns import PASSWORD

BOUNCES = "bounces@mail.outpost.test"
LOGIN = ("reports@mail.outpost.test", "the mailbox's pass:word")


@pytest.fixture
def trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SmtpCA:
    """A CA the relay trusts, as SSL_CERT_FILE names an operator's own."""
    ca = SmtpCA.make()
    ca.ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    return ca


def served(certificate: SmtpCA) -> Iterator[ImapServer]:
    with ImapServer(LOGIN, certificate) as server:
        yield server


@pytest.fixture
def imap(trusted: SmtpCA) -> Iterator[ImapServer]:
    yield from served(trusted)


def url(server: ImapServer) -> str:
    login = "reports%40mail.outpost.test:the%20mailbox's%20pass%3Aword"
    return f"imaps://{login}@127.0.0.1:{server.port}/Reports"


def mailbox(server: ImapServer) -> Mailbox:
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, "BOUNCE_MAILBOX": url(server)})
    assert settings.bounce_mailbox is not None
    return settings.bounce_mailbox


def test_reports_in_the_mailbox_are_acted_on_and_deleted(
    api: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
    engine: Engine,
    settings: Settings,
    imap: ImapServer,
) -> None:
    relay: Relay = make_relay(bounce_address=BOUNCES)
    response = api.post(
        "/v1/registrations", json={"email": "jane@example.com", "password": PASSWORD}
    )
    relay.drain()
    envelope = smtp.sink.envelopes[-1][0]
    imap.add(delivery_status(BOUNCES, [Recipient("jane@example.com")], delivered_to=envelope))
    imap.add(vacation(envelope, "jane@example.com"))
    imap.add(b"no mail at all")
    assert read_mailbox(engine, settings, mailbox(imap)) == 3
    assert imap.messages == {}
    assert imap.logins == [LOGIN]
    delivery = api.get(f"/v1/deliveries/{response.get_json()['delivery']['id']}").get_json()
    assert (delivery["status"], delivery["reason"]) == ("failed", "address_rejected")
    assert [row["address"] for row in rows(engine, "suppressions")] == ["jane@example.com"]


def test_the_relay_reads_the_mailbox_once_it_runs(
    api: FlaskClient,
    make_relay: MakeRelay,
    smtp: SinkServer,
    engine: Engine,
    env: dict[str, str],
    imap: ImapServer,
    tmp_path: Path,
) -> None:
    """`outbox-relay run` with BOUNCE_MAILBOX reads it at start, then every minute."""
    response = api.post(
        "/v1/registrations", json={"email": "jane@example.com", "password": PASSWORD}
    )
    make_relay(bounce_address=BOUNCES).drain()
    envelope = smtp.sink.envelopes[-1][0]
    imap.add(delivery_status(BOUNCES, [Recipient("jane@example.com")], delivered_to=envelope))
    more = {"BOUNCE_ADDRESS": BOUNCES, "BOUNCE_MAILBOX": url(imap)}
    relay = processes.relay({**env, **more, "SSL_CERT_FILE": str(tmp_path / "ca.pem")}, tmp_path)
    try:
        processes.eventually(lambda: imap.messages == {}, 30, "the mailbox read")
    finally:
        assert processes.stop(relay) == 0
    delivery = api.get(f"/v1/deliveries/{response.get_json()['delivery']['id']}").get_json()
    assert (delivery["status"], delivery["reason"]) == ("failed", "address_rejected")
    assert "pass:word" not in (tmp_path / "relay.log").read_text()


def test_a_server_whose_certificate_does_not_verify_gets_no_password(
    engine: Engine, settings: Settings, trusted: SmtpCA
) -> None:
    for server in served(SmtpCA.make()):
        server.add(b"Subject: kept\r\n\r\n")
        assert read_mailbox(engine, settings, mailbox(server)) == 0
        assert (len(server.messages), server.logins) == (1, [])


@pytest.mark.parametrize(
    "value", ["imap://u:p@host/INBOX", "imaps://host/INBOX", "imaps://u@host", "imaps://u:p@h:0x/"]
)
def test_anything_but_imaps_with_a_login_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "BOUNCE_MAILBOX": value})
    assert str(refused.value).startswith("BOUNCE_MAILBOX: ")
