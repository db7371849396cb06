"""CAPTCHA_URL read: which human check, and where its provider's documented siteverify request
goes (Cloudflare Turnstile, hCaptcha, Google reCAPTCHA), with what secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from shared.settings.config_values import loopback


class CaptchaKind(StrEnum):
    """Whose human check: each answers the same `siteverify` form (`secret`, `response`,
    `remoteip`) with `success` and `error-codes`."""

    TURNSTILE = "turnstile"
    HCAPTCHA = "hcaptcha"
    RECAPTCHA = "recaptcha"


# Each provider's documented verification path: Turnstile's "Validate the token" (server-side
# validation), hCaptcha's "Verify the user response server side", reCAPTCHA's "Verifying the
# user's response".
_PATHS = {
    CaptchaKind.TURNSTILE: "/turnstile/v0/siteverify",
    CaptchaKind.HCAPTCHA: "/siteverify",
    CaptchaKind.RECAPTCHA: "/recaptcha/api/siteverify",
}
_HOSTS = {
    CaptchaKind.TURNSTILE: "challenges.cloudflare.com",
    CaptchaKind.HCAPTCHA: "api.hcaptcha.com",
    CaptchaKind.RECAPTCHA: "www.google.com",
}


@dataclass(frozen=True)
class Captcha:
    """The human check: whose, the URL its tokens are verified at, and the secret."""

    kind: CaptchaKind
    verify_url: str
    secret: str = field(repr=False)


def parse_captcha_url(value: str) -> Captcha | None:
    """`turnstile://SECRET@challenges.cloudflare.com` and the like; None when unset. The host
    (and port) is where the request goes, over HTTPS, or plain HTTP to a loopback host (the
    tests' stand-ins); ValueError saying what is wanted, never echoing the secret."""
    if not value:
        return None
    parts = urlsplit(value)
    try:
        kind = CaptchaKind(parts.scheme)
    except ValueError:
        raise ValueError(
            "must be turnstile://SECRET@challenges.cloudflare.com, "
            "hcaptcha://SECRET@api.hcaptcha.com or recaptcha://SECRET@www.google.com"
        ) from None
    if not parts.hostname:
        raise ValueError(f"{kind}:// needs the provider's host, e.g. {_HOSTS[kind]}")
    if not parts.username or parts.password is not None:
        raise ValueError(f"{kind}:// needs the secret key before the host: {kind}://SECRET@host")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{kind}:// takes no path or parameters: the host is where it goes")
    scheme = "http" if loopback(parts.hostname) else "https"
    host = parts.netloc.rpartition("@")[2]
    return Captcha(kind, f"{scheme}://{host}{_PATHS[kind]}", unquote(parts.username))
