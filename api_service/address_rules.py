"""The application's sign-up rules (SIGNUP_DOMAINS_*, SIGNUP_DENY_DISPOSABLE) applied to a
request's email, before anything is read or written: a rule on the address alone."""

from __future__ import annotations

from api_service.problems import Problem
from shared.accounts.signup_rules import SignupRules


def check_allowed(rules: SignupRules, email: str | None, field: str) -> None:
    """Refuse `email`, named as `field`, with `422 …/address-not-allowed` when a rule does."""
    reason = rules.refusal(email) if email else None
    if reason is not None:
        raise Problem(
            422, "address-not-allowed", "Address not allowed", reason, errors=[(field, reason)]
        )
