"""The one stored form of an email address or a phone number, or why there is none."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

E164_EXAMPLE = "+33612345678"
# What people write in a number: digits and the usual separators, no letters, no extension.
PHONE_PATTERN = r"^\+?[0-9 ().-]{4,24}$"
_PHONE_CHARS = re.compile(PHONE_PATTERN)


class AddressError(ValueError):
    """An address that can never be delivered to, with a sentence saying why."""


def normalise_email(address: str) -> str:
    """Checked without DNS, the domain in ASCII (IDNA), all in lower case: one mailbox, one form.

    No SMTPUTF8 in this version: a non-ASCII local part could never be delivered.
    """
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(f"Not a deliverable email address: {exc}") from None
    return (checked.ascii_email or checked.normalized).lower()


def normalise_phone(text: str, region: str | None) -> str:
    """The E.164 form of a number that can take an SMS; national input is read in `region`."""
    if not _PHONE_CHARS.match(text):
        raise AddressError(f"Must be a phone number such as {E164_EXAMPLE}.")
    if not text.startswith("+") and region is None:
        raise AddressError(f"Must be an E.164 number such as {E164_EXAMPLE}.")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise AddressError(f"Must be a phone number such as {E164_EXAMPLE}.") from None
    if not phonenumbers.is_valid_number(number):
        raise AddressError("Not a valid phone number.")
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise AddressError("A fixed line cannot receive SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
