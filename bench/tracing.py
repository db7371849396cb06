"""What traces cost: registrations and the relay's CPU a message with traces off and on, side
by side in one run; and the hooks' own cost while off.

Run from the repository root: `.venv/bin/python -m bench.tracing [--rounds N] [--each N]`.

Four stacks run at once, each gunicorn and `outbox-relay run` on a PostgreSQL database of its
own, delivering to an SMTP server of its own that answers at once:

- off: OTEL_EXPORTER_OTLP_ENDPOINT unset, as Outpost ships;
- off, twin: the same again, whose distance from the first is the run's noise;
- on: traces exported to an OTLP/HTTP receiver (support/otlp_receiver.py, a thread of this
  bench), every span sampled (the SDK's default);
- sampled out: traces on, OTEL_TRACES_SAMPLER=always_off: the SDK loaded, nothing exported.

Each round registers N accounts one at a time on each stack in turn (every request carrying a
client's `traceparent`), so that a machine whose speed drifts weighs on all alike; then waits
until each has sent every mail and its spans have left (OTEL_BSP_SCHEDULE_DELAY), and reads the
CPU time of its gunicorn (master and workers) and of its relay from /proc. Printed: the answer
times (p50, p95), the API's and the relay's CPU a registration, each against off's.

The hooks' cost while off, in-process: what a registration and a message run of tracing when
it is off (the hooks' global test, the row's params copied without a key, the hash's statements
run in the request's context), timed alone, in microseconds, against the figures above.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import copy_context
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from bench.common import client_address, command, machine, pending, postgres_database, sink_process
from bench.cpu import TICKS_PER_SECOND, tree_ticks
from outbox_relay import send_spans
from outbox_relay.claims import Claimed
from outbox_relay.precedence import Ticket
from shared.database.db import create_engine_for
from shared.runtime import tracing
from support import processes
from support.otlp_receiver import OtlpReceiver
from support.ports import free_port

PASSWORD = "correct horse battery staple"
# How soon a process sends its spans; the bench waits this long and more after each load.
SCHEDULE_MS = 500


@dataclass
class Stack:
    """One configuration's gunicorn and relay, and what was measured of it."""

    name: str
    port: int
    api_pid: int
    relay_pid: int
    delivered: Callable[[], bool]
    answers: list[float] = field(default_factory=list)
    api_ticks: int = 0
    relay_ticks: int = 0

    def percentile(self, p: float) -> float:
        """The p-th percentile answer time, in milliseconds."""
        ordered = sorted(self.answers)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def cpu_ms(self, ticks: int) -> float:
        """CPU ticks a registration, in milliseconds."""
        return ticks / TICKS_PER_SECOND / len(self.answers) * 1000


CONFIGURATIONS: dict[str, Callable[[str], dict[str, str]]] = {
    "off": lambda endpoint: {},
    "off, twin": lambda endpoint: {},
    "on": lambda endpoint: {tracing.ENDPOINT: endpoint},
    "sampled out": lambda endpoint: {
        tracing.ENDPOINT: endpoint,
        "OTEL_TRACES_SAMPLER": "always_off",
    },
}


@contextmanager
def stack(name: str, settings: dict[str, str]) -> Iterator[Stack]:
    """gunicorn and the relay on a database and an SMTP server of their own."""
    workdir = Path(tempfile.mkdtemp(prefix="outpost-bench-tracing-"))
    with sink_process() as smtp_port, postgres_database("outpost_tracing") as url:
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": uuid.uuid4().hex,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "TRUSTED_PROXIES": "1",
            "RELAY_METRICS_PORT": "0",
            "OTEL_BSP_SCHEDULE_DELAY": str(SCHEDULE_MS),
            **settings,
        }
        engine = create_engine_for(url)
        port = free_port()
        api = processes.gunicorn(env, port, workdir)
        relay = processes.relay(env, workdir)
        try:
            processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
            log = workdir / "relay.log"
            processes.eventually(
                lambda: "listening for new messages" in log.read_text(), 90, "relay listening"
            )
            yield Stack(name, port, api.pid, relay.pid, lambda: pending(engine) == 0)
        finally:
            processes.stop(relay)
            processes.stop(api)
            engine.dispose()


