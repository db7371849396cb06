"""Credentials never travel in clear, and mail goes over TLS whenever it can: STARTTLS required
with a user, used whenever offered without one, implicit for smtps:// and port 465; every
certificate verified against the CA of SSL_CERT_FILE (a test CA from trustme). The servers are
real (aiosmtpd) and offer AUTH in clear, so a client that sent it before TLS would be seen."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from shared.settings.smtp_url import SmtpSettings, StartTls, parse_smtp_url
from support.bulk import queue_emails
from support.constants import SECRET_KEY, MakeRelay
from support.rows import rows
from support.smtp_stages import SmtpCA, StagedSmtp

USER, PASSWORD = "outpost", "s3cret"
Serve = Callable[..., StagedSmtp]


@pytest.fixture(scope="module")
def test_ca() -> SmtpCA:
    return SmtpCA.make()


@pytest.fixture
def trusted(test_ca: SmtpCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SmtpCA:
    """The test CA trusted the standard way: SSL_CERT_FILE names its PEM file."""
    pem = tmp_path / "ca.pem"
    test_ca.ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return test_ca


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts StagedSmtp servers that take USER's password; stops them after the test."""
    started: list[StagedSmtp] = []

    def start(tls: str | None = None, certificate: SmtpCA | None = None) -> StagedSmtp:
        started.append(StagedSmtp(tls=tls, certificate=certificate, login=(USER, PASSWORD)))
        started[-1].start()
        return started[-1]

    yield start
    for server in started:
        server.stop()


def relay_with(make_relay: MakeRelay, smtp: SmtpSettings | str) -> Relay:
    """A relay sending through `smtp`, its probes a minute apart."""
    settings = parse_smtp_url(smtp) if isinstance(smtp, str) else smtp
    return make_relay(smtp=settings, relay_backoff_base=60.0, relay_backoff_cap=60.0)


def deliver_one(engine: Engine, relay: Relay, server: StagedSmtp) -> None:
    """Queue one mail and see it sent and received."""
    queue_emails(engine, 1)
    assert relay.drain() == 1
    server.script.wait_for(1)
    assert [r["status"] for r in rows(engine, "outbox")] == ["sent"]


def assert_paused(engine: Engine, relay: Relay, server: StagedSmtp, why: str) -> None:
    """The provider is paused for `why`; the queued mail waits, no try counted, none sent."""
    [row] = rows(engine, "outbox")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert "email" in relay.providers.paused_channels()
    assert why in str(relay.providers.status())
    assert server.script.accepted == []


@pytest.mark.parametrize("starttls", ["", "true"])
def test_with_a_password_starttls_is_used_before_auth(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve, starttls: str
) -> None:
    server = serve(tls="starttls", certificate=trusted)
    url = server.url(user=USER, password=PASSWORD, starttls=starttls)
    deliver_one(engine, relay_with(make_relay, url), server)
    assert server.script.auth_attempts == 1
    assert server.script.in_clear == []


@pytest.mark.parametrize(("user", "starttls"), [(USER, ""), (USER, "true"), ("", "true")])
def test_starttls_required_of_a_server_that_does_not_offer_it_pauses_it_and_sends_no_auth(
    engine: Engine, make_relay: MakeRelay, serve: Serve, user: str, starttls: str
) -> None:
    server = serve()
    relay = relay_with(make_relay, server.url(user=user, password=PASSWORD, starttls=starttls))
    queue_emails(engine, 1)
    relay.drain()
    assert_paused(engine, relay, server, "STARTTLS not offered")
    assert server.script.auth_attempts == 0


def test_without_a_password_starttls_is_used_whenever_the_server_offers_it(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve
) -> None:
    server = serve(tls="starttls", certificate=trusted)
    deliver_one(engine, relay_with(make_relay, server.url(starttls="")), server)
    assert server.script.in_clear == []


def test_without_a_password_starttls_false_sends_in_clear(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve
) -> None:
    server = serve(tls="starttls", certificate=trusted)
    deliver_one(engine, relay_with(make_relay, server.url(starttls="false")), server)
    assert server.script.in_clear == ["data"]


def test_without_a_password_a_server_that_offers_no_starttls_gets_mail_in_clear(
    engine: Engine, make_relay: MakeRelay, serve: Serve
) -> None:
    """What `outpost up`'s catcher and docker-compose's Mailpit are: opportunistic TLS only."""
    server = serve()
    deliver_one(engine, relay_with(make_relay, server.url(starttls="")), server)
    assert server.script.in_clear == ["data"]


