"""The JSON lines: their time reads as datetime writes it, to the millisecond in UTC; those of a
`together` block are written at its end, at once."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.runtime.logs import JsonFormatter, JsonLines, timestamp, together

# From 2001 to 2128: a process's clock, not the epoch's first days.
seconds = st.floats(min_value=1e9, max_value=5e9, allow_nan=False)


@given(seconds)
@example(1_764_547_199.9999995)  # rounds up to the next second, and the next day
@example(1_764_547_199.9994999)
@example(1_764_547_200.0)
def test_a_time_is_written_as_datetime_writes_it(created: float) -> None:
    written = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert timestamp(created) == written


class Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, Writes]]:
    stream = Writes()
    handler = JsonLines(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test_logs")
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def messages(text: str) -> list[str]:
    return [json.loads(line)["message"] for line in text.splitlines()]


def test_the_lines_of_a_together_block_are_written_at_its_end_in_one_write(
    logged: tuple[logging.Logger, Writes],
) -> None:
    logger, stream = logged
    logger.info("before")
    with together():
        logger.info("first")
        with together():
            logger.warning("nested")
        logger.info("last")
        assert len(stream.writes) == 1
    logger.info("after")
    assert [messages(text) for text in stream.writes] == [
        ["before"],
        ["first", "nested", "last"],
        ["after"],
    ]


def test_another_threads_lines_are_written_as_they_come(
    logged: tuple[logging.Logger, Writes],
) -> None:
    logger, stream = logged
    with together():
        logger.info("held")
        other = threading.Thread(target=logger.info, args=("at once",))
        other.start()
        other.join()
        assert [messages(text) for text in stream.writes] == [["at once"]]
    assert [messages(text) for text in stream.writes] == [["at once"], ["held"]]


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("the stream is gone")


def test_a_stream_that_fails_fails_no_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """As logging's own handlers do: the failure is reported on stderr, the block goes on."""
    monkeypatch.setattr(logging, "raiseExceptions", False)
    handler = JsonLines(Broken())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test_logs_broken")
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        logger.info("alone")
        with together():
            logger.info("held")
    finally:
        logger.removeHandler(handler)
