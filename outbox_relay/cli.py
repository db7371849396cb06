"""`outbox-relay`: the delivery daemon and the operator commands (dead, stats, stranded, purge)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

from outbox_relay import metrics
from outbox_relay.bootstrap import build_relay
from outbox_relay.daemon import Daemon
from outbox_relay.heartbeat import Heartbeat
from outbox_relay.operator.dispatch import dispatch
from outbox_relay.operator.parser import add_commands, is_operator_command, is_read_only
from outbox_relay.priority import yield_cpu
from outbox_relay.render import TemplateError
from shared.config import ConfigError, Settings
from shared.db import engine_for
from shared.keyring import KeysMismatch
from shared.logs import configure_logging

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="outbox-relay", description=__doc__)
    parser.add_argument(
        "--actor", help="who operator commands record in the audit (default: cli:<OS user>)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="deliver outbox messages until SIGTERM (systemd Type=notify)")
    add_commands(commands)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(
            _with_kept_secret(os.environ), require_secret=not is_read_only(args)
        )
        configure_logging()
    except ConfigError as exc:
        print(f"outbox-relay: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "run":
        return run(settings)
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
    if not env.get("SECRET_KEY") and kept.is_file():
        env["SECRET_KEY"] = kept.read_text().strip()
    return env


def _reader_gone() -> int:
    """The reader of stdout left (`… | head`): stop quietly, as a SIGPIPE would have."""
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that quiet too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def run(settings: Settings) -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT.

    The relay first lowers its CPU priority by RELAY_NICE: on a machine it shares with the API,
    a person signing up gets a little ahead of a message waiting for a core.
    """
    yield_cpu(settings.relay_nice)
    wake = threading.Event()
    try:
        relay = build_relay(
            settings, engine_for(settings), heartbeat=Heartbeat().beat, wake=wake.set
        )
    except TemplateError as exc:
        print(f"outbox-relay: template error: {exc}", file=sys.stderr)
        return 2
    try:
        metrics.serve(settings.relay_metrics_port, settings.relay_metrics_host)
    except metrics.MetricsPortInUse as exc:
        print(f"outbox-relay: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(relay, wake)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        daemon.stop()

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, on_signal)
    # Python runs a handler on the main thread, between two of its bytecodes. `stop` sets the
    # daemon's Events; had the handler interrupted the daemon's loop inside one of them, it
    # would wait forever for a lock its own thread holds. So the loop runs on a thread of its
    # own, and the main thread only waits for it (and re-raises what ended it). That thread,
    # and every thread it starts, blocks the signals: the kernel then delivers them to the
    # main thread, whose wait they interrupt; delivered to another, the handler would wait
    # for the main thread to wake by itself.
    with ThreadPoolExecutor(
        1,
        thread_name_prefix="daemon",
        initializer=signal.pthread_sigmask,
        initargs=(signal.SIG_BLOCK, STOP_SIGNALS),
    ) as runner:
        try:
            runner.submit(daemon.run).result()
        except KeysMismatch as exc:
            print(f"outbox-relay: configuration error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
