"""What lets a phone fill in a texted code by itself: WebOTP's `@domain #code` line (browsers)
and Android's SMS Retriever app hash, ending every SMS that carries a code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmsAutofill:
    """WEBOTP_DOMAIN and SMS_APP_HASH; neither set, an SMS goes as its template renders."""

    webotp_domain: str | None = None
    app_hash: str | None = None

    def ended(self, text: str, code: str | None) -> str:
        """`text` as sent: with a code, a last line `@WEBOTP_DOMAIN #CODE`, the app hash after it.

        The origin-bound code format (WICG sms-one-time-codes) wants that line last; Chrome finds
        it by `@domain #code` between blanks, and the SMS Retriever by the hash at the end.
        """
        if code is None:
            return text
        last = [f"@{self.webotp_domain} #{code}"] if self.webotp_domain else []
        last += [self.app_hash] if self.app_hash else []
        return f"{text}\n{' '.join(last)}" if last else text


NO_AUTOFILL = SmsAutofill()
