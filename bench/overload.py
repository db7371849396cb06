"""A burst shed, not queued: sign-ups through the shipped nginx site (which
sets X-Request-Start) to gunicorn and the relay, at 1, 2, 4 and 8 times the rate this machine
sustains, driven by Locust (open arrivals: each user registers once every PERIOD seconds
whatever the answers take). Prints, for each: the answers within 5 s, the p50 and p99 of
admitted sign-ups, the share shed (503 with Retry-After), and whether every 202's message was
written and sent.

Each figure twice where it can be: as Locust timed it, and as nginx did (its access log's
$request_time, from the request's first byte to its answer's last). Locust runs on the same
cores as the server, so its own waits are in its timings; nginx's are what a client on another
machine would see, less the network. Beside them, the CPU each part used over each run (from
/proc), and what a shed request costs gunicorn alone.

The sustainable rate is measured first: 32 users registering back to back for 10 s."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bench.common import aiosmtpd_sink, api_and_relay, command, machine, postgres_database
from bench.cpu import TICKS_PER_SECOND, cpu_ticks, tree_ticks
from bench.cpu import processes as processes_now
from shared.database.db import create_engine_for
from shared.database.models import outbox
from support import nginx, processes
from support.ports import free_port
from support.smtp_stages import SmtpCA

LOCUSTFILE = Path(__file__).with_name("overload_locustfile.py")
# Seconds between two sign-ups of one user: longer than an admitted one takes (the queue timeout
# and the hash), so that arrivals do not wait for answers.
PERIOD = 8


def locust(
    host: str,
    ca: Path,
    users: int,
    seconds: int,
    log: Path,
    args: argparse.Namespace,
    *,
    closed: bool = False,
) -> int:
    """Locust, headless, in `args.processes` worker processes at niceness `args.nice`, `users`
    users for `seconds`: spawned and connected over one PERIOD, they start signing up one more
    PERIOD later, at once (a burst); or all at once, back to back, when `closed`. The CPU ticks
    it used, read from /proc while it runs: its worker processes outlive what its master
    reaps."""
    spawn = users if closed else max(1, round(users / PERIOD))
    start = 0.0 if closed else time.time() + 2 * PERIOD
    seconds += 0 if closed else 2 * PERIOD
    command = [
        *("nice", "-n", str(args.nice), sys.executable, "-m", "locust"),
        *("-f", str(LOCUSTFILE), "--headless", "--processes", str(args.processes)),
        *("-u", str(users), "-r", str(spawn), "-t", f"{seconds}s"),
        *("--host", host, "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "30"),
    ]
    env = {
        **os.environ,
        "OVERLOAD_LOG": str(log),
        "OVERLOAD_CA": str(ca),
        "OVERLOAD_PERIOD": str(PERIOD),
        "OVERLOAD_START": str(start),
        **({"OVERLOAD_CLOSED": "1"} if closed else {}),
    }
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    used = 0
    while run.poll() is None:
        used = max(used, tree_ticks(run.pid))
        time.sleep(0.2)
    return used


def answers(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="each rate's run")
    parser.add_argument("--multiples", default="1,2,4,8")
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count(),
        help="Locust's worker processes (default: one a core)",
    )
    parser.add_argument("--nice", type=int, default=0, help="Locust's niceness")
    args = parser.parse_args()
    print(machine())
    prefix = Path(tempfile.mkdtemp(prefix="outpost-overload-"))
    with postgres_database("overload") as url, aiosmtpd_sink() as smtp_port:
        settings = {"IP_RATE_LIMIT": "100000000", "API_QUEUE_TIMEOUT": "3"}
        with api_and_relay(url, f"smtp://127.0.0.1:{smtp_port}", **settings) as api_port:
            https = free_port()
            ca = SmtpCA.make()
            conf = nginx.configure(prefix, http=free_port(), https=https, api=api_port, ca=ca)
            ca.ca.cert_pem.write_to_path(str(prefix / "ca.pem"))
            server = nginx.start(conf)
            try:
                processes.eventually(lambda: processes.listening(https), 15, "nginx listening")
                host = f"https://localhost:{https}"
                gunicorn = next(
                    pid
                    for pid, process in processes_now().items()
                    if process.parent == os.getpid() and "gunicorn" in process.command
                )
                run(host, prefix, url, (gunicorn, server.pid, postmaster(url)), args)
                shed_cost(api_port, gunicorn)
            finally:
                processes.stop(server, signal.SIGQUIT)
    shutil.rmtree(prefix, ignore_errors=True)
    print(command("bench.overload"))


def served(access_log: Path, offset: int) -> list[tuple[int, float]]:
    """The sign-ups nginx logged after `offset` bytes of its access log (support.nginx's
    LOG_FORMAT): each one's status and the seconds nginx took to answer it."""
    found = []
    with access_log.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode().splitlines():
            _, status, seconds, _, method, path = line.split()
            if method == "POST" and path == "/v1/registrations":
                found.append((int(status), float(seconds)))
    return found


def usage(gunicorn: int, server: int, postmaster: int) -> Counter[str]:
    """CPU ticks used so far by each part: gunicorn, nginx and PostgreSQL (each process tree,
    processes that ended included; PostgreSQL's is the whole server, shared with whatever else
    runs on the machine), the relay, and the machine's cores (busy and in all)."""
    cores = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return Counter(
        {
            "gunicorn": tree_ticks(gunicorn),
            "nginx": tree_ticks(server),
            "PostgreSQL": tree_ticks(postmaster),
            "relay": cpu_ticks(own=True)["relay"],
            # /proc/stat counts in USER_HZ, as /proc/PID/stat does: idle and iowait are fields 4, 5.
            "busy": sum(cores) - cores[3] - cores[4],
            "cores": sum(cores),
            "listen overflows": listen_overflows(),
        }
    )


