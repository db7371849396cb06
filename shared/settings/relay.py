"""The relay's variables: how it polls, claims, sends, retries and reports."""

from __future__ import annotations

from shared.settings import config_values as values
from shared.settings.variable import Group, Variable

RELAY = Group(
    "The relay",
    "How `outbox-relay run` polls, claims, sends, retries and reports "
    "([delivery](delivery.md), [sizing](providers.md#sizing-relay_concurrency)).",
)
# Senders of a relay by default: enough for a provider that takes 100 to 300 ms a message to
# be handed 100 to 300 messages a second (README, "Sizing the relay").
DEFAULT_CONCURRENCY = 32

RELAY_POLL_INTERVAL = Variable(
    name="RELAY_POLL_INTERVAL",
    group=RELAY,
    meaning=(
        "Seconds between polls for due rows: the fallback of `LISTEN` on PostgreSQL, the only "
        "wake-up on SQLite."
    ),
    parse=values.positive(float),
    default="1.0",
    checks="seconds, more than 0",
)
RELAY_BATCH_SIZE = Variable(
    name="RELAY_BATCH_SIZE",
    group=RELAY,
    meaning="Most rows a relay holds claimed and not yet written: what a crash may send again.",
    parse=values.positive(int),
    default="100",
    checks="a whole number more than 0",
)
RELAY_CONCURRENCY = Variable(
    name="RELAY_CONCURRENCY",
    group=RELAY,
    meaning=(
        "Parallel senders, each with its own connection: the default serves a provider taking "
        "100 to 300 ms a message ([sizing](providers.md#sizing-relay_concurrency)). A polite "
        "sender opens one session to a provider first, and more only as it accepts messages."
    ),
    parse=values.positive(int),
    default=str(DEFAULT_CONCURRENCY),
    checks="a whole number more than 0",
)
RELAY_LEASE_SECONDS = Variable(
    name="RELAY_LEASE_SECONDS",
    group=RELAY,
    meaning="The lease of a claimed row: past it, another relay may claim the row again.",
    parse=values.positive(int),
    default="60",
    checks=(
        "seconds, more than the longest send by more than 1 s: a send tries one provider, and "
        "takes at most its SMTP timeout (the whole session is cut there), or three times 10 s "
        "for an SMS gateway or webhook endpoint (connecting, writing and reading are each "
        "bounded)"
    ),
)
RELAY_MAX_ATTEMPTS = Variable(
    name="RELAY_MAX_ATTEMPTS",
    group=RELAY,
    meaning=("A safety cap on a message's transient failures; provider-down failures never count."),
    parse=values.count,
    default="0",
    shown=(
        "unset (or 0): 3 times the longest horizon over `RELAY_BACKOFF_CAP`, rounded up, plus "
        "10, so that no outage shorter than the horizon reaches it"
    ),
    checks="0 or more",
)
RELAY_BACKOFF_BASE = Variable(
    name="RELAY_BACKOFF_BASE",
    group=RELAY,
    meaning=(
        "The first retry delay, seconds: the n-th retry waits a time drawn uniformly in "
        "[0, min(cap, base·2ⁿ⁻¹)] (full jitter); a paused provider's probes wait [c, 2c], "
        "c = min(60, base·2ⁿ⁻¹)."
    ),
    parse=values.positive(float),
    default="2.0",
    checks="seconds, more than 0",
)
RELAY_BACKOFF_CAP = Variable(
    name="RELAY_BACKOFF_CAP",
    group=RELAY,
    meaning="The cap of the exponential backoff, seconds.",
    parse=values.positive(float),
    default="3600",
    checks="seconds, more than 0",
)
RELAY_DEFERRAL_FLOOR = Variable(
    name="RELAY_DEFERRAL_FLOOR",
    group=RELAY,
    meaning=(
        "The soonest a message a server deferred at RCPT or DATA (a `4xx`: a greylister's "
        "`450 4.7.1`) is tried again, seconds: a greylister lets a retry through only after its "
        "delay, and some restart the delay on an early one. Set it to your provider's delay if "
        "it is longer."
    ),
    parse=values.positive(float),
    default="60",
    checks="seconds, more than 0",
)
RELAY_STOP_SECONDS = Variable(
    name="RELAY_STOP_SECONDS",
    group=RELAY,
    meaning=(
        "How long a stopping relay waits for its sends in flight, seconds. A send still waiting "
        "then for the reply to the end of DATA (which RFC 5321 allows 10 minutes) is broken off "
        "and recorded as an unknown outcome, retried no sooner than an hour later, so that the "
        "relay exits before systemd's `TimeoutStopSec` (90 s in the shipped unit) kills it."
    ),
    parse=values.positive(float),
    default="60",
    checks="seconds, more than 0",
)
RELAY_NICE = Variable(
    name="RELAY_NICE",
    group=RELAY,
    meaning=(
        "Added to the relay's niceness at start: on a machine shared with the API, sign-ups get "
        "a little more of the cores; higher values favour sign-ups further at a steep cost in "
        "delivery time ([figures](../README.md#figures))."
    ),
    parse=values.niceness,
    default="2",
    checks="0 to 19",
)
RELAY_METRICS_PORT = Variable(
    name="RELAY_METRICS_PORT",
    group=RELAY,
    meaning=(
        "The port of the relay's Prometheus `/metrics`; `0` serves none. A port in use (two "
        "relays on one host) stops the relay with one line."
    ),
    parse=values.port,
    default="9109",
    checks="0 to 65535",
)
RELAY_METRICS_HOST = Variable(
    name="RELAY_METRICS_HOST",
    group=RELAY,
    meaning="The address the relay's `/metrics` listens on (`0.0.0.0` for every interface).",
    parse=values.host,
    default="127.0.0.1",
    checks="a host name or an IP address, without spaces",
)
PROVIDER_DOWN_AFTER = Variable(
    name="PROVIDER_DOWN_AFTER",
    group=RELAY,
    meaning=(
        "Seconds a provider stays paused (by a relay or by an operator) before the application "
        "hears `provider.down` at `WEBHOOK_URL`, and then `provider.up` once it is back: once "
        "each, whatever the number of relays."
    ),
    parse=values.positive(float),
    default="300",
    checks="seconds, more than 0",
)

CODE_FALLBACK_AFTER = Variable(
    name="CODE_FALLBACK_AFTER",
    group=RELAY,
    meaning=(
        "Seconds after which a code (activation, password reset, sign-in) still waiting on an "
        "unavailable provider, or at once when its address refused it (at the send, or in a "
        "bounce reported later), is sent again with a new code on the account's other channel "
        "(the phone given at registration for a mailed activation code), under every budget "
        "and the proof-of-address rules; the first code stays valid. Give the API the same "
        "value: it writes the fallback of a bounce posted to it ([delivery](delivery.md))."
    ),
    parse=values.optional_positive,
    shown="unset: no fallback",
    checks="seconds, a whole number more than 0",
)
