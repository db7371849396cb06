"""`outbox-relay`: the delivery daemon, the intake of reports by mail (bounce), and the operator
commands (dead, stats, stranded, purge)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from outbox_relay.operator.dispatch import dispatch
from outbox_relay.operator.parser import add_commands, is_operator_command, is_read_only
from shared.runtime import tracing
from shared.runtime.logs import configure_logging
from shared.runtime.version import version
from shared.settings import env_file
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError, require_database_url
from shared.settings.keys import SECRET_KEY


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    argv = env_file.apply(argv, "outbox-relay")
    parser = argparse.ArgumentParser(prog="outbox-relay", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    env_file.describe(parser)
    parser.add_argument(
        "--actor", help="who operator commands record in the audit (default: cli:<OS user>)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="deliver outbox messages until SIGTERM (systemd Type=notify)")
    intake = commands.add_parser(
        "bounce",
        help="read one report by mail on stdin (an MTA's pipe): exit 0 read, 75 database away, "
        "65 not a mail",
    )
    intake.add_argument("--recipient", help="the address it came to (default: its Delivered-To)")
    add_commands(commands)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            require_database_url(os.environ)
            tracing.require(os.environ)
        settings = Settings.from_env(
            _with_kept_secret(os.environ), require_secret=not is_read_only(args)
        )
        configure_logging()
    except ConfigError as exc:
        print(f"outbox-relay: configuration error: {exc}", file=sys.stderr)
        # An MTA keeps a report it could not hand over for a configuration to be mended.
        return os.EX_CONFIG if args.command == "bounce" else 2
    if args.command == "run":
        # The daemon's machinery (channels, HTTP clients, metrics) loads for `run` only: an
        # operator command starts without it (docs/decisions/0032-commands-load-what-they-use.md).
        from outbox_relay.foreground import run

        tracing.start("outbox-relay", os.environ)
        try:
            return run(settings)
        finally:
            tracing.stop()
    if args.command == "bounce":
        from outbox_relay.bounce import bounce

        return bounce(settings, sys.stdin.buffer, args.recipient)
    if is_operator_command(args):
        try:
            return dispatch(args, settings)
        except BrokenPipeError:
            return _reader_gone()
    return 2


def _with_kept_secret(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment, with the SECRET_KEY `outpost up` keeps in ./var/ when none is set.

    The spec's operator commands "run beside" the demo stack: they use its key as it does.
    """
    env = dict(environ)
    kept = Path("var") / "secret_key"
    if not SECRET_KEY.given(env) and kept.is_file():
        env[SECRET_KEY.name] = kept.read_text().strip()
    return env


def _reader_gone() -> int:
    """The reader of stdout left (`… | head`): stop quietly, as a SIGPIPE would have."""
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that quiet too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
