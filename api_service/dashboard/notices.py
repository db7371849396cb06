"""What the dashboard says after an action: notices carried by a redirect's query string."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from shared.operations import CONFIRM_WORDS, RETRY_WORDS, ConfirmOutcome, RetryOutcome, RetryResult

# The confirmations that proved the address.
_CONFIRMED = (ConfirmOutcome.ACTIVATED, ConfirmOutcome.PROVEN)

NOTICES: dict[str, tuple[str, str]] = {
    "signed_out": ("ok", "Signed out."),
    "retry:fresh_code": ("ok", "Fresh code sent: {target} replaced by new delivery {delivery}."),
    "retry:requeued": ("ok", "Requeued {target}: it will be delivered again shortly."),
    "retry:not_dead": ("warn", "{target} was already dealt with; nothing done."),
    "retry:not_found": ("warn", "No message {target}; nothing done."),
    "retry:account_gone": ("warn", "The account of {target} no longer exists; nothing sent."),
    "retry:already_active": ("warn", "The account of {target} is already active; nothing sent."),
    "retry:no_address": ("warn", "The account of {target} has no address on that channel."),
    "retry:endpoint_gone": ("warn", "The webhook endpoint of {target} was removed; nothing sent."),
    "discard:done": ("ok", "Discarded {target}: it stays as history and will not be sent."),
    "discard:not_dead": ("warn", "{target} was already dealt with; nothing done."),
    "reissue:fresh_code": (
        "ok",
        "Fresh activation code queued for account {target}, delivery {delivery}.",
    ),
    "reissue:not_pending": ("warn", "Account {target} is not pending; nothing sent."),
    "reissue:suppressed": (
        "warn",
        "The address of account {target} is suppressed; remove it first. Nothing sent.",
    ),
    "retry:suppressed": ("warn", "The address of {target} is suppressed; remove it first."),
    "unlock:done": (
        "ok",
        "Account {target} unlocked: its failed sign-ins and wrong codes forgotten.",
    ),
    "unlock:absent": ("warn", "No account {target}; nothing done."),
    **{
        f"confirm:{outcome}": (
            "ok" if outcome in _CONFIRMED else "warn",
            f"Account {{target}}: {words}.",
        )
        for outcome, words in CONFIRM_WORDS.items()
    },
    "confirm:unreasoned": ("warn", "Say how the person was checked; nothing done."),
    "invite:invited": (
        "ok",
        "Account {target} made, pending: its activation code is queued, delivery {delivery}.",
    ),
    "invite:account_exists": ("warn", "Account {target} holds that address; nothing made or sent."),
    "invite:unreachable": ("warn", "No SMS can go to that number here; nothing made."),
    "webhook:removed": ("ok", "Webhook endpoint {target} removed; its queued events cancelled."),
    "webhook:absent": ("warn", "No webhook endpoint {target}; nothing done."),
    "suppression:removed": ("ok", "That address is no longer suppressed."),
    "suppression:absent": ("warn", "That address was not suppressed; nothing done."),
    "suppression:invalid": (
        "warn",
        "That is not an email address or an E.164 number; nothing done.",
    ),
}


def retry_tally(results: list[RetryResult]) -> dict[str, int]:
    """The query parameters of a bulk retry's notice: how many of each outcome there were."""
    counts = Counter(result.outcome for result in results)
    return {f"n_{outcome}": counts[outcome] for outcome in RetryOutcome if counts[outcome]}


def notice_of(args: Mapping[str, str]) -> tuple[str, str] | None:
    """The message a redirect carries in its query string, from a fixed set; else None."""
    code = args.get("notice", "")
    if code == "retry_all":
        total = args.get("total", "0")
        parts = [
            f"{args[f'n_{outcome}']} {label}"
            for outcome, label in RETRY_WORDS.items()
            if args.get(f"n_{outcome}", "").isdigit()
        ]
        detail = f": {', '.join(parts)}" if parts else ""
        # Only a fresh code or a requeue retried anything; the rest were looked at and left.
        done = sum(
            int(args.get(f"n_{outcome}", "0") or 0)
            for outcome in (RetryOutcome.FRESH_CODE, RetryOutcome.REQUEUED)
            if args.get(f"n_{outcome}", "0").isdigit()
        )
        seen = total if total.isdigit() else "0"
        if done == int(seen):
            return ("ok" if done else "warn"), f"Retried {seen} dead letters{detail}."
        return "warn", f"Retried {done} of {seen} dead letters{detail}."
    if code not in NOTICES:
        return None
    level, template = NOTICES[code]
    fields = {name: args.get(name, "")[:64] for name in ("target", "delivery")}
    return level, template.format(**fields)
