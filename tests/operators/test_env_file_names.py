"""An env file's names that no setting reads are warned about by every command, one line each,
naming the closest variable that is read; names the system and libraries read are not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.settings import described, unknown_names
from shared.settings.env_file import unknown_name_warnings
from support.constants import SECRET_KEY

WARNING = "SMTP_URLL is not a setting Outpost reads (did you mean SMTP_URL?)"


def test_a_misspelt_name_is_told_with_the_closest_setting() -> None:
    assert unknown_names(["SMTP_URLL", "SMTP_URL", "smtp_url", "LOG_LEVL", "ZZZ"]) == [
        ("SMTP_URLL", "SMTP_URL"),
        ("smtp_url", "SMTP_URL"),
        ("LOG_LEVL", "LOG_LEVEL"),
        ("ZZZ", None),
    ]
    assert described("SMTP_URLL", "SMTP_URL") == WARNING
    assert described("ZZZ", None) == "ZZZ is not a setting Outpost reads"


def test_names_the_system_libraries_or_sms_headers_read_are_not_unknown() -> None:
    read_by_others = [
        "SSL_CERT_FILE",
        "TZ",
        "https_proxy",
        "NO_PROXY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "PYTHONUNBUFFERED",
        "PGSSLROOTCERT",
        "PROMETHEUS_MULTIPROC_DIR",
        "OUTPOST_BIND",
        "LOG_LEVEL",
    ]
    assert unknown_names(read_by_others) == []
    # A name SMS_HEADERS reads (`${NAME}`) is a setting's, in the same file.
    assert unknown_names({"SMS_HEADERS": "apiKey: ${AT_API_KEY}", "AT_API_KEY": "k"}) == []
    assert unknown_names(["AT_API_KEY"]) == [("AT_API_KEY", None)]


def test_the_warnings_name_the_file_and_the_first_line_of_each_name(tmp_path: Path) -> None:
    path = tmp_path / "outpost.env"
    path.write_text('MULTI="line one\nline two"\n# a comment\nSMTP_URLL=x\nSMTP_URLL=y\nTZ=UTC\n')
    assert unknown_name_warnings(path) == [
        f"{path} line 1: MULTI is not a setting Outpost reads",
        f"{path} line 4: {WARNING}",
    ]


def _run(command: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command, "--env-file", str(env_file)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env_file.parent,
    )


def test_every_command_warns_once_about_a_misspelt_name(tmp_path: Path) -> None:
    """`outpost …` and `outbox-relay …` alike, on stderr, and the command still runs."""
    path = tmp_path / "outpost.env"
    path.write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'outpost.db'}\n"
        f"SECRET_KEY={SECRET_KEY}\n"
        "SMTP_URLL=smtp://mail.example.com:587\n"
    )
    for command, prog in (
        (["outpost.cli", "migrate"], "outpost"),
        (["outbox_relay.cli", "stats"], "outbox-relay"),
    ):
        done = _run(command, path)
        assert done.returncode == 0, done.stderr
        told = [line for line in done.stderr.splitlines() if "is not a setting" in line]
        assert told == [f"{prog}: {path} line 3: {WARNING}"]


def test_known_names_are_not_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "outpost.env"
    path.write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'outpost.db'}\n"
        f"SECRET_KEY={SECRET_KEY}\n"
        "SMTP_URL=smtp://mail.example.com:587\n"
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
    )
    done = _run(["outpost.cli", "settings"], path)
    assert done.returncode == 0 and done.stdout.startswith("# Configuration\n")
    assert done.stderr == ""
