"""The one stored form of an email address or a phone number, or why there is none; and the
address mail is sent from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email

E164_EXAMPLE = "+33612345678"
# What people write in a number: digits and the usual separators, no letters, no extension.
PHONE_PATTERN = r"^\+?[0-9 ().-]{4,24}$"
_PHONE_CHARS = re.compile(PHONE_PATTERN)


class AddressError(ValueError):
    """An address that can never be delivered to, with a sentence saying why."""


@dataclass(frozen=True)
class Sender:
    """Who mail comes from (MAIL_FROM): a display name, maybe empty, and an ASCII address."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        """The address's domain, which also names every Message-ID."""
        return self.address.rpartition("@")[2]


def _checked(address: str, problem: str, **rules: Any) -> str:
    """Checked without DNS, the domain in ASCII (IDNA), or AddressError: `problem`, and why.

    No SMTPUTF8 in this version: a non-ASCII local part could never be delivered. Strict, so
    a local part past RFC 5321's 64 octets, which servers refuse, is refused here first.
    """
    try:
        checked = validate_email(
            address, check_deliverability=False, allow_smtputf8=False, strict=True, **rules
        )
    except EmailNotValidError as exc:
        raise AddressError(f"{problem}: {exc}") from None
    return checked.ascii_email or checked.normalized


def normalise_email(address: str) -> str:
    """Checked as `_checked` does, all in lower case: one mailbox, one form."""
    if not address.strip():
        raise AddressError("Enter an email address.")
    return _checked(address, "Not a deliverable email address").lower()


def sender_address(address: str) -> str:
    """A sender's address checked as a recipient's is, keeping its case, in ASCII.

    email-validator refuses special-use domains (localhost, *.test, …): no recipient can be on
    one. A sender may be (the default, no-reply@localhost, mails the demo's catcher; tests send
    from *.test), so such a domain is checked as the same labels under `test`, the one
    special-use name its test environment lets through.
    """
    domain = address.rpartition("@")[2].lower()
    special = any(
        domain == name or domain.endswith(f".{name}")
        for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    )
    under = ".test" if special else ""
    checked = _checked(
        address + under,
        "not an address mail can be sent from",
        globally_deliverable=False,
        test_environment=True,
    )
    return checked.removesuffix(under)


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


# Numbers that cost more than an SMS, or whose SMS pays a third party: the types SMS pumping
# (toll fraud) registers in bulk. Fixed lines are refused by normalise_phone, since no SMS
# reaches them; toll-free and VoIP numbers, which real people text from, are not refused.
_COSTLY = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.UAN: "a universal access number",
    phonenumbers.PhoneNumberType.PAGER: "a pager",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
}
# phonenumbers' region of the calling codes of no country: satellite and international networks
# (+870, +881, +882, +883), international freephone, shared-cost and premium (+800, +808, +979).
NON_GEOGRAPHIC = "001"


def costly(e164: str) -> str | None:
    """Why Outpost sends no SMS to this E.164 number, which can take one but may cost more than
    one (a premium-rate, shared-cost, UAN, pager, voicemail, personal or non-geographic
    number); None for a number an SMS costs no more than an SMS."""
    number = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(number) == NON_GEOGRAPHIC:
        return "A satellite or international network number cannot receive SMS here."
    kind = _COSTLY.get(phonenumbers.number_type(number))
    return f"This service sends no SMS to {kind}." if kind else None


# Why an SMS goes to no number of a region left out of SMS_ALLOWED_REGIONS: the same words for all.
REGION_REFUSED = "This service sends no SMS to numbers of this region."


def sms_refusal(e164: str, allowed_regions: frozenset[str] | None) -> str | None:
    """Why Outpost sends no SMS to this E.164 number: it may cost more than one (`costly`), or
    its region is not among `allowed_regions` (None: any); None when an SMS may go."""
    refusal = costly(e164)
    if refusal is None and allowed_regions is not None:
        return None if phone_region(e164) in allowed_regions else REGION_REFUSED
    return refusal


def phone_region(e164: str) -> str:
    """The ISO 3166 alpha-2 region of an E.164 number: `001` if non-geographic, `ZZ` if none."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return phonenumbers.UNKNOWN_REGION
    return phonenumbers.region_code_for_number(number) or phonenumbers.UNKNOWN_REGION


def normalise_address(text: str) -> str:
    """An email address or an E.164 number (what a message goes to) in its one stored form."""
    text = text.strip()
    if "@" in text:
        return normalise_email(text)
    if text.startswith("+"):
        return normalise_phone(text, None)
    raise AddressError(f"Must be an email address or an E.164 number such as {E164_EXAMPLE}.")


def hint(address: str) -> str:
    """Enough of an address for its owner to know it, little for anyone else: `a***@example.com`,
    `+*********78` (asterisks: an SMS stays in the GSM alphabet); what a notice to an account's
    former address says of the new one."""
    if "@" in address:
        local, domain = address.rsplit("@", 1)
        return f"{local[:1]}***@{domain}"
    return address[:1] + "*" * max(len(address) - 3, 0) + address[-2:]
