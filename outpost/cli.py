"""`outpost up` (the demo stack), `outpost migrate` (schema to head), `outpost openapi`,
`outpost templates check|preview`."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import outpost
from outbox_relay.render import TemplateError, Templates
from outpost import HOST_VARIABLE, MAIL_DIR_VARIABLE
from outpost.banner import Stack, banner
from outpost.catcher import start_catcher
from outpost.kept_secrets import ADMIN_TOKEN_FILE, SECRET_KEY_FILE, kept_secret
from outpost.preview import MOST_SEGMENTS, part_of, preview, sms_segments
from shared import env_file
from shared.config import ConfigError, Settings
from shared.config_values import loopback
from shared.db import migrate
from shared.outbox import CHANNELS, LOCALES, PURPOSES

DEPLOY_DIR = Path(outpost.__file__).resolve().parent.parent / "deploy"
STOP_TIMEOUT = 30.0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    argv = env_file.apply(argv, "outpost")
    parser = argparse.ArgumentParser(prog="outpost", description=__doc__)
    env_file.describe(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run API, relay and SMTP catcher until Ctrl-C")
    up.add_argument("--host", default="127.0.0.1", help="address the API and catcher bind")
    up.add_argument("--port", type=int, default=8000, help="API port")
    up.add_argument("--smtp-port", type=int, default=1025, help="SMTP catcher port")
    commands.add_parser("migrate", help="upgrade the database schema to head")
    templates = commands.add_parser("templates", help="check or preview the message templates")
    actions = templates.add_subparsers(dest="action", required=True)
    actions.add_parser("check", help="render every template with sample values; list failures")
    preview = actions.add_parser("preview", help="one message with sample values")
    preview.add_argument("purpose", choices=PURPOSES)
    preview.add_argument("--locale", choices=LOCALES, default="en")
    preview.add_argument("--channel", choices=CHANNELS, default="email")
    preview.add_argument(
        "--out",
        type=Path,
        help="write it here instead of stdout: FILE.html the HTML part, FILE.txt the text, "
        "FILE.eml (or any other) the whole message",
    )
    openapi = commands.add_parser("openapi", help="write the OpenAPI document to openapi.json")
    openapi.add_argument("--check", action="store_true", help="only report whether it is stale")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            settings = Settings.from_env(os.environ, require_secret=False)
            for line in migrate(settings.migrate_database_url).said():
                print(f"outpost: {line}", flush=True)
            return 0
        if args.command == "openapi":
            return write_openapi(check=args.check)
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


def check_templates(settings: Settings) -> int:
    """Render every template with sample values; one line per failure, exit 1 on any; then
    each SMS template's segments, with a warning past two."""
    templates = Templates(settings.branding, settings.templates_dir)
    problems = templates.problems()
    for problem in problems:
        print(problem)
    # Segments are counted once every template renders: a warning, never a failure.
    for name, counted in ({} if problems else sms_segments(templates)).items():
        if counted.count > MOST_SEGMENTS:
            print(
                f"warning: {templates.source(name)}: {counted}, past {MOST_SEGMENTS} (each billed)"
            )
        else:
            print(f"{name}: {counted}")
    where = f" (TEMPLATES_DIR {settings.templates_dir})" if settings.templates_dir else ""
    print(f"outpost: {len(templates.names())} templates checked{where}, {len(problems)} failing")
    return 1 if problems else 0


def preview_template(
    settings: Settings, purpose: str, locale: str, channel: str, out: Path | None
) -> int:
    """The message of `purpose` with sample values: RFC 5322 bytes, or the SMS text; into a
    `.html` or `.txt` file, only that part of an email, decoded."""
    templates = Templates.checked(settings)
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


def write_openapi(*, check: bool) -> int:
    """Regenerate the committed OpenAPI document, or with `check` say whether it is stale."""
    # The whole API loads for this command only: the others start without it, twice as fast.
    from api_service.openapi import DOCUMENT, generated

    current = generated()
    stale = not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != current
    if check:
        print(f"outpost: {DOCUMENT.name} is {'stale' if stale else 'current'}")
        return 1 if stale else 0
    DOCUMENT.write_text(current, encoding="utf-8")
    print(f"outpost: wrote {DOCUMENT}")
    return 0


