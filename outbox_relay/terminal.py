"""What the operator commands print, with control characters made visible (`\\x1b`, `\\u202e`)."""

from __future__ import annotations

import re
from typing import TextIO, cast

# C0 but newline and tab, DEL, C1, and the bidirectional controls (marks, embeddings, overrides,
# isolates): old rows may hold any of them, and a terminal would obey them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with each control character written as its Python escape."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _Escaped:
    """A text stream that writes through `visible`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(visible(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def escaped(stream: TextIO) -> TextIO:
    """`stream`, every write of which shows control characters as escapes."""
    return cast(TextIO, _Escaped(stream))
