"""Reading bench/receipts.py's file as the server writes it, message by message, by the domain
of each Message-ID (which tells the senders apart)."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path


class Arrivals:
    """The receipts written to a file so far, kept by Message-ID domain until forgotten."""

    def __init__(self, path: Path) -> None:
        self._file = path.open(encoding="ascii")
        self._rest = ""  # a line the server has not finished writing
        self._lines: defaultdict[str, list[str]] = defaultdict(list)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def lines(self, domain: str) -> list[str]:
        """The receipt lines (`<epoch seconds> <Message-ID>`) of `domain` read so far."""
        self._read()
        return self._lines[domain]

    def wait(self, domain: str, count: int, timeout: float) -> list[str]:
        """The lines of `domain` once there are at least `count`; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while len(self.lines(domain)) < count:
            if time.monotonic() > deadline:
                got = len(self._lines[domain])
                raise AssertionError(f"{got} of {count} messages from {domain} in {timeout:g} s")
            time.sleep(0.02)
        return self._lines[domain]

    def forget(self) -> None:
        """Drop every line read so far and any written since."""
        self._read()
        self._lines.clear()

    def _read(self) -> None:
        *complete, self._rest = (self._rest + self._file.read()).split("\n")
        for line in complete:
            domain = line.rstrip(">").rpartition("@")[2]
            self._lines[domain].append(line)


def last_arrival(lines: list[str]) -> float:
    """The epoch seconds of the latest of receipt lines."""
    return max(float(line.split(" ", 1)[0]) for line in lines)


def arrival_times(lines: list[str]) -> dict[str, float]:
    """Receipt lines' arrival times by Message-ID local part (the message's key)."""
    found = {}
    for line in lines:
        at, message_id = line.split(" ", 1)
        found[message_id.strip("<>").partition("@")[0]] = float(at)
    return found