def up_stack(host: str, port: int, smtp_port: int) -> int:
    """Migrate, then run gunicorn, the relay and (unless SMTP_URL is set) the catcher."""
    catch_mail = not os.environ.get("SMTP_URL")
    token_generated = not os.environ.get("ADMIN_TOKEN")
    sms = (
        "SMS via SMS_URL" if os.environ.get("SMS_URL") else "SMS written to the log (SMS_URL=log:)"
    )
    env = _stack_env(host, port, smtp_port)
    settings = Settings.from_env(env)
    Templates.checked(settings)
    taken = _taken(host, port, "the API", "--port") or (
        catch_mail and _taken(host, smtp_port, "the SMTP catcher", "--smtp-port")
    )
    if taken:
        print(f"outpost: {taken}", file=sys.stderr, flush=True)
        return 1
    migrate(settings.database_url)
    catcher = start_catcher(Path("var") / "mail", host, smtp_port) if catch_mail else None
    children = [
        _spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(DEPLOY_DIR / "gunicorn.conf.py"),
                "outpost.demo:create_demo_app()",
            ],
            env,
        ),
        _spawn([sys.executable, "-m", "outbox_relay.cli", "run"], env),
    ]
    stop_asked = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_asked
        stop_asked = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if _wait_until_up(f"http://{host}:{port}/readyz", children, lambda: stop_asked):
        mail = (
            f"mail caught on {host}:{smtp_port} into var/mail/" if catcher else "mail via SMTP_URL"
        )
        stack = Stack(
            base=f"http://{host}:{port}",
            mail=mail,
            sms=sms,
            catching=catcher is not None,
            token_generated=token_generated,
            on_terminal=sys.stdout.isatty(),
            on_loopback=loopback(host),
        )
        print(banner(stack, env["ADMIN_TOKEN"]), flush=True)
    while not stop_asked and all(child.poll() is None for child in children):
        time.sleep(0.2)
    failed = [child for child in children if child.poll() not in (None, 0)]
    print("outpost: stopping", flush=True)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            failed.append(child)
    if catcher is not None:
        catcher.stop()
    print("outpost: stopped", flush=True)
    return 1 if failed or not stop_asked else 0


def _stack_env(host: str, port: int, smtp_port: int) -> dict[str, str]:
    """The stack's environment: the user's, with the demo's defaults for what is unset."""
    env = dict(os.environ)
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = kept_secret(SECRET_KEY_FILE)
    if not env.get("ADMIN_TOKEN"):
        env["ADMIN_TOKEN"] = kept_secret(ADMIN_TOKEN_FILE)
    if not env.get("APP_URL") and loopback(host):
        # The mails' "sign in" links (welcome, account exists) lead to the demo's sign-in form.
        env["APP_URL"] = f"http://{host}:{port}/dev/signup"
    if not env.get("CODE_LINK_URL") and loopback(host):
        # The activation and reset mails' one-click links open the demo's sign-up page.
        env["CODE_LINK_URL"] = (
            f"http://{host}:{port}/dev/signup#email={{address}}&purpose={{purpose}}&code={{code}}"
        )
    if not env.get("PUBLIC_URL") and not env.get("SMS_URL") and loopback(host):
        # Where the "no account" mails' unsubscribe links lead; no SMS provider is asked to
        # post its receipts to a loopback address.
        env["PUBLIC_URL"] = f"http://{host}:{port}"
    env["SMTP_URL"] = env.get("SMTP_URL") or f"smtp://{host}:{smtp_port}"
    env["SMS_URL"] = env.get("SMS_URL") or "log:"
    env["OUTPOST_BIND"] = f"{host}:{port}"
    env[MAIL_DIR_VARIABLE] = str((Path("var") / "mail").resolve())
    env[HOST_VARIABLE] = host
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _taken(host: str, port: int, who: str, option: str) -> str | None:
    """Why `who` could not listen on host:port, or None when it can.

    Checked before anything starts: once gunicorn failed on a taken port, another process could
    still answer our readiness probe, and the stack said "up" before stopping without a word.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (
                f"cannot listen on {host}:{port} for {who} ({exc.strerror}); "
                f"choose another with {option}"
            )
    return None


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only us, and we stop the children in order.
    return subprocess.Popen(command, env=env, start_new_session=True)


def _wait_until_up(
    url: str, children: list[subprocess.Popen[bytes]], stopped: Callable[[], bool]
) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if stopped():
            return False
        if any(child.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


if __name__ == "__main__":
    sys.exit(main())
