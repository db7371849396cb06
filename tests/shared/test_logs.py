"""The JSON lines' time reads as datetime writes it, to the millisecond in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from shared.logs import timestamp

# From 2001 to 2128: a process's clock, not the epoch's first days.
seconds = st.floats(min_value=1e9, max_value=5e9, allow_nan=False)


@given(seconds)
@example(1_764_547_199.9999995)  # rounds up to the next second, and the next day
@example(1_764_547_199.9994999)
@example(1_764_547_200.0)
def test_a_time_is_written_as_datetime_writes_it(created: float) -> None:
    written = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert timestamp(created) == written
