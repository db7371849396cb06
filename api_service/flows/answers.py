"""The statuses the API's answers carry beside a user's (shared.accounts.accounts.UserStatus)."""

from __future__ import annotations

from enum import StrEnum


class AnswerStatus(StrEnum):
    """What a request's answer says happened: a message is on its way, an account waits for its
    code, a password changed, a probe answered."""

    ACCEPTED = "accepted"
    PENDING_ACTIVATION = "pending_activation"
    PASSWORD_CHANGED = "password_changed"
    OK = "ok"
    READY = "ready"
