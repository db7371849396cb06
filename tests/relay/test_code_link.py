"""CODE_LINK_URL: activation and password-reset mails carry a one-click link beside their code,
the code, the address and the purpose percent-encoded into it; other mails never do."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from outbox_relay.render import Templates
from outpost.preview import preview
from shared.messaging.branding import Branding
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.constants import SECRET_KEY, MakeRelay
from support.rows import forget_throttles
from support.smtp_sink import SinkServer, code_in

PATTERN = "https://app.example.com/verify#address={address}&purpose={purpose}&code={code}"
ADDRESS = "ada+signup@example.com"
PASSWORD = "correct horse battery staple"


def link_in(mail: EmailMessage) -> tuple[str | None, str | None]:
    """The one-click link of a mail's text part and of its HTML part (None where none)."""
    found = []
    for kind in ("plain", "html"):
        body = mail.get_body((kind,))
        assert body is not None
        content = body.get_content().replace("&amp;", "&")
        links = re.findall(r"https://app\.example\.com/verify#[^\s\"<]+", content)
        assert len(set(links)) <= 1, links
        found.append(links[0] if links else None)
    return found[0], found[1]


def test_activation_and_reset_mails_carry_the_link_and_the_welcome_does_not(
    client: FlaskClient, make_relay: MakeRelay, smtp: SinkServer, engine: Engine
) -> None:
    relay = make_relay(code_link_url=PATTERN)
    registered = client.post("/v1/registrations", json={"email": ADDRESS, "password": PASSWORD})
    assert registered.status_code == 202
    relay.drain()
    [activation] = smtp.sink.wait_for(1)
    code = code_in(activation)
    expected = (
        f"https://app.example.com/verify#address=ada%2Bsignup%40example.com"
        f"&purpose=activation&code={code}"
    )
    assert link_in(activation) == (expected, expected)

    assert client.post("/v1/activations", json={"email": ADDRESS, "code": code}).status_code == 200
    forget_throttles(engine)
    assert client.post("/v1/password-resets", json={"email": ADDRESS}).status_code == 202
    relay.drain()
    # Codes are claimed first: the reset may arrive before the welcome.
    later = {str(m["Subject"]).split()[0]: m for m in smtp.sink.wait_for(3)[1:]}
    welcome, reset = later["Welcome"], later["Reset"]
    assert link_in(welcome) == (None, None)
    reset_code = code_in(reset)
    assert link_in(reset)[0] == expected.replace("activation", "password_reset").replace(
        code, reset_code
    )


def test_without_code_link_url_the_code_goes_alone(
    client: FlaskClient, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    client.post("/v1/registrations", json={"email": ADDRESS, "password": PASSWORD})
    make_relay().drain()
    [activation] = smtp.sink.wait_for(1)
    assert link_in(activation) == (None, None)
    text = activation.get_body(("plain",))
    assert text is not None and "one click" not in text.get_content()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("https://app.example.com/verify#address={address}", "{code} or {token} placeholder"),
        (
            "https://app.example.com/verify#code={code}&user={user}",
            "only {code}, {token}, {address}",
        ),
        ("ftp://app.example.com/{code}", "http(s)://"),
        ("https://app.example.com/{code}\n", "control characters"),
    ],
)
def test_a_code_link_url_that_cannot_carry_the_code_stops_the_process(
    value: str, words: str
) -> None:
    env = {"SECRET_KEY": SECRET_KEY, "CODE_LINK_URL": value}
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    message = str(refused.value)
    assert message.startswith("CODE_LINK_URL") and words in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ("{{ code_link | no_such_filter }}", "No filter named 'no_such_filter'"),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ],
)
def test_an_operators_template_whose_link_block_fails_is_named_at_start(
    tmp_path: Path, block: str, words: str
) -> None:
    """`templates check` renders every coded template with a link too, so a broken
    `{% if code_link %}` block fails at start, with its reason, not in the first mail."""
    body = tmp_path / "activation" / "en" / "body.txt"
    body.parent.mkdir(parents=True)
    body.write_text("{{ code }}{% if code_link %}" + block + "{% endif %}\n")
    assert Templates(Branding(), tmp_path).problems() == [
        f"{body}: {words}" + (" found." if "filter" in words else "")
    ]


def test_the_preview_shows_the_link_of_these_settings(make_relay: MakeRelay) -> None:
    settings = make_relay(code_link_url=PATTERN).settings
    raw = preview(settings, Templates(), "password_reset", "fr", "email")
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    text, html = link_in(mail)
    assert text == html and text is not None
    assert "purpose=password_reset&code=123456" in text and "ada%40example.com" in text
