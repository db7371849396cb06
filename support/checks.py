"""`outpost check` run as a sysadmin runs it before `systemctl start`, with an env file, and the
SMTP server (aiosmtpd, STARTTLS from a test CA, AUTH) a configuration that holds names."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.commands import outpost
from support.constants import SECRET_KEY
from support.smtp_stages import SmtpCA, StagedSmtp

USER, PASSWORD = "outpost", "smtp-s3cret"


def holding(ca: SmtpCA, smtp: StagedSmtp, cwd: Path) -> dict[str, str]:
    """A production environment that holds but for its DATABASE_URL: `smtp` takes USER's
    password over STARTTLS, its certificate signed by `ca`, which SSL_CERT_FILE names."""
    pem = cwd / "ca.pem"
    ca.ca.cert_pem.write_to_path(str(pem))
    return {
        "SECRET_KEY": SECRET_KEY,
        "SSL_CERT_FILE": str(pem),
        "SMTP_URL": smtp.url(timeout=10, user=USER, password=PASSWORD),
        "PUBLIC_URL": "https://auth.example",
        "MAIL_FROM": "Outpost <no-reply@outpost.test>",
    }


def outpost_check(
    env: dict[str, str], cwd: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """`outpost check --env-file FILE` with `env` written to FILE, as the units read it, and
    nothing else in its environment but PATH; run in the test's own process, as its own would
    run it (support.commands.outpost)."""
    env_file = cwd / "outpost.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    return outpost({"PATH": "/usr/bin:/bin"}, cwd, "check", "--env-file", str(env_file), *arguments)
