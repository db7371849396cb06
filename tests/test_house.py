"""The house's habits that a check can keep: one module changes an outbox row's status; the
API's routes and pages open no transaction of their own; the vocabularies (statuses, purposes,
events, channels, reasons, provider event types) are spelled by their enums; a module stays
small or names why it is long; functions stay small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from api_service.flows.answers import AnswerStatus
from api_service.flows.sms_counts import SmsOutcome
from shared.accounts.accounts import UserStatus
from shared.accounts.history import AccountEvent
from shared.messaging.events import EventType
from shared.messaging.outbox import (
    AttemptOutcome,
    Channel,
    ClientStatus,
    DeadReason,
    Purpose,
    Status,
    values_of,
)
from shared.messaging.refusals import FailureReason, Refusal
from shared.messaging.suppressions import SuppressionReason
from shared.messaging.views import WaitingReason
from shared.reports.provider_events import ProviderEventType
from shared.secrets.codes import CodeStatus
from support.processes import ROOT

PRODUCTION = ("api_service", "outbox_relay", "shared", "outpost")
STATUS_OWNER = "shared/messaging/transitions.py"


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


# Outside api_service/flows the API parses requests, calls a flow or an operation (operator ones
# through `act` or `read`, api_service/flows/unit_of_work.py) and presents what it returns: the
# guards and /metrics too. The readiness probe alone asks the database itself, that being what
# it checks.
API = ROOT / "api_service"
FLOWS = API / "flows"
PROBE = ("api_service/routes/health.py", "readyz")
OPENS_A_TRANSACTION = ("unit_of_work", "connect", "begin")


def _database_touches(path: Path) -> list[tuple[str, int]]:
    """Where a module reaches the database itself, as (function, line): a transaction opened
    (`with ….unit_of_work()`, `.connect()`, `.begin()`) or committed, or the engine taken."""
    tree = ast.parse(path.read_text(), str(path))
    owner = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                owner.setdefault(node, function.name)
    touches = []
    for node in ast.walk(tree):
        opened = isinstance(node, ast.withitem) and _call_named(
            node.context_expr, OPENS_A_TRANSACTION
        )
        committed = _call_named(node, ("commit",))
        engine = isinstance(node, ast.Attribute) and node.attr == "engine"
        if opened or committed or engine:
            line = getattr(
                node, "lineno", getattr(getattr(node, "context_expr", None), "lineno", 0)
            )
            touches.append((owner.get(node, "<module>"), line))
    return touches


def _call_named(node: ast.AST, names: tuple[str, ...]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in names) or (
        isinstance(func, ast.Name) and func.id in names
    )


def test_outside_the_flows_only_readiness_touches_the_database() -> None:
    touches = {
        (path.relative_to(ROOT).as_posix(), function): line
        for path in sorted(API.rglob("*.py"))
        if FLOWS not in path.parents
        for function, line in _database_touches(path)
    }
    probe = touches.pop(PROBE, None)
    assert touches == {}, "the database reached outside api_service/flows"
    assert probe is not None, "the check no longer finds the probe's own reach"
    assert len(_database_touches(FLOWS / "unit_of_work.py")) > 0, "the check finds nothing"


# Webhook events are dotted words nothing else spells: found wherever they stand.
WEBHOOK_EVENTS = set(values_of(EventType))
# Words with an enum of their own, by the name they stand beside (`users.c.status == …`,
# `purpose=…`, `{"status": …}`): a status, a purpose, an event (a webhook's or an account's).
VOCABULARY = {
    "status": {
        *values_of(AnswerStatus),
        *values_of(UserStatus),
        *values_of(CodeStatus),
        *values_of(Status),
        *values_of(ClientStatus),
    },
    "purpose": set(values_of(Purpose)),
    "event": {*WEBHOOK_EVENTS, *values_of(AccountEvent)},
    "channel": set(values_of(Channel)),
    "reason": {
        *values_of(DeadReason),
        *values_of(FailureReason),
        *values_of(SuppressionReason),
        *values_of(Refusal),
        *values_of(WaitingReason),
    },
    "outcome": {*values_of(AttemptOutcome), *values_of(SmsOutcome)},
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
        if isinstance(node, ast.Constant) and node.value in WEBHOOK_EVENTS:
            yield WEBHOOK_EVENTS, node


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
    assert bare_words('record(c, 1, event="login_failed")') == ["login_failed"]


# A module past MODULE_LINES lines names why it holds together in a line of its docstring, or a
# comment at its top, that starts with REASON: what one concern it keeps whole that a split
# would scatter. A function past FUNCTION_LINES lines has no such way out.
MODULE_LINES = 300
FUNCTION_LINES = 60
REASON = "Long because:"


def length_reason(source: str) -> str | None:
    """What a module says after `Long because:`, in its docstring or a comment before its first
    statement (its docstring aside); None when it says nothing there."""
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree, clean=True)
    statements = tree.body[1:] if docstring is not None else tree.body
    first = statements[0].lineno if statements else len(source.splitlines()) + 1
    comments = [
        line.strip().removeprefix("#").strip()
        for line in source.splitlines()[: first - 1]
        if line.strip().startswith("#")
    ]
    said = [
        line.strip().removeprefix(REASON).strip()
        for line in [*(docstring or "").splitlines(), *comments]
        if line.strip().startswith(REASON)
    ]
    return next((reason for reason in said if reason), None)


def too_long(source: str, where: str) -> list[str]:
    """A module past MODULE_LINES that names no reason, and each function past FUNCTION_LINES."""
    found = []
    lines = len(source.splitlines())
    if lines > MODULE_LINES and length_reason(source) is None:
        found.append(f"{where}: {lines} lines and no '{REASON} …' line")
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{where}: {node.name}() {length} lines")
    return found


def test_a_long_module_names_its_reason_and_functions_stay_under_60() -> None:
    """Small modules named for what they do. A module past 300 lines is asking to be split by
    concern, and says in a `Long because:` line why it is one concern; a function past 60 lines
    holds two steps and is split. Split, never squeeze: a docstring cut or a loop folded onto
    one line to pass is worse than the length it hides. Migrations are history, written once,
    and not held to it."""
    found = [
        problem
        for top in PRODUCTION
        for path in sorted((ROOT / top).rglob("*.py"))
        for problem in too_long(path.read_text(), path.relative_to(ROOT).as_posix())
    ]
    assert found == []


def test_the_length_check_wants_a_reason_past_300_lines_and_takes_one() -> None:
    body = "x = 1\n" * MODULE_LINES
    assert too_long('"""A module."""\n' + body, "m.py") == [
        f"m.py: {MODULE_LINES + 1} lines and no '{REASON} …' line"
    ]
    assert too_long('"""A module.\n\nLong because:\n"""\n' + body, "m.py"), "an empty reason"
    assert too_long("# Long because: no docstring\n" + body, "m.py") == []
    assert too_long('"""A module."""\n\n# Long because: one concern\n' + body, "m.py") == []
    assert too_long('"""A module.\n\nLong because: one table\'s SQL."""\n' + body, "m.py") == []
    assert too_long(body + "# Long because: said at the end\n", "m.py"), "only at the top"
    steps = "".join(f"    x{n} = {n}\n" for n in range(FUNCTION_LINES))
    assert too_long(f"def f() -> None:\n{steps}", "m.py") == ["m.py: f() 61 lines"]
    assert too_long(f"# Long because: a function has no way out\ndef f() -> None:\n{steps}", "m.py")
