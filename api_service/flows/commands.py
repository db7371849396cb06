"""The requests the public routes make of the flows: one frozen command each, with typed fields.

A route builds its command from the body its schema validated (`Command.of`), and the flow
reads nothing else: the fields a schema adds (a default channel, the chosen locale) are in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Self, get_type_hints

from shared.messaging.outbox import Channel


@dataclass(frozen=True, kw_only=True)
class Command:
    """A request into a flow, as its route read it."""

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Self:
        """The command of a validated body: each field by its name, a vocabulary's word as its
        enum; a field the command lacks is an error, never dropped."""
        hints = get_type_hints(cls)
        return cls(**{name: _typed(hints.get(name), value) for name, value in body.items()})


def _typed(hint: Any, value: Any) -> Any:
    """`value` as the type a field names, when that is an enum."""
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Addressed(Command):
    """A request naming an account by its email and/or its phone (with both, one account must
    own both)."""

    email: str | None = None
    phone: str | None = None

    @property
    def addresses(self) -> list[str]:
        """The addresses the request names: its email and/or its phone."""
        return [address for address in (self.email, self.phone) if address]

    @property
    def identifier(self) -> str | None:
        """The address a failed sign-in counts under: the email, else the phone."""
        return self.email or self.phone


@dataclass(frozen=True, kw_only=True)
class CodeRequest(Addressed):
    """A request for a code or a notice, which passes the human check first."""

    captcha_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class CodeEntry(Addressed):
    """A request bringing the code sent to the addresses it names, or its mail's link token in
    its place (one of the two)."""

    code: str | None = None
    token: str | None = None


@dataclass(frozen=True, kw_only=True)
class Register(CodeRequest):
    """POST /v1/registrations: a pending account, activated by a code on `channel`."""

    password: str
    locale: str
    channel: Channel
    full_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Activate(CodeEntry):
    """POST /v1/activations; `password`, when given, becomes the account's."""

    password: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResendActivation(CodeRequest):
    """POST /v1/activations/resend."""

    channel: Channel


@dataclass(frozen=True, kw_only=True)
class RequestReset(CodeRequest):
    """POST /v1/password-resets."""


@dataclass(frozen=True, kw_only=True)
class ConfirmReset(CodeEntry):
    """POST /v1/password-resets/confirm."""

    new_password: str


@dataclass(frozen=True, kw_only=True)
class LogIn(Addressed):
    """POST /v1/logins."""

    password: str


@dataclass(frozen=True, kw_only=True)
class RequestLoginCode(CodeRequest):
    """POST /v1/login-codes."""

    channel: Channel


@dataclass(frozen=True, kw_only=True)
class ConfirmLoginCode(CodeEntry):
    """POST /v1/login-codes/confirm."""


@dataclass(frozen=True, kw_only=True)
class AddressChange(Addressed):
    """A request about the address an account is to take: `new_email` or `new_phone`."""

    new_email: str | None = None
    new_phone: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestAddressChange(AddressChange, CodeRequest):
    """POST /v1/address-changes: the account's current address and password, and the new one."""

    password: str


@dataclass(frozen=True, kw_only=True)
class ConfirmAddressChange(AddressChange, CodeEntry):
    """POST /v1/address-changes/confirm."""
