"""A gateway of its own API through SMS_REQUEST_TEMPLATE and SMS_HEADERS (spec: the
configuration table): Africa's Talking, the docs' worked example, against a stand-in built to
its documentation through the relay end to end; the template's variables and encodings; and the
configuration refused at start in one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.models import outbox
from shared.settings import env_file
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.africastalking_api import API_KEY, PATH, RECIPIENT, USERNAME, AfricasTalkingApi
from support.constants import MakeRelay
from support.processes import ROOT
from support.rows import rows
from support.sms_gateway import SmsGateway

EXAMPLE = ROOT / "examples" / "sms" / "africastalking.form"
PHONE = "+254712345678"  # a Kenyan mobile number
HEADERS = "apiKey: ${AT_API_KEY}\nAccept: application/json"


@pytest.fixture
def at() -> Iterator[AfricasTalkingApi]:
    """A real HTTP server built to Africa's Talking's SMS API, on a free port."""
    with AfricasTalkingApi() as api:
        yield api


def templated(env: dict[str, str], url: str, **more: str) -> Settings:
    """Settings read as an operator writes them: the example template, SMS_HEADERS naming an
    environment variable, and that variable."""
    return Settings.from_env(
        {
            **env,
            "SMS_URL": url,
            "SMS_ALLOWED_REGIONS": "KE",
            "SMS_REQUEST_TEMPLATE": str(EXAMPLE),
            "SMS_HEADERS": HEADERS,
            "AT_API_KEY": API_KEY,
            **more,
        }
    )


def relay_for(make_relay: MakeRelay, settings: Settings) -> Relay:
    return make_relay(sms_url=settings.sms_url, sms_request=settings.sms_request)


def register(client: FlaskClient) -> str:
    body = {"phone": PHONE, "password": "correct horse battery staple"}
    response = client.post("/v1/registrations", json=body)
    assert response.status_code == 202, response.get_json()
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def the_row(engine: Engine) -> dict[str, Any]:
    [row] = rows(engine, "outbox")
    return row


def outcomes(engine: Engine) -> list[str]:
    return [str(a["outcome"]) for a in rows(engine, "outbox_attempts")]


def test_a_registration_reaches_africas_talking_as_its_documentation_says(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    env: dict[str, str],
    at: AfricasTalkingApi,
) -> None:
    relay = relay_for(make_relay, templated(env, at.url + PATH))
    delivery_id = register(client)
    assert relay.drain() == 1
    [request] = at.requests
    assert at.problems == []
    assert (request.method, request.path) == ("POST", PATH)
    # SMS_HEADERS, its ${AT_API_KEY} read from the environment.
    assert request.header("apiKey") == API_KEY
    assert request.header("Accept") == "application/json"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.form == {"username": USERNAME, "to": PHONE, "message": request.form["message"]}
    assert re.search(r"\b\d{6}\b", request.form["message"])
    row = the_row(engine)
    assert (row["public_id"], row["status"], row["attempts"]) == (delivery_id, "sent", 1)
    assert outcomes(engine) == ["sent"]
    assert client.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


@pytest.mark.parametrize(
    ("api_key", "script", "status", "outcome", "error"),
    [
        # A wrong key (the ${VAR}'s value): the gateway's own failure, paused, the row waits.
        ("atsk_revoked", [], "pending", "provider_down", "HTTP 401 Unauthorized"),
        # Any other 4xx refuses this message for good.
        (API_KEY, [400], "dead", "permanent", "HTTP 400 Bad Request"),
    ],
    ids=["401-wrong-key", "400"],
)
def test_a_4xx_is_judged_as_the_gateway_contract_judges_it(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    env: dict[str, str],
    at: AfricasTalkingApi,
    api_key: str,
    script: list[int],
    status: str,
    outcome: str,
    error: str,
) -> None:
    at.script = list(script)
    relay = relay_for(make_relay, templated(env, at.url + PATH, AT_API_KEY=api_key))
    register(client)
    assert relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["last_error"]) == (status, error)
    assert outcomes(engine) == [outcome]
    assert [r.header("apiKey") for r in at.requests] == [api_key]


def test_a_5xx_is_retried_with_the_same_request(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    env: dict[str, str],
    at: AfricasTalkingApi,
) -> None:
    at.script = [503]
    relay = relay_for(make_relay, templated(env, at.url + PATH))
    register(client)
    assert relay.drain() == 1
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "pending",
        1,
        "HTTP 503 Service Unavailable",
    )
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    assert relay.drain() == 1
    assert the_row(engine)["status"] == "sent"
    assert outcomes(engine) == ["transient", "sent"]
    first, second = at.requests
    assert first.body == second.body and at.problems == []


def test_a_number_refused_inside_a_201_is_taken_as_sent_as_the_contract_says(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    env: dict[str, str],
    at: AfricasTalkingApi,
) -> None:
    """Africa's Talking answers a refused number (403 InvalidPhoneNumber) inside a 201: any 2xx
    is success (docs/sms.md says what that leaves out)."""
    at.script = [RECIPIENT + 403]
    relay = relay_for(make_relay, templated(env, at.url + PATH))
    register(client)
    assert relay.drain() == 1
    assert the_row(engine)["status"] == "sent" and at.problems == []


@pytest.mark.parametrize(
    "source",
    [
        '{"msisdn": {{ to_digits }}, "local": {{ to_national }}, "e164": {{ to }},\n'
        ' "text": {{ "Outpost: " ~ body }}, "ref": {{ id }}, "parts": {{ segments }}}\n',
        # Jinja's own `| tojson`, as an adopter writes it: honoured, never encoded twice.
        '{"msisdn": {{ to_digits | tojson }}, "local": {{ to_national | tojson }},\n'
        ' "e164": {{ to | tojson }}, "text": {{ ("Outpost: " ~ body) | tojson }},\n'
        ' "ref": {{ id | tojson }}, "parts": {{ segments | tojson }}}\n',
    ],
    ids=["bare", "tojson"],
)
def test_a_json_template_gets_every_variable_encoded_for_json_once(
    client: FlaskClient,
    make_relay: MakeRelay,
    engine: Engine,
    env: dict[str, str],
    tmp_path: Path,
    source: str,
) -> None:
    template = tmp_path / "gateway.json"
    template.write_text(source)
    gateway = SmsGateway()
    gateway.start()
    try:
        settings = templated(
            env,
            gateway.url + "/send",
            SMS_REQUEST_TEMPLATE=str(template),
            SMS_HEADERS="Authorization: Bearer ${GW_TOKEN}",
            GW_TOKEN="gw-token-42",
        )
        relay = relay_for(make_relay, settings)
        delivery_id = register(client)
        assert relay.drain() == 1
        [request] = gateway.requests
    finally:
        gateway.stop()
    assert request.header("Content-Type") == "application/json"
    assert request.header("Authorization") == "Bearer gw-token-42"
    text = request.json["text"]
    assert request.json == {
        "msisdn": PHONE.removeprefix("+"),
        "local": "0712345678",
        "e164": PHONE,
        "text": text,
        "ref": delivery_id,
        "parts": 1,
    }
    assert text.startswith("Outpost: ") and the_row(engine)["status"] == "sent"


SECRET = "hunter2-at-key"


@pytest.mark.parametrize(
    ("changes", "variable", "says"),
    [
        ({"SMS_REQUEST_TEMPLATE": "/nowhere/at.form"}, "SMS_REQUEST_TEMPLATE", "cannot be read"),
        ({"SMS_REQUEST_TEMPLATE": "{dir}/at.txt"}, "SMS_REQUEST_TEMPLATE", ".json or .form"),
        ({"SMS_REQUEST_TEMPLATE": "{dir}/broken.form"}, "SMS_REQUEST_TEMPLATE", "broken.form:1: "),
        ({"SMS_REQUEST_TEMPLATE": "{dir}/unknown.form"}, "SMS_REQUEST_TEMPLATE", "'recipient'"),
        ({"SMS_REQUEST_TEMPLATE": "{dir}/quoted.json"}, "SMS_REQUEST_TEMPLATE", "not JSON"),
        ({"SMS_HEADERS": "apiKey: ${AT_MISSING}"}, "SMS_HEADERS", "${AT_MISSING} is not set"),
        ({"SMS_HEADERS": "apiKey ${AT_API_KEY}"}, "SMS_HEADERS", "`Name: value`"),
        ({"SMS_REQUEST_TEMPLATE": ""}, "SMS_HEADERS", "needs SMS_REQUEST_TEMPLATE"),
        ({"SMS_URL": "log:"}, "SMS_REQUEST_TEMPLATE", "needs an https:// SMS_URL"),
    ],
)
def test_a_bad_template_or_header_stops_the_start_in_one_line_without_the_secret(
    env: dict[str, str], tmp_path: Path, changes: dict[str, str], variable: str, says: str
) -> None:
    files = {
        "at.txt": "to={{ to }}",
        "broken.form": "to={{ to }}}&message={{ body",
        "unknown.form": "to={{ recipient }}",
        "quoted.json": '{"to": "{{ to }}"}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    changed = {k: v.replace("{dir}", str(tmp_path)) for k, v in changes.items()}
    with pytest.raises(ConfigError) as refused:
        templated(env, "https://api.africastalking.com" + PATH, AT_API_KEY=SECRET, **changed)
    message = str(refused.value)
    assert message.startswith(f"{variable}: ") and says in message, message
    assert "\n" not in message and SECRET not in message


def test_the_resolved_headers_stay_out_of_the_settings_repr(env: dict[str, str]) -> None:
    settings = templated(env, "https://api.africastalking.com" + PATH, AT_API_KEY=SECRET)
    assert settings.sms is not None and settings.sms.kind == "template"
    assert settings.sms_request is not None
    assert ("apiKey", SECRET) in settings.sms_request.headers
    assert SECRET not in repr(settings) and SECRET not in str(settings.sms_request)


def test_the_docs_env_file_reads_into_these_headers(env: dict[str, str], tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "sms.md").read_text()
    block = re.search(r"```\n(SMS_URL=https://api\.africastalking\.com.*?)```", docs, re.S)
    assert block is not None
    (tmp_path / "outpost.env").write_text(block.group(1))
    read = env_file.read(tmp_path / "outpost.env")
    read.update(SMS_REQUEST_TEMPLATE=str(EXAMPLE), AT_API_KEY=SECRET)
    settings = Settings.from_env({**env, **read})
    assert settings.sms_request is not None and settings.sms_request.headers == (
        ("apiKey", SECRET),
        ("Accept", "application/json"),
    )
    example = EXAMPLE.read_text()
    assert "username=sandbox&to={{ to }}&message={{ body }}" in docs and example.endswith(
        "username=sandbox&to={{ to }}&message={{ body }}\n"
    )
