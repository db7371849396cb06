"""Any language: a locale TEMPLATES_DIR adds (the German set of examples/templates), chosen by
`locale` or Accept-Language with its fallback (`pt-BR` -> `pt` -> `en`), refused at start when
incomplete, written through the relay, listed by `outpost templates check`; revision 0016 keeps
a long tag."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from sqlalchemy import Engine

from api_service import create_app
from outbox_relay.bootstrap import build_relay
from outbox_relay.render import Templates
from shared.database.db import alembic_config, create_engine_for
from shared.messaging import locales
from shared.messaging.locales import PACKAGED, best_match, pick
from shared.messaging.outbox import PURPOSES
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.commands import outpost
from support.processes import ROOT
from support.rows import rows
from support.smtp_sink import SinkServer

GERMAN = ROOT / "examples" / "templates"
PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-CH, de;q=0.9, en;q=0.8", "de"),
        ("fr-CA;q=0.4, de-AT;q=0.7", "de"),
        ("pt-BR, fr;q=0.1", "fr"),
        ("*, fr;q=0.5", "fr"),
        ("de;q=0, en", "en"),
        ("x-???;q=abc, FR", "fr"),
        ("", "en"),
        ("ja", "en"),
    ],
)
def test_accept_language_picks_by_weight_then_order(header: str, chosen: str) -> None:
    assert best_match(header, (*PACKAGED, "de")) == chosen


def test_a_tag_falls_back_to_its_language_then_english() -> None:
    assert pick("pt-BR", ("en", "pt")) == "pt"
    assert pick("PT-br", ("en", "pt-BR")) == "pt-BR"
    assert pick("de-CH", PACKAGED) is None
    assert locales.rendered_in("de-CH", PACKAGED) == "en"


def _copy_locale(into: Path, tag: str) -> Path:
    """A complete locale `tag` under `into`: the English templates copied."""
    for purpose_dir in (ROOT / "shared" / "templates").iterdir():
        if purpose_dir.is_dir():
            shutil.copytree(purpose_dir / "en", into / purpose_dir.name / tag)
    return into


def test_an_incomplete_locale_stops_the_start_with_one_line_naming_what_is_missing(
    env: dict[str, str], tmp_path: Path
) -> None:
    _copy_locale(tmp_path, "pt-BR")
    settings = Settings.from_env({**env, "TEMPLATES_DIR": str(tmp_path)})
    assert settings.locales == ("en", "fr", "pt-BR")
    (tmp_path / "welcome" / "pt-BR" / "sms.txt").unlink()
    (tmp_path / "activation" / "pt-BR" / "body.html").unlink()
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**env, "TEMPLATES_DIR": str(tmp_path)})
    assert str(refused.value) == (
        "TEMPLATES_DIR: locale pt-BR lacks activation/pt-BR/body.html, welcome/pt-BR/sms.txt"
    )


@pytest.fixture
def german(env: dict[str, str]) -> dict[str, str]:
    return {**env, "TEMPLATES_DIR": str(GERMAN)}


@pytest.fixture
def german_app(german: dict[str, str]) -> Flask:
    return create_app(german)


def _locale_of(engine: Engine, email: str) -> str:
    return next(str(u["locale"]) for u in rows(engine, "users") if u["email"] == email)


def test_the_locale_is_asked_for_or_read_from_accept_language(
    german_app: Flask, engine: Engine
) -> None:
    client = german_app.test_client()
    asked = {
        "ada@example.com": ({"locale": "de-CH"}, {}),
        "bob@example.com": ({}, {"Accept-Language": "de-AT, en;q=0.5"}),
        "cy@example.com": ({}, {"Accept-Language": "ja, pt-BR;q=0.9"}),
        "di@example.com": ({"locale": "fr"}, {"Accept-Language": "de"}),
    }
    for email, (fields, headers) in asked.items():
        body = {"email": email, "password": PASSWORD, **fields}
        answer = client.post("/v1/registrations", json=body, headers=headers)
        assert answer.status_code == 202, answer.get_json()
    assert {email: _locale_of(engine, email) for email in asked} == {
        "ada@example.com": "de",
        "bob@example.com": "de",
        "cy@example.com": "en",
        "di@example.com": "fr",
    }
    refused = client.post(
        "/v1/registrations", json={"email": "eve@example.com", "password": PASSWORD, "locale": "pt"}
    )
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [
        {"pointer": "#/locale", "detail": "Must be one of: en, fr, de."}
    ]
    assert "eve@example.com" not in {u["email"] for u in rows(engine, "users")}


def test_a_german_account_gets_german_mail_through_the_relay(
    german: dict[str, str], german_app: Flask, smtp: SinkServer
) -> None:
    client = german_app.test_client()
    body = {"email": "ada@example.com", "password": PASSWORD}
    answer = client.post("/v1/registrations", json=body, headers={"Accept-Language": "de"})
    assert answer.status_code == 202
    settings = Settings.from_env(german)
    relay = build_relay(settings, create_engine_for(settings.database_url))
    try:
        assert relay.drain() == 1
    finally:
        relay.close()
    [mail] = smtp.sink.wait_for(1)
    assert mail["Content-Language"] == "de"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "24 Stunden" in text.get_content() and "24 Stunden" in html.get_content()
    assert 'lang="de"' in html.get_content()
    sms = Templates(settings.branding, GERMAN).sms(
        "activation", "de", {"code": "123456", "expires_minutes": 15}
    )
    assert "15 Minuten" in sms and "123456" in sms


def test_templates_check_lists_the_locales_and_each_ones_sms_segments(
    german: dict[str, str],
) -> None:
    done = outpost({**german, "PATH": "/usr/bin:/bin"}, ROOT, "templates", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "outpost: locales en, fr, de" in lines
    assert any(line.startswith("activation/de/sms.txt: 1 segment") for line in lines), lines
    # Four parts of each purpose, in each of the three locales.
    assert lines[-1].startswith(f"outpost: {4 * len(PURPOSES) * 3} templates checked")


def test_0016_keeps_a_long_tag_and_the_downgrade_writes_english(
    database_url: str, engine: Engine, german_app: Flask
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    client = german_app.test_client()
    for email, tag in (("ada@example.com", "de"), ("bob@example.com", "fr")):
        body = {"email": email, "password": PASSWORD, "locale": tag}
        assert client.post("/v1/registrations", json=body).status_code == 202
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE users SET locale = 'zh-Hant-TW' WHERE locale = 'de'"))
    assert sorted(str(u["locale"]) for u in rows(engine, "users")) == ["fr", "zh-Hant-TW"]
    command.downgrade(config, "0015")
    assert sorted(str(u["locale"]) for u in rows(engine, "users")) == ["en", "fr"]
    assert {str(r["locale"]) for r in rows(engine, "outbox")} == {"en", "fr"}
    command.upgrade(config, "head")
