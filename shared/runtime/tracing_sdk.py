"""The OpenTelemetry side of shared/runtime/tracing.py, imported only once traces are on: the tracer
provider exporting over OTLP/HTTP in batches, the W3C propagator, and the spans the two
processes open and close around a request or a send."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.runtime.version import version

Attributes = Mapping[str, AttributeValue]
KINDS = {"server": SpanKind.SERVER, "consumer": SpanKind.CONSUMER}
# W3C trace context alone (traceparent, tracestate): what a client sends and a row keeps.
W3C = TraceContextTextMapPropagator()
# What the SDK names a service no variable named.
_UNNAMED = "unknown_service"


class Tracing:
    """A process's tracer: its spans batched (OTEL_BSP_*) to the OTLP/HTTP endpoint
    (OTEL_EXPORTER_OTLP_*), sampled by OTEL_TRACES_SAMPLER; all read by the SDK itself."""

    def __init__(self, service: str) -> None:
        resource = Resource.create({SERVICE_VERSION: version()})
        if str(resource.attributes.get(SERVICE_NAME, _UNNAMED)).startswith(_UNNAMED):
            resource = resource.merge(Resource({SERVICE_NAME: service}))
        self.service = str(resource.attributes[SERVICE_NAME])
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self._provider.get_tracer("outpost", version())

    def shutdown(self) -> None:
        """Export what is buffered (bounded by OTEL_BSP_EXPORT_TIMEOUT), then stop."""
        self._provider.shutdown()

    def carrier(self) -> dict[str, str]:
        """The current span's W3C context as text (`traceparent`, `tracestate`); empty when no
        span is current."""
        carrier: dict[str, str] = {}
        W3C.inject(carrier)
        return carrier

    def open(
        self,
        name: str,
        kind: str,
        parent: Mapping[str, str],
        attributes: Attributes,
        *,
        link: bool = False,
    ) -> Opened:
        """Start a span of `kind` (`server`, `consumer`) and make it current on this thread.

        Its parent is the W3C context in `parent` (a request's headers, a row's kept context);
        with none valid there, it begins a trace of its own. `link` also links it to that
        context.
        """
        remote = W3C.extract(parent, Context())
        links = []
        if link:
            kept = trace.get_current_span(remote).get_span_context()
            links = [Link(kept)] if kept.is_valid else []
        span = self._tracer.start_span(name, remote, KINDS[kind], attributes, links)
        return Opened(span, context.attach(trace.set_span_in_context(span, remote)))

    def note(self, attributes: Attributes, error: str | None = None) -> None:
        """Add `attributes` to the current span, and mark it failed with `error` if given."""
        span = trace.get_current_span()
        span.set_attributes(attributes)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))


@dataclass(frozen=True)
class Opened:
    """A span started and made current by `Tracing.open`, until `close`."""

    span: trace.Span
    token: Token[Context]

    def close(self) -> None:
        """End the span and make current again what was before it."""
        self.span.end()
        context.detach(self.token)
