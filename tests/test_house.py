"""The house's habits that a check can keep: one module changes an outbox row's status."""

from __future__ import annotations

import ast
from pathlib import Path

from support.processes import ROOT

PRODUCTION = ("api_service", "outbox_relay", "shared", "outpost")
STATUS_OWNER = "shared/transitions.py"


def _writes_outbox_status(path: Path) -> bool:
    """Whether a module updates the outbox table and writes a `status` (`status=` or a
    "status" key) anywhere: a grep, read through the syntax tree."""
    nodes = list(ast.walk(ast.parse(path.read_text(), str(path))))
    updates_outbox = any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "update"
        and any(isinstance(arg, ast.Name) and arg.id == "outbox" for arg in node.args)
        for node in nodes
    )
    writes_status = any(
        (isinstance(node, ast.keyword) and node.arg == "status")
        or (isinstance(node, ast.Dict) and any(_is_status(key) for key in node.keys))
        for node in nodes
    )
    return updates_outbox and writes_status


def _is_status(key: ast.expr | None) -> bool:
    return isinstance(key, ast.Constant) and key.value == "status"


def test_only_the_transitions_change_an_outbox_rows_status() -> None:
    writers = sorted(
        path.relative_to(ROOT).as_posix()
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if _writes_outbox_status(path)
    )
    others = [writer for writer in writers if writer != STATUS_OWNER]
    assert not others, f"outbox.status written outside {STATUS_OWNER}: {', '.join(others)}"
    assert writers == [STATUS_OWNER], "the check no longer finds the transitions themselves"
