"""Production gunicorn settings, packaged: `outpost serve` runs
`gunicorn -c python:outpost.gunicorn_conf 'api_service:create_app()'`.

Hashing a password (argon2id) is most of a registration, so the API is CPU-bound: sync workers,
one per core by default, each taking a connection only when it is free. The kernel then hands
each new request to an idle worker. (gthread workers accept connections while busy and keep
them alive, so two clients could queue on one worker while another core sat idle:
docs/decisions/0002-sync-gunicorn-workers.md.) Like any sync worker, it
belongs behind a buffering proxy on the open internet: the shipped nginx site is one
(`outpost deploy-files`).

A module of the `outpost` package, not of `api_service`: importing api_service loads
prometheus_client, which must first see PROMETHEUS_MULTIPROC_DIR, set below.
"""

import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

from gunicorn import systemd

from outpost.serve import read_at_start
from shared.database import keyring
from shared.database.db import engine_for
from shared.runtime import tracing
from shared.runtime.logs import JsonFormatter
from shared.runtime.version import version
from shared.settings.joint_rules import ConfigError

try:
    _serve, _settings = read_at_start(os.environ)
    # Keys that cannot open what the API seals, and a database that refuses the role, its
    # password or the database name, stop the API here, in one line.
    keyring.admit_at_start(engine_for(_settings), _settings, stop_for_good=True)
except ConfigError as exc:
    print(f"outpost-api: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

bind = _serve.bind
workers = _serve.workers
worker_class = "sync"
# The application is loaded once, in the arbiter, and each worker forked from it: a worker
# starts (and, after max_requests, starts again) without importing the API, and the workers
# share the arbiter's memory (docs/decisions/0040-workers-forked-from-a-loaded-api.md). An
# upgrade reloads the unit: a new arbiter loads the code on disk (when_ready below).
preload_app = True
timeout = 30
# A burst waits here to be shed (API_QUEUE_TIMEOUT), so the queue must hold that many seconds of
# arrivals: gunicorn's default 2048 overflowed in a burst, and the kernel then drops
# connections, which nginx retries 1 and 3 s later (docs/decisions/0021-a-burst-shed-not-queued.md).
# The kernel caps it at net.core.somaxconn (4096 on Debian 12).
backlog = 4096
graceful_timeout = 20
max_requests = 10000
max_requests_jitter = 1000
limit_request_line = 4094
limit_request_fields = 50
accesslog = "-"
errorlog = "-"
# No request bodies or query strings in the access log: only method, path and outcome.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
loglevel = _serve.log_level.lower()
# gunicorn's own lines (its error log and the access log) as the API's are: JSON on stderr, at
# LOG_LEVEL. The API's create_app() then finds logging configured and keeps it.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": _serve.log_level, "handlers": ["stderr"]},
    "loggers": {
        name: {"level": _serve.log_level, "handlers": [], "propagate": True}
        for name in ("gunicorn.error", "gunicorn.access")
    },
}
proc_name = "outpost-api"
# gunicorn 25.1+ opens a control socket (gunicornc) at $XDG_RUNTIME_DIR/gunicorn.ctl, else
# ~/.gunicorn/gunicorn.ctl: one path for every instance of a user, so a second instance takes
# the first's. systemctl reload/stop (signals) is how the API is driven: none.
control_socket_disable = True

# Each worker writes its metrics here and /metrics sums them; a fresh directory per start,
# removed at exit, so counters never mix with those of an earlier run.
_metrics_dir = tempfile.mkdtemp(prefix="outpost-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server: Any) -> None:
    """Have a reload execute the arbiter again as `outpost serve` started it, `python -m
    gunicorn`: gunicorn would run its own `gunicorn/__main__.py` as a script, which puts its
    directory first on the path, where its `http` package hides the standard library's."""
    server.START_CTX["args"] = [sys.executable, "-m", "gunicorn", *sys.argv[1:]]


def when_ready(server: Any) -> None:
    """Say the API is ready once it can serve (loaded, its sockets bound: gunicorn sends
    READY=1 just before; a bind that fails exits before this); an arbiter started by a reload
    then takes over from the one it replaces.

    `systemctl reload outpost-api` sends SIGUSR2, gunicorn's upgrade on the fly: the arbiter
    executes itself again, so the new one loads the code now on disk (a SIGHUP forks new
    workers from the API loaded at start: the same code), and inherits the listening socket,
    so no connection is refused. Once it is ready it tells systemd it is the unit's main
    process and stops the old arbiter, whose workers finish their requests (graceful_timeout).
    A new arbiter that fails to start leaves the old one serving.
    """
    logging.getLogger("api_service").info("api ready", extra={"version": version()})
    replaced = int(os.environ.get("GUNICORN_PID", "0"))
    if replaced:
        systemd.sd_notify(f"MAINPID={os.getpid()}", server.log)
        os.kill(replaced, signal.SIGTERM)


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited."""
    # Imported only now: prometheus_client picks its storage when first imported, and must
    # see PROMETHEUS_MULTIPROC_DIR set by then.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def pre_fork(server: Any, worker: Any) -> None:
    """Leave the loaded application out of the collector's reach before a worker is forked
    from it: a collection in the worker (at its exit above all) would otherwise touch every
    object it shares with the arbiter, copying their pages (the gc module's advice for a
    process that forks without exec)."""
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """Start the worker's traces when OTEL_EXPORTER_OTLP_ENDPOINT is set: after the fork, as
    the exporter's thread does not survive one."""
    tracing.start("outpost-api", os.environ)


def worker_exit(server: Any, worker: Any) -> None:
    """Export the worker's last spans before it exits."""
    tracing.stop()


def on_exit(server: Any) -> None:
    """Remove this run's metrics directory."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
