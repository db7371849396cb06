"""`outpost up`: the demo stack (API, relay and an SMTP catcher) in one terminal until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import FrameType

from outbox_relay.render import Templates
from outpost.banner import Stack, banner
from outpost.catcher import start_catcher
from outpost.kept_secrets import ADMIN_TOKEN_FILE, SECRET_KEY_FILE, kept_secret
from outpost.serve import GUNICORN_CONFIG
from shared.database.db import migrate
from shared.settings.config import Settings
from shared.settings.config_values import loopback
from shared.settings.database import DATABASE_URL
from shared.settings.keys import ADMIN_TOKEN, SECRET_KEY
from shared.settings.mail import (
    APP_URL,
    BOUNCE_ADDRESS,
    CODE_LINK_URL,
    MAIL_URL,
    PUBLIC_URL,
    SMTP_URL,
)
from shared.settings.processes import OUTPOST_BIND, OUTPOST_DEMO_HOST, OUTPOST_DEMO_MAIL_DIR
from shared.settings.sms import SMS_URL

STOP_TIMEOUT = 30.0


def up_stack(host: str, port: int, smtp_port: int) -> int:
    """Migrate, then run gunicorn, the relay and (unless SMTP_URL or MAIL_URL is set) the
    catcher."""
    catch_mail = not (SMTP_URL.given(os.environ) or MAIL_URL.given(os.environ))
    token_generated = not ADMIN_TOKEN.given(os.environ)
    sms = (
        "SMS via SMS_URL" if SMS_URL.given(os.environ) else "SMS written to the log (SMS_URL=log:)"
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
    report = partial(hand_report, env)
    catcher = (
        start_catcher(Path("var") / "mail", host, smtp_port, report=report) if catch_mail else None
    )
    api = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        GUNICORN_CONFIG,
        "outpost.demo:create_demo_app()",
    ]
    children = [_spawn(api, env), _spawn([sys.executable, "-m", "outbox_relay.cli", "run"], env)]
    stop_asked = False

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_asked
        stop_asked = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if _wait_until_up(f"http://{host}:{port}/readyz", children, lambda: stop_asked):
        mail = f"mail caught on {host}:{smtp_port} into var/mail/" if catcher else _mail_via()
        stack = Stack(
            base=f"http://{host}:{port}",
            mail=mail,
            sms=sms,
            catching=catcher is not None,
            token_generated=token_generated,
            on_terminal=sys.stdout.isatty(),
            on_loopback=loopback(host),
        )
        print(banner(stack, env[ADMIN_TOKEN.name]), flush=True)
    while not stop_asked and all(child.poll() is None for child in children):
        time.sleep(0.2)
    failed = _stop(children)
    if catcher is not None:
        catcher.stop()
    print("outpost: stopped", flush=True)
    return 1 if failed or not stop_asked else 0


def hand_report(env: Mapping[str, str], raw: bytes, recipient: str) -> None:
    """Hand a report the catcher makes to `outbox-relay bounce`, as a smarthost's pipe does."""
    command = [sys.executable, "-m", "outbox_relay.cli", "bounce", "--recipient", recipient]
    subprocess.run(command, input=raw, env=dict(env), check=False, timeout=60)


def _stop(children: list[subprocess.Popen[bytes]]) -> bool:
    """SIGTERM the children still running, SIGKILL those past STOP_TIMEOUT; whether any
    failed or had to be killed."""
    failed = any(child.poll() not in (None, 0) for child in children)
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
            failed = True
    return failed


def _stack_env(host: str, port: int, smtp_port: int) -> dict[str, str]:
    """The stack's environment: the user's, with the demo's defaults for what is unset."""
    env = dict(os.environ)
    # The relay it starts needs it set (`outbox-relay run` never falls back to a file).
    env[DATABASE_URL.name] = DATABASE_URL.raw(env)
    if not SECRET_KEY.given(env):
        env[SECRET_KEY.name] = kept_secret(SECRET_KEY_FILE)
    if not ADMIN_TOKEN.given(env):
        env[ADMIN_TOKEN.name] = kept_secret(ADMIN_TOKEN_FILE)
    if not APP_URL.given(env) and loopback(host):
        # The mails' "sign in" links (welcome, account exists) lead to the demo's sign-in form.
        env[APP_URL.name] = f"http://{host}:{port}/dev/signup"
    if not CODE_LINK_URL.given(env) and loopback(host):
        # The one-click links of the mails with a code open the demo's sign-up page.
        env[CODE_LINK_URL.name] = (
            f"http://{host}:{port}/dev/signup#email={{address}}&purpose={{purpose}}&code={{code}}"
        )
    if not PUBLIC_URL.given(env) and not SMS_URL.given(env) and loopback(host):
        # Where the "no account" mails' unsubscribe links lead; no SMS provider is asked to
        # post its receipts to a loopback address.
        env[PUBLIC_URL.name] = f"http://{host}:{port}"
    if not (SMTP_URL.given(env) or MAIL_URL.given(env)):
        env[SMTP_URL.name] = f"smtp://{host}:{smtp_port}"
        if not BOUNCE_ADDRESS.given(env):
            # The catcher reports `bounce-later…` mail to each mail's signed envelope sender.
            env[BOUNCE_ADDRESS.name] = "bounces@localhost"
    if not SMS_URL.given(env):
        env[SMS_URL.name] = "log:"
    env[OUTPOST_BIND.name] = f"{host}:{port}"
    env[OUTPOST_DEMO_MAIL_DIR.name] = str((Path("var") / "mail").resolve())
    env[OUTPOST_DEMO_HOST.name] = host
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


def _mail_via() -> str:
    """Which variable names the mail provider, as the banner says it."""
    return f"mail via {'MAIL_URL' if MAIL_URL.given(os.environ) else 'SMTP_URL'}"
