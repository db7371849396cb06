"""The sign-up variables: whether anyone may sign up (SIGNUP), and which email domains may (a
rule on the address alone)."""

from __future__ import annotations

import re
from enum import StrEnum

from shared.settings.variable import Group, Variable

SIGNUP = Group(
    "Sign-up",
    "Whether people sign up or operators invite them, and which email addresses the application "
    "takes, read from the address alone, on registration and address changes alike ([abuse and "
    "fraud](abuse.md#who-may-sign-up)).",
)
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)


def domains(value: str) -> frozenset[str]:
    """Domain names separated by commas, in lower case; empty when unset."""
    named = {part.strip().lower().removeprefix("@") for part in value.split(",")} - {""}
    wrong = sorted(name for name in named if not _DOMAIN.fullmatch(name))
    if wrong:
        raise ValueError(
            f"domain names separated by commas (example.com,example.org), not {wrong[0]!r}"
        )
    return frozenset(named)


class SignupMode(StrEnum):
    """Who makes accounts: anyone who registers, or operators alone, by invitation."""

    OPEN = "open"
    CLOSED = "closed"


def signup_mode(value: str) -> SignupMode:
    """`open` or `closed`."""
    try:
        return SignupMode(value.lower())
    except ValueError:
        raise ValueError(f"open or closed, not {value!r}") from None


def flag(value: str) -> bool:
    """`true` or `false` (`1` or `0`)."""
    if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"true or false, not {value!r}")
    return value.lower() in ("true", "1")


SIGNUP_MODE = Variable(
    name="SIGNUP",
    group=SIGNUP,
    meaning=(
        "`closed`: `POST /v1/registrations` answers `403 …/signup-closed` to every request, "
        "nothing read or written; accounts then come from operators' invitations (`POST "
        "/v1/admin/accounts`, `outbox-relay invite`, the dashboard's lookup), each a pending "
        "account sent its activation code. `open`: anyone may register."
    ),
    parse=signup_mode,
    default="open",
    checks="`open` or `closed`",
)
SIGNUP_DOMAINS_ALLOWED = Variable(
    name="SIGNUP_DOMAINS_ALLOWED",
    group=SIGNUP,
    meaning=(
        "The only email domains that may sign up, comma-separated (`customer.com,partner.org`); "
        "a domain covers its subdomains. Another address gets `422 …/address-not-allowed` "
        "naming `email` (`new_email` for an address change), nothing written. Phone numbers "
        "are not concerned."
    ),
    parse=domains,
    shown="unset: every domain",
    checks="domain names",
)
SIGNUP_DOMAINS_DENIED = Variable(
    name="SIGNUP_DOMAINS_DENIED",
    group=SIGNUP,
    meaning=(
        "Email domains that may not sign up, comma-separated; a domain covers its subdomains "
        "(`example.com` refuses `mail.example.com`): `422 …/address-not-allowed` as above."
    ),
    parse=domains,
    shown="unset: none",
    checks="domain names",
)
SIGNUP_DENY_DISPOSABLE = Variable(
    name="SIGNUP_DENY_DISPOSABLE",
    group=SIGNUP,
    meaning=(
        "`true`: refuse the domains of disposable-mail services (and their subdomains) with "
        "`422 …/address-not-allowed`, from the list the `disposable-email-domains` package "
        "keeps (upgrading the package updates it)."
    ),
    parse=flag,
    default="false",
    checks="`true` or `false`",
)
