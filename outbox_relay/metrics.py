"""The relay's Prometheus metrics, served on RELAY_METRICS_HOST:RELAY_METRICS_PORT."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from shared.messaging.outbox import FAILED_ATTEMPTS as FAILED_ATTEMPTS_KINDS
from shared.messaging.outbox import DeadReason, Ending

# Imported for its registration: the relay's /metrics says which build runs.
from shared.runtime.build_info import BUILD_INFO  # noqa: F401

MESSAGES = Counter(
    "outpost_relay_messages",
    "Outcomes by channel (sent, retry, provider_down, permanent_error, max_attempts, expired, "
    "suppressed, withheld), whether or not the lease still held to record them.",
    ["channel", "outcome"],
)
DEAD = Counter(
    "outpost_relay_dead_messages",
    "Messages the relay recorded dead, by channel and reason (permanent_error, max_attempts, "
    "expired, suppressed).",
    ["channel", "reason"],
)
FAILED_ATTEMPTS = Counter(
    "outpost_relay_failed_attempts",
    "Attempts the relay recorded failed for the message, by channel and kind (transient, "
    "permanent); they count towards RELAY_MAX_ATTEMPTS.",
    ["channel", "kind"],
)
PROVIDER_DOWN_ATTEMPTS = Counter(
    "outpost_relay_provider_down_attempts",
    "Attempts the relay recorded as met by a provider that was down; never counted against "
    "a message.",
    ["channel"],
)
DELIVERY_SECONDS = Histogram(
    "outpost_relay_delivery_seconds",
    "Time a provider took to take or refuse a message.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PENDING = Gauge(
    "outpost_relay_pending_messages",
    "Messages not yet sent, dead or cancelled; NaN while the database does not answer.",
)
OLDEST_DUE_AGE = Gauge(
    "outpost_relay_oldest_due_age_seconds",
    "Age of the oldest message due now; 0 when none is, NaN while the database does not answer.",
)
PROVIDER_UP = Gauge(
    "outpost_provider_up",
    "1 while the relay uses the provider (smtp, smtp_fallback, sms, sms_fallback, webhook), "
    "0 while it is paused, by a relay on its own failure or by an operator.",
    ["provider"],
)
SUPPRESSED = Gauge(
    "outpost_suppressed_addresses",
    "Addresses on the suppression list, read every few seconds; NaN while the database does "
    "not answer.",
)
LISTENING = Gauge(
    "outpost_relay_listening",
    "1 while the relay LISTENs for new messages (one relay of a database does; the others stand "
    "by), 0 while it only polls.",
)
LAST_POLL = Gauge(
    "outpost_relay_last_successful_poll_timestamp_seconds", "When a poll last ran without error."
)
PAUSED_SECONDS = Gauge(
    "outpost_provider_paused_seconds",
    "How long the provider has been paused, by a relay on its own failure or by an operator; 0 "
    "while the relay uses it.",
    ["provider"],
)
FAILED_PROBES = Counter(
    "outpost_provider_failed_probes",
    "Probes of a paused provider that failed.",
    ["provider"],
)
DEAD_UNRESOLVED = Gauge(
    "outpost_dead_letters_unresolved",
    "Dead and bounced messages no operator has retried or discarded, read every few seconds; "
    "NaN while the database does not answer.",
)


M = TypeVar("M", bound=MetricWrapperBase)
_CHILDREN: dict[tuple[MetricWrapperBase, tuple[Hashable, ...]], MetricWrapperBase] = {}


def labelled(metric: M, *values: str) -> M:
    """`metric.labels(*values)`, looked up once: prometheus_client checks and converts the
    values and takes a lock at each call, and the relay counts every message."""
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return cast(M, child)


def known(channels: Iterable[str]) -> None:
    """Export every counter of these channels at 0 from the start, so that `rate()` and
    `increase()` see the first event after a restart (a series that appears at 1 has no
    earlier sample to grow from)."""
    for channel in channels:
        for ending in Ending:
            MESSAGES.labels(channel, ending.value)
        for reason in DeadReason:
            DEAD.labels(channel, reason.value)
        for kind in FAILED_ATTEMPTS_KINDS:
            FAILED_ATTEMPTS.labels(channel, kind)
        PROVIDER_DOWN_ATTEMPTS.labels(channel)
        DELIVERY_SECONDS.labels(channel)


_serving: list[tuple[str, int]] = []


def backlog_unknown() -> None:
    """Figures read from the database say NaN while it is away, rather than freeze."""
    for gauge in (PENDING, OLDEST_DUE_AGE, SUPPRESSED, DEAD_UNRESOLVED):
        gauge.set(math.nan)


class MetricsPortInUse(OSError):
    """The metrics port is taken (most often by a second relay on the same host)."""


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve /metrics on `host:port` from a daemon thread; port 0 means not at all.

    The relay's command starts it before the daemon, so that a taken port stops the relay with
    one line before it claims anything.
    """
    if not port or _serving:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise MetricsPortInUse(
            f"RELAY_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "another relay on this host? Give each its own port, or 0 for none"
        ) from None
    _serving.append((host, port))
