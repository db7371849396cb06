"""`outpost check`'s SMTP lines name the fix, never Python's exception: the port for a refused
connection, SSL_CERT_FILE for a certificate from a CA the host does not trust, the name in
SMTP_URL for a certificate made for another; `--send-test ADDRESS` sends one real mail through
SMTP_URL as the relay does (STARTTLS, AUTH). The servers are aiosmtpd's (support.smtp_stages)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.checks import PASSWORD, USER, outpost_check
from support.smtp_stages import SmtpCA, StagedSmtp


@pytest.fixture
def other_name(test_ca: SmtpCA) -> Iterator[StagedSmtp]:
    """A server whose certificate, from the trusted CA, is for mail.example alone."""
    certificate = SmtpCA(test_ca.ca, test_ca.ca.issue_cert("mail.example"))
    with StagedSmtp(tls="starttls", certificate=certificate, login=(USER, PASSWORD)) as server:
        yield server


def smtp_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of SMTP_URL's checks (no DATABASE_URL is given here: another problem)."""
    return [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith("outpost check: SMTP_URL ")
    ]


def smtp_line(done: subprocess.CompletedProcess[str]) -> str:
    """SMTP_URL's one line, a problem."""
    assert done.returncode == 1
    [line] = smtp_lines(done)
    assert line in done.stderr
    return line


def test_a_ca_the_host_does_not_trust_names_ssl_cert_file(
    base: dict[str, str], smtp_server: StagedSmtp, tmp_path: Path
) -> None:
    untrusting = {name: value for name, value in base.items() if name != "SSL_CERT_FILE"}
    line = smtp_line(outpost_check(untrusting, tmp_path))
    assert line.startswith(f"outpost check: SMTP_URL {USER}@127.0.0.1:{smtp_server.port}: ")
    assert line.endswith(
        ": the server's certificate is not trusted (unable to get local issuer certificate): "
        "set SSL_CERT_FILE to the file of the CA that signed it (a private CA), or have the "
        "server send its whole chain"
    )
    assert "SSLCertVerificationError" not in line and "Errno" not in line


def test_a_certificate_for_another_name_names_the_host_in_smtp_url(
    base: dict[str, str], other_name: StagedSmtp, tmp_path: Path
) -> None:
    environ = {**base, "SMTP_URL": other_name.url(timeout=10, user=USER, password=PASSWORD)}
    line = smtp_line(outpost_check(environ, tmp_path))
    assert line == (
        f"outpost check: SMTP_URL {USER}@127.0.0.1:{other_name.port}: the server's certificate "
        "is not for 127.0.0.1 (IP address mismatch, certificate is not valid for '127.0.0.1'.): "
        "name in SMTP_URL the host its certificate is for"
    )


def test_send_test_sends_one_real_mail_through_smtp_url(
    base: dict[str, str], smtp_server: StagedSmtp, tmp_path: Path
) -> None:
    done = outpost_check(base, tmp_path, "--send-test", "Ada@Example.com")
    [_, sent] = smtp_lines(done)
    assert sent == (
        f"outpost check: SMTP_URL {USER}@127.0.0.1:{smtp_server.port}: test mail to "
        "ada@example.com: ok, the server took it (its id: 0100018c-staged-000000); see that it "
        "arrives"
    )
    [mail] = smtp_server.script.accepted
    assert (mail["To"], mail["From"], mail["Subject"]) == (
        "ada@example.com",
        "Outpost <no-reply@outpost.test>",
        "Outpost test mail",
    )
    assert f"127.0.0.1:{smtp_server.port}" in mail.get_content()
    assert smtp_server.script.in_clear == [] and smtp_server.script.auth_attempts == 2


def test_send_test_refused_by_the_server_is_one_line_and_exit_1(
    base: dict[str, str], smtp_server: StagedSmtp, tmp_path: Path
) -> None:
    smtp_server.script.set(rcpt="550 5.1.1 no such mailbox")
    done = outpost_check(base, tmp_path, "--send-test", "nobody@example.com")
    [greeted, refused] = smtp_lines(done)
    assert greeted in done.stdout and refused in done.stderr and done.returncode == 1
    assert refused == (
        f"outpost check: SMTP_URL {USER}@127.0.0.1:{smtp_server.port}: test mail to "
        "nobody@example.com: SMTP 550 5.1.1 no such mailbox at rcpt"
    )


def test_send_test_takes_an_address_only(base: dict[str, str], tmp_path: Path) -> None:
    done = outpost_check(base, tmp_path, "--send-test", "not an address")
    assert done.returncode == 2
    assert "argument --send-test: Not a deliverable email address" in done.stderr
