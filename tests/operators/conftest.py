"""The servers `outpost check`'s tests reach: an SMTP server with STARTTLS and AUTH, and the
environment of a configuration that holds with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.checks import PASSWORD, USER, holding
from support.smtp_stages import SmtpCA, StagedSmtp


@pytest.fixture(scope="module")
def test_ca() -> SmtpCA:
    return SmtpCA.make()


@pytest.fixture
def smtp_server(test_ca: SmtpCA) -> Iterator[StagedSmtp]:
    """An SMTP server offering STARTTLS (a test CA's certificate) and taking USER's password."""
    with StagedSmtp(tls="starttls", certificate=test_ca, login=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def base(test_ca: SmtpCA, smtp_server: StagedSmtp, tmp_path: Path) -> dict[str, str]:
    """A production environment that holds but for its DATABASE_URL, which each test gives."""
    return holding(test_ca, smtp_server, tmp_path)
