"""`outpost check --env-file FILE`, what a sysadmin runs before `systemctl start`: exit 0 and a
short line a check when all holds; else one line a problem, quoting what the database or the
SMTP server said, never a password, and exit 1. The servers are real: PostgreSQL (a private
cluster that asks for passwords, for the wrong one), SQLite, aiosmtpd with STARTTLS and AUTH."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import URL, make_url

from shared.database.db import MIGRATIONS_DIR, alembic_config
from support import private_postgres
from support.checks import PASSWORD, USER, outpost_check
from support.databases import PG_URL
from support.ports import free_port
from support.private_postgres import PrivatePostgres
from support.smtp_stages import SmtpCA, StagedSmtp

DB_PASSWORD = "db-s3cret"
HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def printed(url: str) -> str:
    """The URL as `outpost check` prints it: no password, on postgresql://."""
    parsed = make_url(url)
    return URL.create(
        parsed.get_backend_name(), parsed.username, None, parsed.host, parsed.port, parsed.database
    ).render_as_string()


def test_a_configuration_that_holds_says_so_and_exits_0(
    base: dict[str, str], database_url: str, smtp_server: StagedSmtp, tmp_path: Path
) -> None:
    done = outpost_check({**base, "DATABASE_URL": database_url}, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    [env_file, *lines] = done.stdout.splitlines()
    assert env_file == (
        f"outpost check: env file: ok, every name in {tmp_path / 'outpost.env'} is a setting "
        "Outpost reads"
    )
    assert lines[0] == (
        "outpost check: configuration: ok, as `outpost serve` and `outbox-relay run` read it"
    )
    assert lines[1].startswith("outpost check: templates: ok, ")
    assert lines[2:] == [
        f"outpost check: DATABASE_URL {printed(database_url)}: ok, connected, schema at head "
        f"{HEAD}",
        f"outpost check: SMTP_URL {USER}@127.0.0.1:{smtp_server.port}: ok, connected, EHLO, "
        f"STARTTLS, AUTH as {USER}; no message sent",
        "outpost check: all 5 checks hold",
    ]
    assert smtp_server.script.auth_attempts == 1 and smtp_server.script.in_clear == []
    assert smtp_server.script.accepted == [] and smtp_server.script.probes == 0


@pytest.mark.postgresql_only
def test_each_refusal_is_one_line_quoting_the_server_without_a_password(
    base: dict[str, str], test_ca: SmtpCA, tmp_path: Path
) -> None:
    """A misspelt variable, a role that does not exist, a port nobody listens on (database and
    SMTP), an AUTH refused; the API's and the relay's own settings otherwise hold."""
    refusing = StagedSmtp(tls="starttls", certificate=test_ca, login=(USER, "another"))
    refusing.start()
    role, nobody = f"outpost_app_{secrets.token_hex(4)}", free_port()
    server = make_url(PG_URL)
    where = f"{server.host}:{server.port or 5432}"
    try:
        done = outpost_check(
            {
                **base,
                "DATABASE_URL": f"postgresql://{role}:{DB_PASSWORD}@{where}/outpost",
                "MIGRATE_DATABASE_URL": f"postgresql://owner:{DB_PASSWORD}@127.0.0.1:{nobody}/x",
                "SMTP_URL": f"smtp://{USER}:{PASSWORD}@127.0.0.1:{nobody}?timeout=10",
                "SMTP_FALLBACK_URL": refusing.url(timeout=10, user=USER, password=PASSWORD),
                "SMTP_URLL": "smtp://127.0.0.1:1025",
            },
            tmp_path,
        )
    finally:
        refusing.stop()
    assert done.returncode == 1
    [misspelt, database, *others] = done.stderr.splitlines()
    assert misspelt == (
        f"outpost check: env file: {tmp_path / 'outpost.env'} line 9: SMTP_URLL is not a setting "
        "Outpost reads (did you mean SMTP_URL?)"
    )
    assert database.startswith(f"outpost check: DATABASE_URL postgresql://{role}@{where}/outpost: ")
    assert database.endswith(f'failed: FATAL: role "{role}" does not exist')
    assert others == [
        f"outpost check: MIGRATE_DATABASE_URL postgresql://owner@127.0.0.1:{nobody}/x: connection "
        f'to server at "127.0.0.1", port {nobody} failed: Connection refused',
        f"outpost check: SMTP_URL {USER}@127.0.0.1:{nobody}: nothing listens at "
        f"127.0.0.1:{nobody} (connection refused): check the host and the port in SMTP_URL",
        f"outpost check: SMTP_FALLBACK_URL {USER}@127.0.0.1:{refusing.port}: the server "
        "refused the user and password in SMTP_FALLBACK_URL: SMTP 535 5.7.8 Authentication "
        "credentials invalid at auth",
    ]
    assert done.stdout.splitlines()[-1] == "outpost check: 5 of 7 checks failed"
    assert DB_PASSWORD not in done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.postgresql_only
def test_a_wrong_database_password_is_quoted_as_the_server_refused_it(
    base: dict[str, str], tmp_path: Path
) -> None:
    """The suite's server trusts every local connection; a private one asks for passwords."""
    if not private_postgres.available():
        pytest.fail(f"PostgreSQL 15's initdb and pg_ctl are needed in {private_postgres.BIN}")
    with PrivatePostgres() as server:
        with psycopg.connect(server.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"CREATE ROLE outpost_app LOGIN PASSWORD '{DB_PASSWORD}'")
        server.ask_passwords()
        wrong = f"postgresql://outpost_app:not-{DB_PASSWORD}@127.0.0.1:{server.port}/postgres"
        done = outpost_check({**base, "DATABASE_URL": wrong}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"outpost check: DATABASE_URL postgresql://outpost_app@127.0.0.1:{server.port}/postgres: "
        f'connection to server at "127.0.0.1", port {server.port} failed: FATAL: password '
        'authentication failed for user "outpost_app"'
    ]
    assert DB_PASSWORD not in done.stdout + done.stderr


def test_a_schema_behind_head_names_both_revisions(
    base: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    command.downgrade(alembic_config(database_url), "-1")
    previous = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(HEAD).down_revision
    done = outpost_check({**base, "DATABASE_URL": database_url}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"outpost check: DATABASE_URL {printed(database_url)}: schema at {previous}, behind head "
        f"{HEAD}: run `outpost migrate`"
    ]


def test_an_smtp_server_that_never_answers_is_one_line_within_its_timeout(
    base: dict[str, str], tmp_path: Path
) -> None:
    """And without DATABASE_URL, the line `outpost serve` and the relay would stop with."""
    silent = StagedSmtp()
    silent.script.set(greeting="hang")
    silent.start()
    try:
        done = outpost_check({**base, "SMTP_URL": silent.url(timeout=1)}, tmp_path)
    finally:
        silent.stop()
    assert done.returncode == 1
    [configuration, smtp] = done.stderr.splitlines()
    assert configuration.startswith("outpost check: configuration: DATABASE_URL: required, e.g. ")
    assert smtp == (
        f"outpost check: SMTP_URL 127.0.0.1:{silent.port}: no SMTP answer from "
        f"127.0.0.1:{silent.port} within 1s: check the host and the port in SMTP_URL (a port "
        "that speaks TLS from the first byte, 465, takes smtps://), and that no firewall drops "
        "the connection"
    )
    assert not (tmp_path / "var").exists()
