"""Production gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py 'api_service:create_app()'`.

Hashing a password (argon2id) is the heaviest part of a request, so one process per core, each
answering one request at a time, keeps every core busy without making requests queue for one.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile
from typing import Any

from shared.config import ConfigError, Settings

try:
    Settings.from_env(os.environ)
except ConfigError as exc:
    print(f"outpost-api: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

bind = os.environ.get("OUTPOST_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
# One thread a worker: a request is mostly CPU (hashing), so more threads than cores only make
# each request's transaction wait for a core (bench/latency.py: p50 11 ms with 1 thread, 13 ms
# with 2, 27 ms with 4, at 50 registrations a second); idle keep-alive connections cost no
# thread in the gthread worker.
threads = int(os.environ.get("OUTPOST_THREADS", "1"))
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 10000
max_requests_jitter = 1000
limit_request_line = 4094
limit_request_fields = 50
accesslog = "-"
errorlog = "-"
# No request bodies or query strings in the access log: only method, path and outcome.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
proc_name = "outpost-api"

# Each worker writes its metrics here and /metrics sums them; a fresh directory per start,
# removed at exit, so counters never mix with those of an earlier run.
_metrics_dir = tempfile.mkdtemp(prefix="outpost-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited."""
    # Imported only now: prometheus_client picks its storage when first imported, and must
    # see PROMETHEUS_MULTIPROC_DIR set by then.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove this run's metrics directory."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
