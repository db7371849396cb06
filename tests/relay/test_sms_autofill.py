"""SMS that fills itself in: with WEBOTP_DOMAIN every SMS carrying a code ends with the WebOTP
line `@domain #CODE`, with SMS_APP_HASH Android's hash ends it; other SMS carry neither, and a
bad value stops both processes at start naming its variable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.messaging.sms_autofill import SmsAutofill
from shared.messaging.sms_segments import segments
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY, MakeRelay
from support.rows import rows
from support.sms_gateway import SmsGateway

PHONE = "+33612345678"
PASSWORD = "correct horse battery staple"
APP_HASH = "FA+9qCX9VSu"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """A real HTTP server standing in for the SMS gateway."""
    with SmsGateway(mode=202) as server:
        yield server


def texted(
    client: FlaskClient, make_relay: MakeRelay, gateway: SmsGateway, autofill: SmsAutofill
) -> tuple[str, str]:
    """Register by phone and send the activation SMS through a relay with `autofill`: the
    SMS's body and the code it carries."""
    registered = client.post("/v1/registrations", json={"phone": PHONE, "password": PASSWORD})
    assert registered.status_code == 202
    relay = make_relay(sms_url=f"{gateway.url}/sms", sms_autofill=autofill)
    [row] = rows(relay.engine, "outbox")
    code: str = SecretBox(relay.settings.secret_key).open(row["secret_params"])["code"]
    assert relay.drain() == 1
    [request] = gateway.requests
    body: str = request.json["body"]
    return body, code


def test_with_webotp_domain_a_texted_codes_last_line_is_the_webotp_line(
    client: FlaskClient, make_relay: MakeRelay, gateway: SmsGateway
) -> None:
    autofill = SmsAutofill(webotp_domain="app.example.com")
    body, code = texted(client, make_relay, gateway, autofill)
    text, last = body.rsplit("\n", 1)
    assert last == f"@app.example.com #{code}"
    assert f"activation code is {code}" in text and "\n" not in text
    assert segments(body).count == 1


def test_with_both_the_app_hash_ends_the_webotp_line(
    client: FlaskClient, make_relay: MakeRelay, gateway: SmsGateway
) -> None:
    autofill = SmsAutofill(webotp_domain="app.example.com", app_hash=APP_HASH)
    body, code = texted(client, make_relay, gateway, autofill)
    assert body.splitlines()[-1] == f"@app.example.com #{code} {APP_HASH}"
    assert segments(body).count == 1


def test_with_the_app_hash_alone_it_ends_the_message_on_a_line_of_its_own(
    client: FlaskClient, make_relay: MakeRelay, gateway: SmsGateway
) -> None:
    body, code = texted(client, make_relay, gateway, SmsAutofill(app_hash=APP_HASH))
    text, last = body.rsplit("\n", 1)
    assert last == APP_HASH and code in text and "@" not in body


def test_an_sms_without_a_code_carries_neither(
    client: FlaskClient, make_relay: MakeRelay, gateway: SmsGateway, engine: Engine
) -> None:
    autofill = SmsAutofill(webotp_domain="app.example.com", app_hash=APP_HASH)
    _, code = texted(client, make_relay, gateway, autofill)
    activated = client.post("/v1/activations", json={"phone": PHONE, "code": code})
    assert activated.status_code == 200
    relay = make_relay(sms_url=f"{gateway.url}/sms", sms_autofill=autofill)
    assert relay.drain() == 1
    welcome = gateway.requests[-1].json["body"]
    assert "Welcome" in welcome or "welcome" in welcome
    assert "@app.example.com" not in welcome and APP_HASH not in welcome
    assert "\n" not in welcome


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBOTP_DOMAIN", "https://app.example.com"),
        ("WEBOTP_DOMAIN", "app.example.com:8443"),
        ("WEBOTP_DOMAIN", "app.example.com/verify"),
        ("WEBOTP_DOMAIN", "-app.example.com"),
        ("WEBOTP_DOMAIN", "app..example.com"),
        ("WEBOTP_DOMAIN", "app_example.com"),
        ("SMS_APP_HASH", APP_HASH[:10]),
        ("SMS_APP_HASH", APP_HASH + "x"),
        ("SMS_APP_HASH", APP_HASH[:10] + "!"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, name: value})
    message = str(refused.value)
    assert message.startswith(f"{name}: ") and repr(value) in message, message


def test_good_values_are_read_the_domain_in_lower_case() -> None:
    env = {"SECRET_KEY": SECRET_KEY, "WEBOTP_DOMAIN": "App.Example.com", "SMS_APP_HASH": APP_HASH}
    assert Settings.from_env(env).sms_autofill == SmsAutofill("app.example.com", APP_HASH)
    assert Settings.from_env({"SECRET_KEY": SECRET_KEY}).sms_autofill == SmsAutofill()


def test_the_relay_and_the_api_stop_at_start_naming_a_bad_hash(
    env: dict[str, str], tmp_path: Path
) -> None:
    [line], log = processes.refused_at_start({**env, "SMS_APP_HASH": "short"}, tmp_path)
    assert line.startswith("outbox-relay: configuration error: SMS_APP_HASH: "), line
    assert "outpost-api: configuration error: SMS_APP_HASH: " in log
    assert re.search(r"11-character", line) and "Traceback" not in log
