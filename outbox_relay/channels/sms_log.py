"""SMS to the log, for development (`SMS_URL=log:`)."""

from __future__ import annotations

import logging
import re

from outbox_relay.channels import Message, SmsMessage

log = logging.getLogger(__name__)

# Runs of digits long enough to be a code are masked before an SMS reaches the log.
_CODE_LIKE = re.compile(r"\d{4,}")


class SmsLogChannel:
    """`SMS_URL=log:`: writes each SMS to the log with anything code-like masked."""

    def send(self, message: Message, start_by: float) -> str | None:
        """Log the SMS instead of sending it."""
        assert isinstance(message, SmsMessage)
        log.info(
            "sms id=%s to=%s body=%r",
            message.id,
            message.to,
            _CODE_LIKE.sub(lambda m: "•" * len(m.group()), message.body),
        )
        return None

    def cut(self) -> None:
        """Nothing to break off: logging does not wait."""

    def close(self) -> None:
        """Nothing to release."""