def postmaster(url: str) -> int:
    """PostgreSQL's main process: the parent of the backend serving a connection to `url`."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            return processes_now()[backend].parent
    finally:
        engine.dispose()


def listen_overflows() -> int:
    """Connections the kernel refused so far because a listening socket's queue was full (on
    the machine): each one a SYN nginx sends again, a second later, then three."""
    names, values = (
        line.split()
        for line in Path("/proc/net/netstat").read_text().splitlines()
        if line.startswith("TcpExt:")
    )
    return int(values[names.index("ListenOverflows")])


def percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


def run(
    host: str, prefix: Path, url: str, pids: tuple[int, int, int], args: argparse.Namespace
) -> None:
    """The sustainable rate, then each multiple of it; the tables, then the deliveries' check."""
    ca, access_log = prefix / "ca.pem", prefix / "logs" / "access.log"
    warm = prefix / "closed.jsonl"
    locust(host, ca, 32, 10, warm, args, closed=True)
    done = [a for a in answers(warm) if a["status"] == 202]
    rate = len(done) / 10
    print(f"sustained: {rate:.0f} sign-ups a second (32 users back to back for 10 s)")
    print(
        "| load | offered | answers | within 5 s: Locust / nginx | admitted p50 | admitted p99: "
        "Locust / nginx | shed (503) | nginx 504 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    admitted: list[str] = [str(a["delivery"]) for a in done]
    spent: list[tuple[int, int, Counter[str]]] = []
    for multiple in [int(m) for m in args.multiples.split(",")]:
        users = max(1, round(rate * multiple * PERIOD))
        log = prefix / f"x{multiple}.jsonl"
        offset, before = access_log.stat().st_size, usage(*pids)
        generator = locust(host, ca, users, args.seconds, log, args)
        time.sleep(5)  # the queue drains, and the relay sends, before the next run
        got, at_nginx = answers(log), served(access_log, offset)
        spent.append((multiple, len(got), usage(*pids) - before + Counter(Locust=generator)))
        ok = [a for a in got if a["status"] == 202]
        shed = [a for a in got if a["status"] == 503]
        other = len(got) - len(ok) - len(shed)
        # 504: nginx gave up on gunicorn (proxy_read_timeout) for a request still queued.
        gateway = sum(1 for a in got if a["status"] == 504)
        assert other == gateway, f"{other - gateway} answers neither 202, 503 nor 504"
        assert all(a["retry_after"] for a in shed), "a 503 without Retry-After"
        within = sum(1 for a in got if float(a["seconds"]) <= 5.0) / len(got)
        within_nginx = sum(1 for _, t in at_nginx if t <= 5.0) / len(at_nginx)
        times = sorted(float(a["seconds"]) for a in ok)
        p99_nginx = percentile([t for status, t in at_nginx if status == 202], 0.99)
        print(
            f"| {multiple}x | {users / PERIOD:.0f}/s | {len(got)} | {within:.1%} / "
            f"{within_nginx:.1%} | {percentile(times, 0.5) * 1000:.0f} ms "
            f"| {percentile(times, 0.99) * 1000:.0f} / {p99_nginx * 1000:.0f} ms "
            f"| {len(shed) / len(got):.1%} | {gateway} |"
        )
        admitted += [str(a["delivery"]) for a in ok]
    print_usage(spent)
    check_delivered(url, admitted)


def print_usage(spent: list[tuple[int, int, Counter[str]]]) -> None:
    """The CPU seconds each part used over each run (its 5 s drain included), and the share of
    the machine's cores that were busy."""
    parts = ("gunicorn", "nginx", "Locust", "PostgreSQL", "relay")
    print(f"| load | CPU s: {' | '.join(parts)} | gunicorn a request | cores busy | overflows |")
    print("|---|" + "---|" * (len(parts) + 3))
    for multiple, count, ticks in spent:
        seconds = " | ".join(f"{ticks[part] / TICKS_PER_SECOND:.1f}" for part in parts)
        each = ticks["gunicorn"] / TICKS_PER_SECOND / count * 1000
        busy = ticks["busy"] / ticks["cores"]
        overflows = ticks["listen overflows"]
        print(f"| {multiple}x | {seconds} | {each:.2f} ms | {busy:.0%} | {overflows} |")


def shed_cost(api: int, gunicorn: int, count: int = 2000) -> None:
    """gunicorn's CPU a shed request, alone: `count` sign-ups straight to it, one at a time, each
    naming a request start long past."""
    body = json.dumps({"email": "shed@example.com", "password": "correct horse battery"})
    headers = {"Content-Type": "application/json", "X-Request-Start": "t=1"}
    before = tree_ticks(gunicorn)
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", api)
        connection.request("POST", "/v1/registrations", body, headers)
        assert connection.getresponse().status == 503
        connection.close()
    each = (tree_ticks(gunicorn) - before) / TICKS_PER_SECOND / count * 1000
    print(f"gunicorn's CPU a shed request, {count} alone: {each:.2f} ms")


def check_delivered(url: str, ids: list[str]) -> None:
    """Every 202's message written, and sent by the relay: nothing acknowledged is lost."""
    engine = create_engine_for(url)
    deadline = time.monotonic() + 300
    try:
        while True:
            with engine.connect() as connection:
                rows = dict(connection.execute(select(outbox.c.public_id, outbox.c.status)).all())
            missing = [i for i in ids if i not in rows]
            unsent = [i for i in ids if rows.get(i) != "sent"]
            if not unsent or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        engine.dispose()
    print(f"acknowledged: {len(ids)}; their rows missing: {len(missing)}; not sent: {len(unsent)}")


if __name__ == "__main__":
    main()
