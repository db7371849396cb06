"""`outpost check`: what a sysadmin runs before `systemctl start`. The configuration as `outpost
serve` and `outbox-relay run` read it, the templates, the database and each provider that can be
reached at no cost: one line a problem, a short one for each check that holds."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.failures import DeliveryFailure
from outbox_relay.operator.dispatch import missing_database
from outbox_relay.render import Templates
from shared.bounds import LONGEST_CONNECT
from shared.db import Schema, create_engine_for, schema_of
from shared.settings.config import Settings
from shared.settings.config_env import ConfigError, require_database_url
from shared.settings.database import DATABASE_URL
from shared.settings.database_url import driver_message, shown
from shared.settings.env_file import unknown_name_warnings
from shared.settings.sms_url import LOG
from shared.settings.smtp_url import SmtpSettings, StartTls

PROG = "outpost check"


@dataclass(frozen=True)
class Finding:
    """What one check found about `subject`: what holds, or (`problem`) what does not."""

    subject: str
    said: str
    problem: bool = False

    @classmethod
    def refused(cls, subject: str, said: str) -> Finding:
        """A problem: what an operator must fix before starting."""
        return cls(subject, said, problem=True)


def run_checks(
    environ: Mapping[str, str],
    named: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Print each finding (problems on `err`) and a summary; 0 when every check holds, else 1.
    `named`: the `--env-file` the environment was read from, whose names are checked too."""
    found = 0
    problems = 0
    for finding in [*_env_file(named), *findings(environ)]:
        found += 1
        problems += finding.problem
        print(f"{PROG}: {finding.subject}: {finding.said}", file=err if finding.problem else out)
        (err if finding.problem else out).flush()
    if problems:
        print(f"{PROG}: {problems} of {found} checks failed", file=out, flush=True)
        return 1
    print(f"{PROG}: all {found} checks hold", file=out, flush=True)
    return 0


def findings(environ: Mapping[str, str]) -> Iterator[Finding]:
    """Every check's finding, in the order they are fixed: a configuration that cannot be read
    stops the others, which all depend on it."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        yield Finding.refused("configuration", str(exc))
        return
    try:
        require_database_url(environ)
    except ConfigError as exc:
        yield Finding.refused("configuration", str(exc))
    else:
        yield Finding("configuration", "ok, as `outpost serve` and `outbox-relay run` read it")
    for warning in settings.warnings:
        yield Finding("configuration", f"warning: {warning}")
    yield from _templates(settings)
    if DATABASE_URL.given(environ):
        yield from _databases(settings)
    yield _smtp("SMTP_URL", settings.smtp)
    if settings.smtp_fallback is not None:
        yield _smtp("SMTP_FALLBACK_URL", settings.smtp_fallback)
    yield from _sms(settings)


def _env_file(named: Path | None) -> Iterator[Finding]:
    """Each name the env file assigns that no setting reads, with the closest one that does."""
    if named is None:
        return
    warnings = unknown_name_warnings(named)
    for warning in warnings:
        yield Finding.refused("env file", warning)
    if not warnings:
        yield Finding("env file", f"ok, every name in {named} is a setting Outpost reads")


def _templates(settings: Settings) -> Iterator[Finding]:
    """Every template renders its samples, as the relay checks at start."""
    subject = f"TEMPLATES_DIR {settings.templates_dir}" if settings.templates_dir else "templates"
    templates = Templates(settings.branding, settings.templates_dir)
    try:
        problems = templates.problems()
    finally:
        templates.close()
    for problem in problems:
        yield Finding.refused(subject, problem)
    if not problems:
        locales = ", ".join(templates.locales)
        yield Finding(subject, f"ok, {len(templates.names())} templates render (locales {locales})")


def _databases(settings: Settings) -> Iterator[Finding]:
    """DATABASE_URL reached and its schema at head; MIGRATE_DATABASE_URL reached, if set."""
    pooled = settings.database_pooler == "transaction"
    yield _database("DATABASE_URL", settings.database_url, pooled=pooled, owner=False)
    if settings.migrate_database_url != settings.database_url:
        yield _database("MIGRATE_DATABASE_URL", settings.migrate_database_url, owner=True)


def _database(variable: str, url: str, *, pooled: bool = False, owner: bool) -> Finding:
    """Connect to `url` and read its schema's revision; the server's refusal, quoted.

    A SQLite file that is not there is named, not made: opening it would create it.
    """
    subject = f"{variable} {shown(url)}"
    missing = missing_database(url)
    if missing is not None:
        return Finding.refused(subject, f"no database at {missing}")
    engine = create_engine_for(url, transaction_pooler=pooled, timeout=LONGEST_CONNECT)
    try:
        schema = schema_of(engine)
    except SQLAlchemyError as exc:
        return Finding.refused(subject, driver_message(exc))
    finally:
        engine.dispose()
    if owner:
        return Finding(subject, "ok, connected (the owner `outpost migrate` runs as)")
    return _schema(subject, schema)


def _schema(subject: str, schema: Schema) -> Finding:
    """Whether the schema is at this release's head: behind it, the relay waits and the API is
    not ready."""
    migrate = "run `outpost migrate`"
    if not schema.revisions:
        return Finding.refused(subject, f"no migration has run (head is {schema.head}): {migrate}")
    at = ", ".join(schema.revisions)
    if schema.behind:
        return Finding.refused(subject, f"schema at {at}, behind head {schema.head}: {migrate}")
    if schema.revisions == (schema.head,):
        return Finding(subject, f"ok, connected, schema at head {schema.head}")
    return Finding(
        subject, f"ok, connected, schema at {at}, newer than this release's {schema.head}"
    )


def _smtp(variable: str, smtp: SmtpSettings) -> Finding:
    """A session opened as the relay opens one (connect, EHLO, STARTTLS, AUTH), no message
    sent; the step that failed and what the server said, within the URL's timeout."""
    user = f"{smtp.username}@" if smtp.username else ""
    subject = f"{variable} {user}{smtp.host}:{smtp.port}"
    try:
        encrypted = SmtpChannel(smtp).greet()
    except DeliveryFailure as failure:
        return Finding.refused(subject, failure.description)
    steps = ["TLS" if smtp.implicit_tls else "connected", "EHLO"]
    if encrypted and not smtp.implicit_tls:
        steps.append("STARTTLS")
    if smtp.username is not None:
        steps.append(f"AUTH as {smtp.username}")
    clear = "" if encrypted else " (no TLS: messages go in clear)"
    if not encrypted and smtp.starttls is StartTls.IF_OFFERED:
        clear = " (STARTTLS not offered: messages go in clear)"
    return Finding(subject, f"ok, {', '.join(steps)}{clear}; no message sent")


def _sms(settings: Settings) -> Iterator[Finding]:
    """Each SMS provider's URL and credentials are well formed (Settings checked them); no
    request is made, for every one may cost."""
    providers = {"SMS_URL": settings.sms, "SMS_FALLBACK_URL": settings.sms_fallback}
    for variable, provider in providers.items():
        if provider is not None and provider.kind == LOG:
            yield Finding(variable, "ok, each SMS written to the relay's log")
        elif provider is not None:
            said = f"ok, {provider.kind}: URL and credentials well formed; not called (it costs)"
            yield Finding(variable, said)
