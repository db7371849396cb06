"""OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a process's set-up
and flush, and the W3C trace context an outbox row keeps in its params.

Unset, nothing of OpenTelemetry is imported and every hook costs one test of a module global:
the SDK and its exporter load with `start`, from shared/runtime/tracing_sdk.py.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.settings.variable import ConfigError

if TYPE_CHECKING:
    from shared.runtime.tracing_sdk import Tracing

log = logging.getLogger(__name__)

# The standard variable that turns traces on; the SDK reads it (and every other OTEL_*) itself.
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
# Where a row's params keep the trace context of the request that wrote it: a `traceparent`,
# and a `tracestate` if the request had one. Never baggage, which may carry what a client says
# of its users; never shown to a client or rendered in a message (`untraced`).
KEY = "trace_context"
# W3C Trace Context's bounds on a `tracestate` a client sends: past either, it is dropped whole,
# so that a row keeps no more of a client's header than W3C lets it send (the red team's 6.7 KB
# went into every row its request wrote, and every span after).
TRACESTATE_CHARACTERS = 512
TRACESTATE_MEMBERS = 32
# What the SDK and its OTLP/HTTP exporter are installed with.
EXTRA = "outpost[traces]"
_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")

_tracing: Tracing | None = None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint is set."""
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())


def require(environ: Mapping[str, str]) -> None:
    """Raise ConfigError, in one line naming the extra, when traces are asked for and the
    OpenTelemetry packages are missing: checked at start, before any request or message."""
    if wanted(environ) and not all(_installed(module) for module in _MODULES):
        raise ConfigError(
            f"{ENDPOINT} is set but OpenTelemetry is not installed: "
            f"pip install '{EXTRA}' (or unset {ENDPOINT})"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def start(service: str, environ: Mapping[str, str]) -> None:
    """Export this process's spans over OTLP/HTTP as `service` (unless OTEL_SERVICE_NAME names
    another), when the environment asks for traces; else nothing, and nothing is imported."""
    global _tracing
    if _tracing is not None or not wanted(environ):
        return
    require(environ)
    from shared.runtime.tracing_sdk import Tracing

    _tracing = Tracing(service)
    # Not the endpoint: a URL may carry credentials.
    log.info("traces exported over OTLP", extra={"service": _tracing.service})


def stop() -> None:
    """Export the spans still buffered, then stop exporting: at a process's exit."""
    global _tracing
    if _tracing is not None:
        _tracing.shutdown()
        _tracing = None


def active() -> Tracing | None:
    """This process's tracing, None while it is off."""
    return _tracing


def continued(header: Callable[[str], str | None]) -> dict[str, str]:
    """The W3C trace context a request's headers carry (`header` reads one by name): its
    `traceparent`, and its `tracestate` within W3C's bounds; never `baggage`."""
    parent = header("traceparent")
    if not parent:
        return {}
    context = {"traceparent": parent}
    state = header("tracestate")
    if state and len(state) <= TRACESTATE_CHARACTERS:
        members = [member for member in state.split(",") if member.strip(" \t")]
        if len(members) <= TRACESTATE_MEMBERS:
            context["tracestate"] = state
    return context


def kept(params: dict[str, Any]) -> dict[str, Any]:
    """A new row's `params`, with the current trace context under KEY when there is one."""
    if _tracing is None:
        return params
    carrier = _tracing.carrier()
    return {**params, KEY: carrier} if carrier else params


def untraced(params: Mapping[str, Any]) -> dict[str, Any]:
    """A row's params without the trace context it keeps: what a message is made of."""
    if KEY not in params:
        return dict(params)
    return {name: value for name, value in params.items() if name != KEY}
