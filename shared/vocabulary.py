"""The words the tables store, which `Vocabulary` (shared/database/columns.py) stores them as.

A column of words (shared/database/models.py) keeps each as the VARCHAR it always was, and reads it
back as its enum member. The enums whose modules read the tables live here, below
shared/database/models.py, so that a column can name its words; their modules import them from here
(CodeStatus and Refusal stay in shared/secrets/codes.py and shared/verdicts.py, which read
no table). Nothing here loads SQLAlchemy: a template's render worker reads these words too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Channel(StrEnum):
    """How a message leaves: `webhook` carries the application's lifecycle events."""

    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class Purpose(StrEnum):
    """What an account message is for (a webhook row's purpose is its event, EventType)."""

    ACTIVATION = "activation"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    WELCOME = "welcome"
    ACCOUNT_EXISTS = "account_exists"
    NO_ACCOUNT = "no_account"
    ADDRESS_CHANGE = "address_change"
    ADDRESS_CHANGED = "address_changed"
    LOGIN_CODE = "login_code"


class Status(StrEnum):
    """An outbox row's state: pending → sent | dead | cancelled | withheld, and sent → bounced.

    `withheld`: a notice the relay did not send on purpose (a number or an address that never
    signed up, past what the owner pays for); clients see it `sent` (SPEC "No enumeration").
    """

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"
    BOUNCED = "bounced"
    WITHHELD = "withheld"


class DeadReason(StrEnum):
    """Why a dead message died."""

    PERMANENT_ERROR = "permanent_error"
    MAX_ATTEMPTS = "max_attempts"
    EXPIRED = "expired"
    SUPPRESSED = "suppressed"


class AttemptOutcome(StrEnum):
    """What `outbox_attempts` records of one try: the provider's failure counts against no
    message (RELAY_MAX_ATTEMPTS)."""

    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    PROVIDER_DOWN = "provider_down"
    EXPIRED = "expired"


class UserStatus(StrEnum):
    """An account's state: pending until a code activates it, then active."""

    PENDING = "pending"
    ACTIVE = "active"


class AccountEvent(StrEnum):
    """What happened to an account (SPEC "Support lookup and an account's history")."""

    REGISTERED = "registered"
    # A registration named an address the account holds: it got the notice or a fresh code.
    REGISTRATION_CONTESTED = "registration_contested"
    ACTIVATED = "activated"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_CODE_REQUESTED = "login_code_requested"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_CHANGED = "password_changed"
    ADDRESS_CHANGE_REQUESTED = "address_change_requested"
    ADDRESS_CHANGED = "address_changed"
    # An address the account never proved was proven by another account, and left this one.
    ADDRESS_REMOVED = "address_removed"
    # A limit on guessing filled: password sign-in, or codes (then taken only as link tokens).
    LOCKED_OUT = "locked_out"
    # An operator lifted the account's lockouts.
    UNLOCKED = "unlocked"
    # An operator proved one of its addresses by hand (SPEC "Confirm by hand").
    CONFIRMED_BY_OPERATOR = "confirmed_by_operator"
    # An operator made the account, pending, and sent its activation code (an invitation).
    INVITED = "invited"


class LockedOut(StrEnum):
    """What a lockout stops (an account's history's `locked_out`): password sign-in, or codes
    typed in (their mails' link tokens still work)."""

    PASSWORD = "password"
    CODE = "code"


class Resolution(StrEnum):
    """How an operator dealt with a dead letter."""

    RETRIED = "retried"
    DISCARDED = "discarded"


class EventType(StrEnum):
    """A lifecycle event: the `type` of a webhook's body, and the purpose of its outbox row."""

    ACCOUNT_REGISTERED = "account.registered"
    ACCOUNT_ACTIVATED = "account.activated"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed"
    ACCOUNT_ADDRESS_CHANGED = "account.address_changed"
    ACCOUNT_ADDRESS_REMOVED = "account.address_removed"
    ACCOUNT_ERASED = "account.erased"
    DELIVERY_FAILED = "delivery.failed"
    DELIVERY_DELIVERED = "delivery.delivered"
    # A provider took a message to the account (the relay marked it sent): endpoints only.
    DELIVERY_SENT = "delivery.sent"
    PROVIDER_DOWN = "provider.down"
    PROVIDER_UP = "provider.up"


class PausedBy(StrEnum):
    """Who paused a provider: a relay, on the provider's own failure, or an operator."""

    RELAY = "relay"
    OPERATOR = "operator"


class ProviderEventType(StrEnum):
    """What a provider reported after it took a message."""

    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    DELIVERY = "delivery"


class SuppressionReason(StrEnum):
    """Why an address is on the list: a provider's hard bounce or complaint, a 5.1.x or an
    SMS provider's refusal of it, or its owner's one click (RFC 8058)."""

    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    REJECTED = "rejected"
    UNSUBSCRIBED = "unsubscribed"


def values_of(members: Iterable[StrEnum]) -> tuple[str, ...]:
    """The members' values as plain text: what a face lists (argparse shows a member's repr)."""
    return tuple(member.value for member in members)


PURPOSES = values_of(Purpose)
# Messages that carry a code: claimed before the others when a backlog forms.
CODED = (Purpose.ACTIVATION, Purpose.PASSWORD_RESET, Purpose.ADDRESS_CHANGE, Purpose.LOGIN_CODE)
