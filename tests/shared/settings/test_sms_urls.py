"""SMS_URL and SMS_FALLBACK_URL: each provider read once at start, errors naming the variable."""

from __future__ import annotations

import pytest

from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from shared.settings.sms_url import parse_sms_url
from shared.sms_providers.spec import SmsProvider
from support.constants import SECRET_KEY

SID = "AC" + "0" * 32
SERVICE = "MG" + "f" * 32


@pytest.mark.parametrize(
    ("url", "read"),
    [
        ("log:", SmsProvider("log", "")),
        ("https://sms.example/send", SmsProvider("gateway", "https://sms.example/send")),
        ("http://127.0.0.1:8025/sms", SmsProvider("gateway", "http://127.0.0.1:8025/sms")),
        (
            f"twilio://{SID}:tok%2Fen@api.twilio.com?from=+33612345678",
            SmsProvider("twilio", "https://api.twilio.com", SID, "tok/en", sender="+33612345678"),
        ),
        (
            f"twilio://{SID}:token@api.twilio.com?from=%2B33612345678",
            SmsProvider("twilio", "https://api.twilio.com", SID, "token", "+33612345678"),
        ),
        (
            f"twilio://{SID}:token@127.0.0.1:8099?messaging_service_sid={SERVICE}",
            SmsProvider(
                "twilio",
                "http://127.0.0.1:8099",
                SID,
                "token",
                messaging_service_sid=SERVICE,
            ),
        ),
        (
            "vonage://key:secret@rest.nexmo.com?from=Outpost",
            SmsProvider("vonage", "https://rest.nexmo.com", "key", "secret", "Outpost"),
        ),
    ],
)
def test_each_provider_is_read_from_its_url(url: str, read: SmsProvider) -> None:
    assert parse_sms_url(url) == read


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://sms.example", "must be twilio://, vonage://"),
        ("http://sms.example/send", "loopback host only"),
        (f"twilio://{SID}:hunter2secret@api.twilio.com", "from=+E164 or messaging_service_sid"),
        ("twilio://api.twilio.com?from=+33612345678", "ACCOUNT_SID:AUTH_TOKEN"),
        (f"twilio://{SID}:hunter2secret@api.twilio.com?from=+33&x=1", "unknown parameter(s) x"),
        (f"twilio://{SID}:hunter2secret@api.twilio.com?from=a%20very%20long%20name", "sender ID"),
        (
            f"twilio://{SID}:hunter2secret@h?from=+33612345678&messaging_service_sid={SERVICE}",
            "from=+E164 or messaging_service_sid",
        ),
        (f"twilio://{SID}:hunter2secret@h?messaging_service_sid=MG1", "32 hex digits"),
        ("vonage://key:hunter2secret@rest.nexmo.com", "from=…"),
        ("vonage://rest.nexmo.com?from=Outpost", "API_KEY:API_SECRET"),
    ],
)
def test_a_bad_url_is_refused_naming_the_variable_and_never_its_secret(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "SMS_URL": url})
    message = str(refused.value)
    assert message.startswith("SMS_URL: ")
    assert says in message
    assert "hunter2secret" not in message


def test_a_fallback_is_read_alike_and_needs_a_primary() -> None:
    url = "vonage://key:secret@rest.nexmo.com?from=Outpost"
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, "SMS_URL": "log:", **_fallback(url)})
    assert settings.sms_fallback == parse_sms_url(url)
    with pytest.raises(ConfigError, match=r"^SMS_FALLBACK_URL: needs SMS_URL"):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, **_fallback(url)})
    with pytest.raises(ConfigError, match=r"^SMS_FALLBACK_URL: "):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "SMS_URL": "log:", **_fallback("ftp://x")})


def test_public_url_is_an_http_url() -> None:
    read = Settings.from_env({"SECRET_KEY": SECRET_KEY, "PUBLIC_URL": "https://api.example"})
    assert read.public_url == "https://api.example"
    with pytest.raises(ConfigError, match=r"^PUBLIC_URL: "):
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "PUBLIC_URL": "api.example"})


def _fallback(url: str) -> dict[str, str]:
    """A fallback provider, and the regions any real provider needs."""
    return {"SMS_FALLBACK_URL": url, "SMS_ALLOWED_REGIONS": "GB"}