def test_smtps_is_tls_from_the_first_byte(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve
) -> None:
    server = serve(tls="implicit", certificate=trusted)
    deliver_one(engine, relay_with(make_relay, server.url(user=USER, password=PASSWORD)), server)
    assert server.script.auth_attempts == 1
    assert server.script.in_clear == []


def test_smtp_on_port_465_is_implicit_tls(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve
) -> None:
    """Tests take free ports: the settings of :465 are pointed at the server's port."""
    server = serve(tls="implicit", certificate=trusted)
    settings = parse_smtp_url(f"smtp://{USER}:{PASSWORD}@127.0.0.1:465?timeout=2")
    assert (settings.implicit_tls, settings.starttls) == (True, StartTls.OFF)
    relay = relay_with(make_relay, dataclasses.replace(settings, port=server.port))
    deliver_one(engine, relay, server)
    assert server.script.in_clear == []


@pytest.mark.parametrize(
    ("tls", "user"), [("starttls", USER), ("implicit", USER), ("starttls", "")]
)
def test_a_certificate_the_trusted_ca_did_not_sign_pauses_the_provider_and_kills_nothing(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve, tls: str, user: str
) -> None:
    server = serve(tls=tls, certificate=SmtpCA.make())
    url = server.url(user=user, password=PASSWORD, starttls="")
    relay = relay_with(make_relay, url)
    queue_emails(engine, 1)
    relay.drain()
    assert_paused(engine, relay, server, "CERTIFICATE_VERIFY_FAILED")
    assert server.script.auth_attempts == 0


# (SMTP_URL, port, implicit TLS, STARTTLS)
PARSED = [
    ("smtp://mail.example.com", 25, False, StartTls.IF_OFFERED),
    ("smtp://mail.example.com:587?starttls=true", 587, False, StartTls.REQUIRED),
    ("smtp://mail.example.com?starttls=false", 25, False, StartTls.OFF),
    ("smtp://u:p@mail.example.com:587", 587, False, StartTls.REQUIRED),
    ("smtp://u:p@mail.example.com?starttls=1", 25, False, StartTls.REQUIRED),
    ("smtps://u:p@mail.example.com", 465, True, StartTls.OFF),
    ("smtp://u:p@mail.example.com:465", 465, True, StartTls.OFF),
    ("smtp://u:p@mail.example.com:465?starttls=false", 465, True, StartTls.OFF),
    ("smtp://u:p@127.0.0.1:2525?starttls=false", 2525, False, StartTls.OFF),
    ("smtp://u:p@127.8.9.10?starttls=false", 25, False, StartTls.OFF),
    ("smtp://u:p@[::1]?starttls=0", 25, False, StartTls.OFF),
    ("smtp://u:p@localhost?starttls=false", 25, False, StartTls.OFF),
]


@pytest.mark.parametrize(("url", "port", "implicit", "starttls"), PARSED)
def test_smtp_url_says_how_tls_is_used(
    url: str, port: int, implicit: bool, starttls: StartTls
) -> None:
    settings = parse_smtp_url(url)
    assert (settings.port, settings.implicit_tls, settings.starttls) == (port, implicit, starttls)


def test_user_and_password_are_percent_decoded() -> None:
    settings = parse_smtp_url("smtp://me%40example.com:p%20w%3A%2F@mail.example.com")
    assert (settings.username, settings.password) == ("me@example.com", "p w:/")


@pytest.mark.parametrize("name", ["SMTP_URL", "SMTP_FALLBACK_URL"])
@pytest.mark.parametrize("host", ["mail.example.com", "10.0.0.7", "[2001:db8::1]"])
def test_starttls_false_with_a_password_to_another_host_is_refused_naming_the_variable(
    name: str, host: str
) -> None:
    url = f"smtp://u:hunter2@{host}:587?starttls=false"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, name: url})
    line = str(refused.value)
    assert line.startswith(f"{name}: starttls=false would send the password in clear")
    assert "\n" not in line and "hunter2" not in line


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_tls_session_is_kept_across_sends(
    engine: Engine, make_relay: MakeRelay, trusted: SmtpCA, serve: Serve, tls: str
) -> None:
    """What TLS sends on its own between two mails (TLS 1.3's session tickets) is not the
    server speaking: the session is kept, not replaced before each reuse."""
    server = serve(tls=tls, certificate=trusted)
    relay = relay_with(make_relay, server.url(user=USER, password=PASSWORD))
    opened = server.script.sessions  # the server's own check at start
    for n in range(3):
        queue_emails(engine, 1, prefix=f"kept{n}")
        assert relay.drain() == 1
    assert len(server.script.wait_for(3)) == 3
    assert server.script.sessions - opened == 1
