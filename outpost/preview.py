"""A message of any purpose rendered with sample values, exactly as the relay would send it;
and the SMS segments each SMS template takes so rendered."""

from __future__ import annotations

import email
import email.policy
import secrets
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

from outbox_relay.channels import Email, SmsMessage
from outbox_relay.claims import Claimed
from outbox_relay.compose import compose
from outbox_relay.render import Templates, samples
from shared.messaging.outbox import Channel, Purpose, priority_of
from shared.messaging.sms_autofill import NO_AUTOFILL, SmsAutofill
from shared.messaging.sms_segments import Segments, segments
from shared.secrets.codes import new_link_token
from shared.secrets.secretbox import SecretBox
from shared.settings import code_link
from shared.settings.config import Settings

# More segments than this and `outpost templates check` warns: each one is billed.
MOST_SEGMENTS = 2


def preview(
    settings: Settings, templates: Templates, purpose: Purpose, locale: str, channel: Channel
) -> bytes:
    """The RFC 5322 message (email) or the text (SMS) of `purpose`, to a sample recipient."""
    box = SecretBox(secrets.token_urlsafe(32))
    params = samples(purpose)
    # A code's sample comes with a link token, which a CODE_LINK_URL with `{token}` shows.
    secret = {"code": params.pop("code"), "token": new_link_token()} if "code" in params else None
    row = Claimed(
        id=0,
        public_id=str(uuid.uuid4()),
        channel=Channel(channel),
        purpose=Purpose(purpose),
        recipient="ada@example.com" if channel == Channel.EMAIL else "+33612345678",
        locale=locale,
        template=purpose,
        params=params,
        secret_params=box.seal(secret) if secret else None,
        attempts=0,
        expires_at=None,
        locked_until=datetime.now(UTC),
        claim_token="preview",
        user_id=None,
        priority=priority_of(purpose),
    )
    link = code_link.from_setting(settings.code_link_url)
    message = compose(
        row, box, settings.mail_from, templates, code_link=link, autofill=settings.sms_autofill
    )
    if isinstance(message, Email):
        return message.data
    assert isinstance(message, SmsMessage)
    return (message.body + "\n").encode()


# What `templates preview --out FILE` writes, by FILE's extension: one part, or the message.
PARTS = {".html": "html", ".htm": "html", ".txt": "plain"}


def part_of(message: bytes, channel: Channel, suffix: str) -> bytes:
    """The part of a previewed message a file named `….suffix` should hold: the HTML or text
    part of an email, decoded, for `.html`/`.txt`; the whole message for `.eml` or any other."""
    subtype = PARTS.get(suffix.lower())
    if subtype is None or channel != Channel.EMAIL:
        if subtype == "html":
            raise ValueError("an SMS has no HTML part: use .txt")
        return message
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=(subtype,))
    if body is None:
        raise ValueError(f"the message has no text/{subtype} part")
    content: str = body.get_content()
    return content.encode()


def sms_segments(templates: Templates, autofill: SmsAutofill = NO_AUTOFILL) -> dict[str, Segments]:
    """The segments of each SMS template rendered with sample values (a 6-digit code, the
    configured PRODUCT_NAME) and ended as `autofill` ends it (WEBOTP_DOMAIN, SMS_APP_HASH), by
    its name."""
    return {
        f"{purpose}/{locale}/sms.txt": segments(_sample_sms(templates, autofill, purpose, locale))
        for purpose in Purpose
        for locale in templates.locales
    }


def _sample_sms(templates: Templates, autofill: SmsAutofill, purpose: Purpose, locale: str) -> str:
    """The SMS of `purpose` in `locale` with sample values, as it is sent."""
    params = samples(purpose)
    return autofill.ended(templates.sms(purpose, locale, params), params.get("code"))
