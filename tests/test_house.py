"""The house's habits that a check can keep: one module changes an outbox row's status; the
API's routes and pages open no transaction of their own; the vocabularies (statuses, purposes,
events, channels, reasons, provider event types) are spelled by their enums; modules and
functions stay small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared.accounts import UserStatus
from shared.codes import CodeStatus
from shared.events import EventType
from shared.outbox import Channel, ClientStatus, DeadReason, Purpose, Status, values_of
from shared.provider_events import ProviderEventType
from shared.refusals import FailureReason, Refusal
from shared.suppressions import SuppressionReason
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


# The API's faces parse a request, call a flow or an operation (operator ones through `act`
# or `read`, api_service/flows/unit_of_work.py) and present what it returns; the readiness
# probe alone asks the database itself, that being what it checks.
FACES = sorted(
    [*(ROOT / "api_service/routes").glob("*.py"), ROOT / "api_service/dashboard/pages.py"]
)
PROBE = ROOT / "api_service/routes/health.py"
OPENS_A_TRANSACTION = ("unit_of_work", "connect", "begin", "commit")


def _transactions_opened(path: Path) -> list[str]:
    """The calls of a method that opens or ends a transaction, as `line: name`."""
    return [
        f"{node.lineno}: {node.func.attr}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in OPENS_A_TRANSACTION
    ]


def test_the_faces_leave_the_transaction_to_the_flow_or_operation() -> None:
    opened = {
        face.relative_to(ROOT).as_posix(): _transactions_opened(face)
        for face in FACES
        if face != PROBE
    }
    assert {face: lines for face, lines in opened.items() if lines} == {}
    assert len(opened) > 10 and _transactions_opened(PROBE), "the check finds what it looks for"


# Words with an enum of their own, by the name they stand beside (`users.c.status == …`,
# `purpose=…`, `{"status": …}`): a status, a purpose, an event.
VOCABULARY = {
    "status": {
        *values_of(UserStatus),
        *values_of(CodeStatus),
        *values_of(Status),
        *values_of(ClientStatus),
    },
    "purpose": set(values_of(Purpose)),
    "event": set(values_of(EventType)),
    "channel": set(values_of(Channel)),
    "reason": {
        *values_of(DeadReason),
        *values_of(FailureReason),
        *values_of(SuppressionReason),
        *values_of(Refusal),
    },
    "type": set(values_of(ProviderEventType)),
}


def _vocabulary_of(name: str) -> set[str]:
    """The words a name holds: `code_status` a status, `event` an event, `recipient` none."""
    return next((words for key, words in VOCABULARY.items() if name.endswith(key)), set())


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ""


def _slots(tree: ast.AST) -> Iterator[tuple[set[str], ast.AST]]:
    """Each expression that holds a word of the vocabulary, with the words it may hold."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            yield _vocabulary_of(node.arg), node.value
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None:
                    yield _vocabulary_of(_name(key)), value
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for side in sides:
                words = _vocabulary_of(_name(side))
                yield from ((words, other) for other in sides if other is not side)
        elif isinstance(node, ast.Call) and _name(node.func) == "in_":
            assert isinstance(node.func, ast.Attribute)
            yield from ((_vocabulary_of(_name(node.func.value)), arg) for arg in node.args)
        if isinstance(node, ast.Constant) and node.value in VOCABULARY["event"]:
            yield VOCABULARY["event"], node


def bare_words(source: str) -> list[str]:
    """The statuses, purposes and events a module spells as bare strings, its enums aside."""
    tree = ast.parse(source)
    enums = {
        id(node)
        for definition in ast.walk(tree)
        if isinstance(definition, ast.ClassDef)
        and any(_name(base) == "StrEnum" for base in definition.bases)
        for node in ast.walk(definition)
    }
    found = {
        id(node): node
        for words, expression in _slots(tree)
        for node in ast.walk(expression)
        if isinstance(node, ast.Constant) and node.value in words and id(node) not in enums
    }
    return [node.value for node in sorted(found.values(), key=lambda n: (n.lineno, n.col_offset))]


def test_statuses_purposes_and_events_are_spelled_by_their_enums() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): bare_words(path.read_text())
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
    }
    spelled = {path: words for path, words in found.items() if words}
    assert not spelled, f"bare strings where an enum has the word: {spelled}"
    planted = 'x = users.c.status == "pending"; y = f(purpose="welcome", event="account.erased")'
    assert bare_words(planted) == ["pending", "welcome", "account.erased"], "the check finds none"


def test_modules_stay_under_300_lines_and_functions_under_60() -> None:
    """Small modules named for what they do: a module past 300 lines, or a function past 60,
    holds two things. Migrations are history, written once, and not held to it."""
    too_long = []
    for top in PRODUCTION:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = path.read_text()
            where = path.relative_to(ROOT)
            if len(source.splitlines()) > 300:
                too_long.append(f"{where}: {len(source.splitlines())} lines")
            for node in ast.walk(ast.parse(source, str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 60:
                        too_long.append(f"{where}: {node.name}() {length} lines")
    assert too_long == []
