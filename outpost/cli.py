"""`outpost up` (the demo stack), `outpost serve` (the production API), `outpost migrate` (schema
to head), `outpost check` (before `systemctl start`), `outpost settings` (the configuration
reference), `outpost deploy-files`, `outpost openapi`, `outpost templates check|preview`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.render import TemplateError, Templates
from outpost import deploy_files
from outpost.check import run_checks
from outpost.preview import MOST_SEGMENTS, part_of, preview, sms_segments
from outpost.serve import serve
from outpost.stack import up_stack
from shared.accounts.addresses import AddressError, normalise_email
from shared.database.db import migrate
from shared.messaging.outbox import CHANNELS, PURPOSES
from shared.runtime.version import version
from shared.settings import env_file
from shared.settings.config import Settings
from shared.settings.database_url import driver_message, shown
from shared.settings.joint_rules import ConfigError, require_database_url
from shared.settings.reference import reference
from shared.vocabulary import Channel, Purpose


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    named, rest = env_file.named(argv)
    # `outpost check` counts the names no setting reads among its problems instead.
    argv = env_file.apply(argv, "outpost", warn=rest[:1] != ["check"])
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            require_database_url(os.environ)
            serve()
        if args.command == "deploy-files":
            return write_deploy_files(args.dir, args.venv, named)
        if args.command == "migrate":
            return migrate_schema()
        if args.command == "check":
            return run_checks(os.environ, named, send_test=args.send_test)
        if args.command == "openapi":
            return write_openapi(check=args.check)
        if args.command == "settings":
            print(reference(), end="")
            return 0
        if args.command == "templates":
            settings = Settings.from_env(os.environ, require_secret=False)
            if args.action == "check":
                return check_templates(settings)
            return preview_template(settings, args.purpose, args.locale, args.channel, args.out)
        return up_stack(args.host, args.port, args.smtp_port)
    except ConfigError as exc:
        print(f"outpost: configuration error: {exc}", file=sys.stderr)
        return 2
    except TemplateError as exc:
        print(f"outpost: template error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    """Every command and its arguments."""
    parser = argparse.ArgumentParser(prog="outpost", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    env_file.describe(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run API, relay and SMTP catcher until Ctrl-C")
    up.add_argument("--host", default="127.0.0.1", help="address the API and catcher bind")
    up.add_argument("--port", type=int, default=8000, help="API port")
    up.add_argument("--smtp-port", type=int, default=1025, help="SMTP catcher port")
    commands.add_parser("serve", help="run the production API (gunicorn, packaged settings)")
    commands.add_parser("migrate", help="upgrade the database schema to head")
    commands.add_parser(
        "settings",
        help="print the configuration reference (Markdown): every variable, its meaning, "
        "default and checks",
    )
    check = commands.add_parser(
        "check",
        help="check the configuration, templates, database and SMTP providers before starting; "
        "exit 0 when all hold, 1 on any problem, 2 when --env-file cannot be read",
    )
    check.add_argument(
        "--send-test",
        metavar="ADDRESS",
        type=_address,
        help="also send one real mail to ADDRESS through the mail provider, as the relay does",
    )
    deploy = commands.add_parser(
        "deploy-files", help="write the systemd units, nginx site and Prometheus files to DIR"
    )
    deploy.add_argument("dir", type=Path, metavar="DIR")
    deploy.add_argument(
        "--venv",
        type=Path,
        default=deploy_files.default_venv(),
        help="the virtualenv the units run Outpost from (default: this command's, %(default)s)",
    )
    templates = commands.add_parser("templates", help="check or preview the message templates")
    actions = templates.add_subparsers(dest="action", required=True)
    actions.add_parser("check", help="render every template with sample values; list failures")
    preview = actions.add_parser("preview", help="one message with sample values")
    preview.add_argument("purpose", choices=PURPOSES)
    preview.add_argument(
        "--locale", default="en", help="en, fr, or a locale TEMPLATES_DIR adds (default: en)"
    )
    preview.add_argument("--channel", choices=CHANNELS, default="email")
    preview.add_argument(
        "--out",
        type=Path,
        help="write it here instead of stdout: FILE.html the HTML part, FILE.txt the text, "
        "FILE.eml (or any other) the whole message",
    )
    openapi = commands.add_parser("openapi", help="write the OpenAPI document to openapi.json")
    openapi.add_argument("--check", action="store_true", help="only report whether it is stale")
    return parser


def _address(text: str) -> str:
    """An email address argument, checked as a registration's is."""
    try:
        return normalise_email(text)
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def migrate_schema() -> int:
    """Name the database, upgrade it to head and say what was done; a database error in one
    line, quoted as the server said it."""
    require_database_url(os.environ)
    url = Settings.from_env(os.environ, require_secret=False).migrate_database_url
    print(f"outpost: database {shown(url)}", flush=True)
    try:
        said = migrate(url).said()
    except SQLAlchemyError as exc:
        print(f"outpost: database error: {driver_message(exc)}", file=sys.stderr)
        return 1
    for line in said:
        print(f"outpost: {line}", flush=True)
    return 0


