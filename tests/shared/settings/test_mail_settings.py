"""MAIL_URL and MAIL_FALLBACK_URL (spec: their row of the configuration): they fill SMTP's two
slots, one variable a slot; their providers' keys in no repr; an SMTP primary with an API
fallback, and the reverse, both hold."""

from __future__ import annotations

import pytest

from shared.mail_providers.spec import MailApi
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from shared.settings.smtp_url import SmtpSettings
from support.constants import SECRET_KEY

POSTMARK = "postmark://postmark-SECRET-token@api.postmarkapp.com"
SES = "ses://AKIAOUTPOST:ses%2FSECRET%2Bkey@email.eu-west-1.amazonaws.com"
SMTP = "smtp://mailer:smtp-SECRET@smtp.example.com:587"


def settings(**environ: str) -> Settings:
    return Settings.from_env({"SECRET_KEY": SECRET_KEY, **environ})


def test_an_api_primary_fills_smtps_slot_and_shows_no_key() -> None:
    read = settings(MAIL_URL=POSTMARK, MAIL_FALLBACK_URL=SES)
    assert read.mail_provider == MailApi(
        "postmark", "https://api.postmarkapp.com", "postmark-SECRET-token", stream="outbound"
    )
    fallback = read.mail_fallback_provider
    assert isinstance(fallback, MailApi) and fallback.key == "ses/SECRET+key"
    assert (fallback.account, fallback.region) == ("AKIAOUTPOST", "eu-west-1")
    assert "SECRET" not in repr(read) + repr(read.mail_provider) + repr(fallback)


def test_an_smtp_primary_takes_an_api_fallback_and_the_reverse() -> None:
    smtp_first = settings(SMTP_URL=SMTP, MAIL_FALLBACK_URL=POSTMARK)
    assert isinstance(smtp_first.mail_provider, SmtpSettings)
    assert isinstance(smtp_first.mail_fallback_provider, MailApi)
    api_first = settings(MAIL_URL=POSTMARK, SMTP_FALLBACK_URL=SMTP)
    assert isinstance(api_first.mail_provider, MailApi)
    assert isinstance(api_first.mail_fallback_provider, SmtpSettings)
    # MAIL_URL may name SMTP too: the registry reads smtp:// as SMTP_URL does.
    assert settings(MAIL_URL=SMTP).mail_provider == settings(SMTP_URL=SMTP).smtp


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"SMTP_URL": SMTP, "MAIL_URL": POSTMARK}, "MAIL_URL: the same slot as SMTP_URL"),
        (
            {"SMTP_FALLBACK_URL": SMTP, "MAIL_FALLBACK_URL": POSTMARK},
            "MAIL_FALLBACK_URL: the same slot as SMTP_FALLBACK_URL",
        ),
    ],
)
def test_a_slot_filled_twice_stops_the_start_in_one_line(
    environ: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(**environ)
    assert str(refused.value).startswith(said) and "SECRET" not in str(refused.value)


def test_an_unknown_scheme_names_those_registered() -> None:
    with pytest.raises(ConfigError) as refused:
        settings(MAIL_URL="mandrill://key-SECRET@mandrillapp.com")
    assert "postmark://" in str(refused.value) and "SECRET" not in str(refused.value)


def test_an_api_sends_within_the_lease() -> None:
    read = settings(MAIL_URL=POSTMARK)
    assert read.longest_send == 30.0 < read.relay_lease_seconds
