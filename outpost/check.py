"""`outpost check`: what a sysadmin runs before `systemctl start`. The configuration as `outpost
serve` and `outbox-relay run` read it, the templates, the database and each provider that can be
reached at no cost: one line a problem, a short one for each check that holds."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.operator.dispatch import missing_database
from outbox_relay.render import Templates
from outpost.check_mail import mail_findings
from outpost.finding import Finding
from outpost.serve import read_at_start
from shared.database import keyring
from shared.database.bounds import LONGEST_CONNECT
from shared.database.db import Schema, create_engine_for, schema_of
from shared.settings.config import Settings
from shared.settings.database import DATABASE_URL
from shared.settings.database_url import driver_message, shown
from shared.settings.env_file import unknown_name_warnings
from shared.settings.joint_rules import ConfigError, require_database_url
from shared.settings.sms_url import LOG
from shared.sms_providers.registry import RECEIVING

PROG = "outpost check"


def run_checks(
    environ: Mapping[str, str],
    named: Path | None = None,
    send_test: str | None = None,
) -> int:
    """Print each finding (problems on stderr) and a summary on stdout; 0 when every check
    holds, else 1.
    `named`: the `--env-file` the environment was read from, whose names are checked too;
    `send_test`: an address to send one real mail to through the primary mail provider."""
    found = 0
    problems = 0
    out, err = sys.stdout, sys.stderr
    for finding in [*_env_file(named), *findings(environ, send_test)]:
        found += 1
        problems += finding.problem
        print(f"{PROG}: {finding.subject}: {finding.said}", file=err if finding.problem else out)
        (err if finding.problem else out).flush()
    if problems:
        print(f"{PROG}: {problems} of {found} checks failed", file=out, flush=True)
        return 1
    print(f"{PROG}: all {found} checks hold", file=out, flush=True)
    return 0


def findings(environ: Mapping[str, str], send_test: str | None = None) -> Iterator[Finding]:
    """Every check's finding, in the order they are fixed: a configuration that cannot be read
    stops the others, which all depend on it."""
    try:
        settings = read_at_start(environ)[1]
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
    yield from _lacking(settings)
    yield from _templates(settings)
    if DATABASE_URL.given(environ):
        yield from _databases(settings)
    yield from mail_findings(settings, send_test)
    yield from _sms(settings)


def _lacking(settings: Settings) -> Iterator[Finding]:
    """What a feature needs and the configuration lacks, each with what it costs: the
    processes start without it, and quietly do less."""
    if settings.public_url is None:
        costs = [
            '"no account" mails are withheld (a stranger gets none without an unsubscribe link)'
        ]
        receiving = {spec.name for spec in RECEIVING}
        asking = [p.kind for p in settings.sms_providers if p.kind in receiving]
        if asking:
            costs.append(f"no delivery receipts are asked of {' or '.join(asking)}")
        yield Finding("PUBLIC_URL", f"warning: unset, so {'; '.join(costs)}")


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
    """DATABASE_URL reached, its schema at head and its keyring taking SECRET_KEY;
    MIGRATE_DATABASE_URL reached, if set."""
    pooled = settings.database_pooler == "transaction"
    yield from _database("DATABASE_URL", settings, pooled=pooled)
    if settings.migrate_database_url != settings.database_url:
        yield from _database("MIGRATE_DATABASE_URL", settings)


def _database(variable: str, settings: Settings, *, pooled: bool = False) -> Iterator[Finding]:
    """Connect to the database `variable` names and read its schema's revision (the server's
    refusal, quoted); at DATABASE_URL, whether its keyring takes SECRET_KEY.

    A SQLite file that is not there is named, not made: opening it would create it.
    """
    owner = variable != "DATABASE_URL"
    url = settings.migrate_database_url if owner else settings.database_url
    subject = f"{variable} {shown(url)}"
    missing = missing_database(url)
    if missing is not None:
        yield Finding.refused(subject, f"no database at {missing}")
        return
    engine = create_engine_for(url, transaction_pooler=pooled, timeout=LONGEST_CONNECT)
    try:
        schema = schema_of(engine)
        if owner:
            yield Finding(subject, "ok, connected (the owner `outpost migrate` runs as)")
            return
        yield _schema(subject, schema)
        if not schema.behind:
            with engine.connect() as connection:
                accepted = keyring.accepted(connection, settings.secret_keys)
            if not accepted:
                yield Finding.refused("SECRET_KEY", keyring.KeysMismatch.said)
    except SQLAlchemyError as exc:
        yield Finding.refused(subject, driver_message(exc))
    finally:
        engine.dispose()


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
