"""The human check (CAPTCHA_URL): the token a widget gave the client, verified with its
provider's documented `siteverify` request before anything of the request is done."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswer
from typing import Any

import httpx

from api_service.flows.errors import HumanCheckFailed, HumanCheckUnavailable
from shared.settings.captcha_url import Captcha, CaptchaKind

log = logging.getLogger(__name__)

# Longest a request waits for the provider's verdict (SPEC): past it, 503 with Retry-After.
CAPTCHA_SECONDS = 3.0
# Error codes that say our configuration is wrong, not the client's token (Turnstile's,
# hCaptcha's and reCAPTCHA's documented codes): the client can do nothing about them.
_OUR_FAULT = frozenset(
    {"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch", "internal-error"}
)
# Error codes of a token that was good once: spent (each token verifies once) or too old.
_SPENT = frozenset({"timeout-or-duplicate", "already-seen-response", "expired-input-response"})
MISSING = "Required when the service asks for a human check: the widget's response."
SPENT = "This human check was already used or has expired; complete it again."
REFUSED = "The human check was not passed; complete it again."


class HumanCheck:
    """Verifies tokens with one provider; the request itself runs on a worker thread so that
    its whole time, connection included, is bounded by CAPTCHA_SECONDS."""

    def __init__(self, captcha: Captcha, min_score: float) -> None:
        self._captcha = captcha
        self._min_score = min_score
        self._client = httpx.Client(timeout=CAPTCHA_SECONDS)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="captcha")

    def verify(self, token: str | None) -> None:
        """Nothing if the provider passes `token`; else HumanCheckFailed (the client's:
        missing, refused, spent) or HumanCheckUnavailable (the provider's, or ours)."""
        if not token:
            raise HumanCheckFailed(MISSING)
        future = self._pool.submit(self._siteverify, token)
        try:
            answer = future.result(timeout=CAPTCHA_SECONDS)
        except NoAnswer:
            log.warning("human check unanswered", extra={"provider": self._captcha.kind.value})
            raise HumanCheckUnavailable() from None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "human check failed",
                extra={"provider": self._captcha.kind.value, "error": type(exc).__name__},
            )
            raise HumanCheckUnavailable() from None
        if answer.get("success") is True and self._scored_enough(answer):
            return
        codes = set(answer.get("error-codes") or [])
        if codes & _OUR_FAULT:
            log.error(
                "CAPTCHA_URL: the provider refused the configuration",
                extra={"provider": self._captcha.kind.value, "codes": sorted(codes)},
            )
            raise HumanCheckUnavailable()
        raise HumanCheckFailed(SPENT if codes & _SPENT else REFUSED)

    def _scored_enough(self, answer: dict[str, Any]) -> bool:
        """Whether reCAPTCHA v3's score, when the answer carries one, reaches CAPTCHA_MIN_SCORE.
        Only reCAPTCHA's is read: hCaptcha Enterprise's `score` is a risk, higher the worse."""
        score = answer.get("score")
        if self._captcha.kind != CaptchaKind.RECAPTCHA or score is None:
            return True
        return isinstance(score, int | float) and score >= self._min_score

    def _siteverify(self, token: str) -> dict[str, Any]:
        """The provider's verdict: its documented form POST, its JSON answer."""
        form = {"secret": self._captcha.secret, "response": token}
        response = self._client.post(self._captcha.verify_url, data=form)
        response.raise_for_status()
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError("siteverify answered no JSON object")
        return answer
