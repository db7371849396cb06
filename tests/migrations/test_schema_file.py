"""migrations/schema.sql is the schema a fresh database has at head (support/schema.py)."""

from __future__ import annotations

import difflib

import pytest

from support.schema import SCHEMA_FILE, at_head


@pytest.mark.postgresql_only
def test_the_schema_file_is_the_schema_at_head() -> None:
    written, current = SCHEMA_FILE.read_text(), at_head()
    diff = "".join(
        difflib.unified_diff(
            written.splitlines(keepends=True), current.splitlines(keepends=True), "file", "head"
        )
    )
    assert written == current, f"run `python -m support.schema`:\n{diff[:4000]}"
