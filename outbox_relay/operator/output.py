"""How operator commands print: aligned tables, JSON, cells cut to width, shell-quoted values."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any, TextIO


def print_table(
    header: list[str],
    rows: list[list[str]],
    out: TextIO,
    *,
    numeric_from: int | None = None,
    numeric_to: int | None = None,
) -> None:
    """Columns aligned on their widest cell; numbers right-aligned; the last column unpadded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = set(range(numeric_from, numeric_to or len(header))) if numeric_from else set()
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(cells).rstrip(), file=out)


def print_json(value: Any, out: TextIO) -> None:
    """A dataclass, a list of them or plain values as indented JSON, times in ISO 8601."""
    json.dump(_plain(value), out, indent=2, default=_json_default)
    out.write("\n")


def print_page(
    items: list[Any],
    header: list[str],
    rows: list[list[str]],
    *,
    empty: str,
    more: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> None:
    """A page of a listing, as JSON or a table (`empty` when it has nothing), then `more`: the
    command that shows the next page, if any (on `err` beside JSON, which stays parseable)."""
    if as_json:
        print_json(items, out)
    elif items:
        print_table(header, rows, out)
    else:
        print(empty, file=out)
    if more is not None:
        print(f"more: {more}", file=err if as_json else out)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def truncate(text: str | None, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis; `-` when empty."""
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def quote(value: str) -> str:
    """`value` as a shell would need it typed again."""
    return value if re.fullmatch(r"[\w@.+:-]+", value) else "'" + value.replace("'", "'\\''") + "'"
