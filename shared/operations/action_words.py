"""Operator actions in words: what each audit entry did, as the dashboard and the API say it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.operations.audit import AuditEntry
from shared.operations.confirm import CONFIRM_WORDS, ConfirmOutcome
from shared.operations.retries import RETRY_WORDS, RetryOutcome
from shared.operations.stranded import REISSUE_WORDS, ReissueOutcome

# What each action is called, in the order an operator meets them.
ACTION_NAMES: dict[str, str] = {
    "retry": "Retry",
    "discard": "Discard",
    "reissue_activation": "Reissue activation",
    "remove_suppressions": "Remove suppression",
    "erase": "Erase account",
    "unlock": "Unlock account",
    "confirm_address": "Confirm address",
    "invite": "Invite",
    "purge": "Purge",
    "add_webhook_endpoint": "Add webhook endpoint",
    "remove_webhook_endpoint": "Remove webhook endpoint",
}


def _counted(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _retry(details: Mapping[str, Any]) -> str:
    outcome = details.get("outcome")
    return RETRY_WORDS[RetryOutcome(outcome)] if outcome in set(RetryOutcome) else "done"


def _discard(details: Mapping[str, Any]) -> str:
    return "discarded" if details.get("discarded") else "already dealt with; nothing done"


def _reissue(details: Mapping[str, Any]) -> str:
    outcome = details.get("outcome")
    words = REISSUE_WORDS[ReissueOutcome(outcome)] if outcome in set(ReissueOutcome) else "done"
    delivery = details.get("delivery")
    return f"{words}, delivery {delivery}" if delivery else words


def _removed(details: Mapping[str, Any]) -> str:
    removed = len(details.get("removed") or [])
    if not removed:
        return "the address was not suppressed; nothing done"
    return f"{_counted(removed, 'address', 'addresses')} no longer suppressed"


def _erased(details: Mapping[str, Any]) -> str:
    messages = int(details.get("messages") or 0)
    return f"account and its {_counted(messages, 'message')} erased"


def _unlocked(details: Mapping[str, Any]) -> str:
    return "failed sign-ins and wrong codes forgotten"


def _confirmed(details: Mapping[str, Any]) -> str:
    outcome = details.get("outcome")
    words = CONFIRM_WORDS[ConfirmOutcome(outcome)] if outcome in set(ConfirmOutcome) else "done"
    return f"{details.get('address', 'address')}: {words} ({details.get('reason', '')})"


def _invited(details: Mapping[str, Any]) -> str:
    outcome = details.get("outcome")
    if outcome == "invited":
        return f"pending account made, activation code sent by {details.get('channel')}"
    if outcome == "account_exists":
        return "an account holds the address; nothing made or sent"
    return "no SMS can go to the number; nothing made"


def _purged(details: Mapping[str, Any]) -> str:
    kinds = [(name.replace("_", " "), n) for name, n in details.items() if isinstance(n, int)]
    removed = [f"{n} {name}" for name, n in kinds if n]
    return "removed " + ", ".join(removed) if removed else "nothing had outlived its retention"


def _endpoint_added(details: Mapping[str, Any]) -> str:
    events = ", ".join(details.get("events") or [])
    return f"{details.get('url')} for {events}"


def _endpoint_removed(details: Mapping[str, Any]) -> str:
    return "removed; its events still queued cancelled"


_DETAILS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "retry": _retry,
    "discard": _discard,
    "reissue_activation": _reissue,
    "remove_suppressions": _removed,
    "erase": _erased,
    "unlock": _unlocked,
    "confirm_address": _confirmed,
    "invite": _invited,
    "purge": _purged,
    "add_webhook_endpoint": _endpoint_added,
    "remove_webhook_endpoint": _endpoint_removed,
}


def action_name(entry: AuditEntry) -> str:
    """The action as an operator would name it."""
    return ACTION_NAMES.get(entry.action, entry.action.replace("_", " ").capitalize())


def in_words(entry: AuditEntry) -> str:
    """What the action did, as a sentence fragment (its details are kept for machines)."""
    describe = _DETAILS.get(entry.action)
    return describe(entry.details or {}) if describe else "done"