def check_templates(settings: Settings) -> int:
    """Render every template with sample values; one line per failure, exit 1 on any; then
    each SMS template's segments, with a warning past two."""
    templates = Templates(settings.branding, settings.templates_dir)
    problems = templates.problems()
    for problem in problems:
        print(problem)
    # Segments are counted once every template renders: a warning, never a failure.
    counts = {} if problems else sms_segments(templates, settings.sms_autofill)
    for name, counted in counts.items():
        if counted.count > MOST_SEGMENTS:
            print(
                f"warning: {templates.source(name)}: {counted}, past {MOST_SEGMENTS} (each billed)"
            )
        else:
            print(f"{name}: {counted}")
    where = f" (TEMPLATES_DIR {settings.templates_dir})" if settings.templates_dir else ""
    print(f"outpost: locales {', '.join(templates.locales)}")
    print(f"outpost: {len(templates.names())} templates checked{where}, {len(problems)} failing")
    return 1 if problems else 0


def preview_template(
    settings: Settings, purpose: Purpose, locale: str, channel: Channel, out: Path | None
) -> int:
    """The message of `purpose` with sample values: RFC 5322 bytes, or the SMS text; into a
    `.html` or `.txt` file, only that part of an email, decoded."""
    templates = Templates.checked(settings)
    if locale not in templates.locales:
        print(f"outpost: --locale: one of {', '.join(templates.locales)}", file=sys.stderr)
        return 2
    message = preview(settings, templates, purpose, locale, channel)
    if out is not None:
        try:
            message = part_of(message, channel, out.suffix)
        except ValueError as exc:
            print(f"outpost: {out}: {exc}", file=sys.stderr)
            return 2
    if out is None:
        sys.stdout.buffer.write(message)
        sys.stdout.flush()
        return 0
    try:
        out.write_bytes(message)
    except OSError as exc:
        print(f"outpost: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"outpost: wrote {out}", file=sys.stderr)
    return 0


def write_deploy_files(target: Path, venv: Path, named: Path | None) -> int:
    """Write the shipped deployment files under `target`, following the env file `named`, one
    line per file."""
    try:
        written = deploy_files.write(target, venv, named, os.environ)
    except deploy_files.NotAVirtualenv as exc:
        print(f"outpost: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"outpost: cannot write {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"outpost: wrote {path}")
    print(f"outpost: the units run {venv.absolute()}/bin/outpost and outbox-relay")
    return 0


def write_openapi(*, check: bool) -> int:
    """Regenerate the committed OpenAPI document, or with `check` say whether it is stale."""
    # The whole API loads for this command only: the others start without it
    # (docs/decisions/0032-commands-load-what-they-use.md).
    from api_service.openapi import DOCUMENT, generated

    current = generated()
    stale = not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != current
    if check:
        print(f"outpost: {DOCUMENT.name} is {'stale' if stale else 'current'}")
        return 1 if stale else 0
    DOCUMENT.write_text(current, encoding="utf-8")
    print(f"outpost: wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