def register(stack: Stack, count: int) -> None:
    """Register `count` accounts one at a time, each request carrying a client's traceparent;
    wait for their mails and spans, and add the CPU the API and the relay used meanwhile."""
    api, relay = tree_ticks(stack.api_pid), tree_ticks(stack.relay_pid)
    for _ in range(count):
        traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        answer = processes.post(
            f"http://127.0.0.1:{stack.port}/v1/registrations",
            {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD},
            {"traceparent": traceparent, "X-Forwarded-For": client_address()},
        )
        assert answer.status == 202, answer
        stack.answers.append(answer.seconds)
    processes.eventually(stack.delivered, 60, f"{stack.name}: every mail sent")
    time.sleep(SCHEDULE_MS / 1000 * 2)
    stack.api_ticks += tree_ticks(stack.api_pid) - api
    stack.relay_ticks += tree_ticks(stack.relay_pid) - relay


def _ratio(value: float, base: float) -> str:
    """`value` as a multiple of `base`; a run too short for a clock tick has none."""
    return f"{value / base:.2f}x" if base else "n/a"


def _share(part: float, whole: float) -> str:
    """`part` as a percentage of `whole`; a run too short for a clock tick has none."""
    return f"{part / whole * 100:.4f} %" if whole else "n/a"


def _nothing(*_: object) -> None:
    """A call that does nothing: what a hook wraps, timed alone."""


def hooks_off() -> dict[str, float]:
    """Microseconds each hook takes with traces off (best of 5 runs of 100,000 calls)."""
    params = {"name": "Ada", "code_ttl_minutes": 15}
    wrapped = send_spans.traced(_nothing)
    row = cast(Claimed, None)  # with traces off, the wrapper never reads its row, nor its ticket
    ticket = cast(Ticket, None)
    calls: dict[str, Callable[[], object]] = {
        "kept(params): a row written": lambda: tracing.kept(params),
        "copy_context().run: the hash's statements": lambda: copy_context().run(_nothing),
        "the delivery's wrapper, beyond the call": lambda: wrapped(None, row, False, ticket),
        "the bare call, taken off the wrapper's": lambda: _nothing(None, None, False, None),
        "provider(name): a delivery's provider": lambda: send_spans.provider("smtp"),
        "untraced(params): a message composed": lambda: tracing.untraced(params),
        "dict(params), what untraced replaced": lambda: dict(params),
    }
    return {
        name: min(timeit.repeat(call, number=100_000, repeat=5)) / 100_000 * 1e6
        for name, call in calls.items()
    }


def main() -> int:
    """Load the stacks in turn, round after round; print their figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--each", type=int, default=30, help="registrations a stack a round")
    args = parser.parse_args()
    receiver = OtlpReceiver()
    receiver.start()
    with ExitStack() as stacks:
        loaded = [
            stacks.enter_context(stack(name, settings(receiver.endpoint)))
            for name, settings in CONFIGURATIONS.items()
        ]
        for warm in loaded:
            register(warm, 3)
            warm.answers.clear()
            warm.api_ticks = warm.relay_ticks = 0
        for _ in range(args.rounds):
            for each in loaded:
                register(each, args.each)
    receiver.stop()
    report(loaded, receiver, args)
    return 0


def report(loaded: list[Stack], receiver: OtlpReceiver, args: argparse.Namespace) -> None:
    """Print the figures, each against off's, then the hooks' cost while off."""
    print(machine())
    print(f"{args.rounds} rounds of {args.each} registrations a stack, one at a time")
    off = loaded[0]
    header = f"{'traces':<12} {'p50 ms':>7} {'p95 ms':>7} {'API CPU ms':>11} {'relay CPU ms':>13}"
    print(header)
    for each in loaded:
        api, relay = each.cpu_ms(each.api_ticks), each.cpu_ms(each.relay_ticks)
        print(
            f"{each.name:<12} {each.percentile(50):>7.1f} {each.percentile(95):>7.1f} "
            f"{api:>6.2f} ({_ratio(api, off.cpu_ms(off.api_ticks))}) "
            f"{relay:>7.2f} ({_ratio(relay, off.cpu_ms(off.relay_ticks))})"
        )
    spans = receiver.spans
    services = sorted({s.service for s in spans})
    print(f"spans received: {len(spans)} ({', '.join(services)}), in {receiver.exports} exports")
    print("the hooks with traces off (µs a call, each alone):")
    hooks = hooks_off()
    for name, micros in hooks.items():
        print(f"  {name}: {micros:.3f}")
    kept, context, wrapper, bare, provider, untraced, copied = hooks.values()
    registration = kept + context
    message = wrapper - bare + provider + untraced - copied
    p50 = statistics.median(off.answers) * 1e6
    relay = off.cpu_ms(off.relay_ticks) * 1000
    print(
        f"  a registration: {registration:.2f} µs ({_share(registration, p50)} of off's p50); "
        f"a message: {message:.2f} µs ({_share(message, relay)} of off's relay CPU)"
    )
    print(command("bench.tracing"))


if __name__ == "__main__":
    sys.exit(main())
