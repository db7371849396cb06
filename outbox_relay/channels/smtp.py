"""Email over SMTP, one connection kept open and reused across messages."""

from __future__ import annotations

import smtplib
import ssl
import time

from outbox_relay.channels import Email, Message
from outbox_relay.failures import from_smtp_error
from shared.config import SmtpSettings

# A connection idle longer than this is checked with NOOP before use: servers close idle
# sessions, and a message must not fail just because its connection went stale.
IDLE_CHECK_SECONDS = 5.0


class SmtpChannel:
    """Sends EmailMessages through one SMTP server, reconnecting after any failure."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    def send(self, message: Message) -> None:
        """Deliver one email; failures are classified by reply code."""
        assert isinstance(message, Email)
        try:
            self._connection().sendmail(message.sender, [message.recipient], message.data)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise from_smtp_error(exc) from exc
        self._last_used = time.monotonic()

    def close(self) -> None:
        """Say QUIT if the server still listens, then drop the socket."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_used > IDLE_CHECK_SECONDS:
            try:
                self._smtp.noop()
            except (smtplib.SMTPException, OSError):
                self.close()
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        smtp: smtplib.SMTP
        if s.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username is not None:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp
