"""The dashboard's chart: 24 hourly buckets of sent and failed attempts laid out as SVG bars."""

from __future__ import annotations

from dataclasses import dataclass

from shared.operations import HourlyOutcome


@dataclass(frozen=True)
class Bar:
    """One bar of the chart, in SVG coordinates."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A labelled horizontal grid line."""

    y: float
    label: str


@dataclass(frozen=True)
class HourLabel:
    """A label under the chart's x axis; a minor one is hidden where the chart is narrow."""

    x: float
    label: str
    minor: bool


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart of sent and failed attempts per hour, laid out for the template."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    ticks: list[Tick]
    hours: list[HourLabel]
    rows: list[HourlyOutcome]
    total_sent: int
    total_failed: int


def _nice_step(peak: int, steps: int) -> int:
    """The smallest 1, 2 or 5 times 10^k step such that `steps` of them reach `peak`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude * steps >= peak:
                return factor * magnitude
        magnitude *= 10


def hourly_chart(buckets: list[HourlyOutcome]) -> Chart:
    """Lay out 24 hourly buckets as grouped bars with axes."""
    # Margins wide enough for labels at twice the type, as a phone shows them (base.html).
    width, height = 760, 280
    left, right, top, bottom = 96.0, width - 32.0, 16.0, height - 56.0
    step = _nice_step(max([1] + [max(b.sent, b.failed) for b in buckets]), 4)
    scale = (bottom - top) / (step * 4)
    slot = (right - left) / max(len(buckets), 1)
    bar_width = slot * 0.36
    bars: list[Bar] = []
    hours: list[HourLabel] = []
    for index, bucket in enumerate(buckets):
        start = bucket.hour
        span = f"{start:%H}:00 to {(start.hour + 1) % 24:02d}:00 UTC"
        x0 = left + index * slot + slot * 0.12
        for offset, kind, value in (
            (0.0, "sent", bucket.sent),
            (bar_width, "failed", bucket.failed),
        ):
            # A bar of 1 stays visible however tall the tallest one is.
            bar_height = max(value * scale, 2.0) if value else 0.0
            bars.append(
                Bar(
                    x=round(x0 + offset, 2),
                    y=round(bottom - bar_height, 2),
                    width=round(bar_width, 2),
                    height=round(bar_height, 2),
                    kind=kind,
                    title=f"{start:%Y-%m-%d} {span}: {value} {kind}",
                )
            )
        # Every third hour (sixth, major), counted back from the latest: it always has its label.
        back = len(buckets) - 1 - index
        if back % 3 == 0:
            x = round(left + (index + 0.5) * slot, 2)
            hours.append(HourLabel(x=x, label=f"{start:%H}:00", minor=back % 6 != 0))
    ticks = [Tick(y=round(bottom - n * step * scale, 2), label=str(n * step)) for n in range(5)]
    return Chart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        ticks=ticks,
        hours=hours,
        rows=buckets,
        total_sent=sum(b.sent for b in buckets),
        total_failed=sum(b.failed for b in buckets),
    )
