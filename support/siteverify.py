"""A real HTTP server standing in for a CAPTCHA provider's `siteverify` endpoint, built to the
providers' published request and answers: Cloudflare Turnstile (POST
/turnstile/v0/siteverify), hCaptcha (POST /siteverify) and Google reCAPTCHA (POST
/recaptcha/api/siteverify) each take the form fields `secret` and `response` and answer JSON
`{"success": bool, "error-codes": [...]}`, reCAPTCHA v3 adding the token's `score` and
`action`; a token verifies once (Turnstile and reCAPTCHA then say `timeout-or-duplicate`,
hCaptcha `already-seen-response`)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from shared.settings.captcha_url import CaptchaKind
from support.http_stand_in import Answer, GatewayRequest, HttpStandIn

PATHS = {
    CaptchaKind.TURNSTILE: "/turnstile/v0/siteverify",
    CaptchaKind.HCAPTCHA: "/siteverify",
    CaptchaKind.RECAPTCHA: "/recaptcha/api/siteverify",
}
_DUPLICATE = {
    CaptchaKind.TURNSTILE: "timeout-or-duplicate",
    CaptchaKind.HCAPTCHA: "already-seen-response",
    CaptchaKind.RECAPTCHA: "timeout-or-duplicate",
}


class SiteVerify(HttpStandIn):
    """One provider's siteverify, knowing `secret` and the tokens its widget handed out
    (`token()`); `script = ["hang"]` answers only after `hang_seconds`."""

    def __init__(self, kind: CaptchaKind, secret: str, hang_seconds: float = 6.0) -> None:
        super().__init__(200, hang_seconds)
        self.kind = kind
        self.secret = secret
        # Each token handed out, with the score a reCAPTCHA v3 widget gave it, if any.
        self._issued: dict[str, float | None] = {}
        self._spent: set[str] = set()
        self._lock = threading.Lock()

    @property
    def captcha_url(self) -> str:
        """CAPTCHA_URL pointing at this stand-in."""
        return f"{self.kind.value}://{self.secret}@127.0.0.1:{self.port}"

    def token(self, score: float | None = None) -> str:
        """A token the widget gave a person who passed the check: verifies once; with a
        `score`, a reCAPTCHA v3 token whose answer carries it."""
        token = f"{self.kind.value}-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._issued[token] = score
        return token

    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The provider's verdict on the form posted."""
        if request.method != "POST" or request.path != PATHS[self.kind]:
            return Answer(404, {"error": "not found"})
        form = request.form
        if not form.get("secret"):
            return _refused("missing-input-secret")
        if form["secret"] != self.secret:
            return _refused("invalid-input-secret")
        token = form.get("response", "")
        if not token:
            return _refused("missing-input-response")
        with self._lock:
            if token in self._spent:
                return _refused(_DUPLICATE[self.kind])
            if token not in self._issued:
                return _refused("invalid-input-response")
            score = self._issued.pop(token)
            self._spent.add(token)
        passed: dict[str, Any] = {
            "success": True,
            "challenge_ts": "2026-11-25T05:00:00Z",
            "hostname": "127.0.0.1",
            "error-codes": [],
        }
        if score is not None:
            passed |= {"score": score, "action": "signup"}
        return Answer(200, passed)


def _refused(code: str) -> Answer:
    return Answer(200, {"success": False, "error-codes": [code]})
