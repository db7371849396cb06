"""No secret shows in a repr of the settings or of the URLs they parsed (spec: "Secrets stay
secret"): an error reporter that captures locals ships whatever those reprs hold."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy.engine import make_url

from shared.settings.config import Settings
from support.processes import ROOT

WEBHOOK_KEY = b"webhook-key-SECRET-0123456789"
# Every secret holds SECRET, in capitals, which nothing else in a repr does.
SECRETS = {
    "SECRET_KEY": "key-SECRET-0123456789",
    "SECRET_KEY_FALLBACKS": "fallback-SECRET-one-0123,fallback-SECRET-two-0123",
    "ADMIN_TOKEN": "admin-SECRET-0123456789abcdefghijklmn",
    "PROVIDER_EVENTS_TOKEN": "events-SECRET-0123456789",
    "SMTP_URL": "smtp://mailer:smtp-SECRET-one@smtp.example.com:587",
    "SMTP_FALLBACK_URL": "smtps://mailer:smtp-SECRET-two@smtp2.example.com",
    "DATABASE_URL": "postgresql://app:database-SECRET-one@db.example.com/outpost",
    "MIGRATE_DATABASE_URL": "postgresql://owner:database-SECRET-two@db.example.com/outpost",
    "RELAY_LISTEN_URL": "postgresql://app:database-SECRET-three@db.example.com/outpost",
    "SMS_URL": "twilio://AC0123:twilio-SECRET@api.twilio.com?from=%2B33612345678",
    "SMS_FALLBACK_URL": "vonage://key0123:vonage-SECRET@rest.nexmo.com?from=Outpost",
    "SMS_TOKEN": "sms-SECRET-0123456789",
    "WEBHOOK_URL": "https://hooks:webhook-url-SECRET@hooks.example.com/outpost",
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(WEBHOOK_KEY).decode(),
    "CAPTCHA_URL": "recaptcha://captcha-SECRET@www.google.com",
}
GATEWAY = {
    "SECRET_KEY": SECRETS["SECRET_KEY"],
    "SMS_URL": "https://gateway:gateway-SECRET@sms.example.com/send?key=gateway-key-SECRET",
    "SMS_REQUEST_TEMPLATE": str(ROOT / "examples" / "sms" / "africastalking.form"),
    "SMS_HEADERS": "apiKey: ${AT_API_KEY}",
    "AT_API_KEY": "header-SECRET-0123456789",
}


def configured() -> Settings:
    return Settings.from_env({**SECRETS, "SMS_ALLOWED_REGIONS": "FR"})


def test_the_settings_repr_holds_no_secret() -> None:
    settings = configured()
    assert settings.secret_key_fallbacks and settings.webhook_secret == WEBHOOK_KEY
    assert "SECRET" not in repr(settings)


@pytest.mark.parametrize("variable", ["SMTP_URL", "SMTP_FALLBACK_URL"])
def test_the_smtp_settings_repr_holds_no_password(variable: str) -> None:
    settings = configured()
    smtp = settings.smtp if variable == "SMTP_URL" else settings.smtp_fallback
    assert smtp is not None and smtp.password is not None and "SECRET" in smtp.password
    assert "SECRET" not in repr(smtp)


def test_the_sms_providers_captcha_and_database_url_reprs_hold_no_secret() -> None:
    settings = configured()
    parsed = [
        settings.sms,
        settings.sms_fallback,
        settings.captcha,
        make_url(settings.database_url),
        make_url(settings.migrate_database_url),
    ]
    for url in parsed:
        assert url is not None
        assert "SECRET" not in repr(url), url.__class__.__name__


def test_a_gateways_url_and_headers_stay_out_of_every_repr() -> None:
    settings = Settings.from_env({**GATEWAY, "SMS_ALLOWED_REGIONS": "KE"})
    assert settings.sms is not None and "gateway-SECRET" in settings.sms.endpoint
    assert settings.sms_request is not None
    assert "SECRET" not in repr(settings) and "SECRET" not in repr(settings.sms)
