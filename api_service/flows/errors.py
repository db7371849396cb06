"""What a flow refuses, in the flows' own words; api_service/problems.py answers each as HTTP."""

from __future__ import annotations

from dataclasses import dataclass


class Refused(Exception):
    """A request a flow will not carry out; nothing of it was written."""


@dataclass
class TooManyRequests(Refused):
    """A limit was reached: `wait` seconds until it frees, `detail` says which."""

    wait: int
    detail: str


@dataclass
class CodeExhausted(Refused):
    """Too many wrong codes were sent for this address; a new code starts again."""

    wait: int


class InvalidCode(Refused):
    """The code is wrong, spent or expired."""


class PasswordRequired(Refused):
    """A contested account's code was right, but activating it takes the password it will
    have; the code stays valid."""


class InvalidCredentials(Refused):
    """A wrong password, an unknown account or one not yet active: one refusal for all three."""


@dataclass
class ProvisioningPending(Refused):
    """The credentials were right, but the application has not answered the account's
    `account.activated` yet (LOGIN_REQUIRES_PROVISIONING): `wait` seconds before a retry."""

    wait: int


class BadIdempotencyKey(Refused):
    """The Idempotency-Key header is not a key."""


class IdempotencyKeyReused(Refused):
    """The Idempotency-Key was already used with another body."""


@dataclass
class HumanCheckFailed(Refused):
    """The CAPTCHA token is missing, refused or already used (`detail` says which)."""

    detail: str


class HumanCheckUnavailable(Refused):
    """The CAPTCHA provider did not answer in time, or refused our own configuration."""
