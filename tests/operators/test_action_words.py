"""Operator actions in words: every action the operations record reads as a sentence."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared import operations
from shared.clock import utcnow
from shared.operations.action_words import ACTION_NAMES

OPERATIONS = Path(operations.__file__).parent


def entry(action: str, details: dict[str, object] | None) -> operations.AuditEntry:
    return operations.AuditEntry(1, utcnow(), "ops", action, None, details)


def recorded_actions() -> set[str]:
    """The action names the operations pass to `record`, read from their source."""
    found = set()
    for module in OPERATIONS.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record":
                found.add(ast.literal_eval(node.args[2]))
    return found


def test_every_recorded_action_has_a_name() -> None:
    assert recorded_actions() == set(ACTION_NAMES)


@pytest.mark.parametrize(
    ("action", "details", "name", "words"),
    [
        ("retry", {"outcome": "fresh_code"}, "Retry", "fresh code sent"),
        ("retry", {"outcome": "suppressed"}, "Retry", "address suppressed"),
        ("discard", {"discarded": False}, "Discard", "already dealt with; nothing done"),
        (
            "reissue_activation",
            {"outcome": "suppressed", "delivery": None},
            "Reissue activation",
            "address suppressed; nothing sent",
        ),
        (
            "remove_suppressions",
            {"removed": ["ab12", "cd34"]},
            "Remove suppression",
            ("2 addresses no longer suppressed"),
        ),
        (
            "remove_suppressions",
            {"removed": []},
            "Remove suppression",
            "the address was not suppressed; nothing done",
        ),
        ("erase", {"messages": 1}, "Erase account", "account and its 1 message erased"),
        (
            "purge",
            {"sent": 3, "dead": 0, "throttle_events": 12, "idempotency_keys": 0},
            "Purge",
            "removed 3 sent, 12 throttle events",
        ),
        ("purge", {"sent": 0}, "Purge", "nothing had outlived its retention"),
        ("retry", {"outcome": "from_a_later_version"}, "Retry", "done"),
        ("rotate_keys", None, "Rotate keys", "done"),
    ],
)
def test_an_action_reads_as_words(
    action: str, details: dict[str, object] | None, name: str, words: str
) -> None:
    said = entry(action, details)
    assert (operations.action_name(said), operations.in_words(said)) == (name, words)
