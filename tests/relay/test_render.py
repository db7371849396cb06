"""Tests for the message templates and the renderer of the delivery relay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outbox_relay import render
from outbox_relay.compiled import CompiledTemplates
from outbox_relay.render import RenderedEmail, TemplateError, Templates, duration

TEMPLATES = Templates()

PURPOSES = ["activation", "password_reset", "password_changed", "welcome", "account_exists"]
# Only these go to an address the account has proven, and may greet by the name given.
GREETED = ["welcome", "password_changed"]
CODE_PURPOSES = ["activation", "password_reset"]
LOCALES = ["en", "fr"]
CODE = "482913"


def params_for(purpose: str, full_name: str | None = "Ada Lovelace") -> dict[str, Any]:
    """Return a complete set of template parameters for a purpose."""
    params: dict[str, Any] = {"full_name": full_name}
    if purpose in CODE_PURPOSES:
        params.update(code=CODE, expires_minutes=15)
    return params


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_purpose_and_locale_renders(purpose: str, locale: str) -> None:
    for full_name in ("Ada Lovelace", None):
        email = TEMPLATES.email(purpose, locale, params_for(purpose, full_name))
        assert isinstance(email, RenderedEmail)
        assert email.subject
        assert email.subject == email.subject.strip()
        assert "\n" not in email.subject
        assert email.text.strip()
        assert "<html" in email.html
        assert "{{" not in email.text + email.html
        assert "None" not in email.text + email.html
        sms = TEMPLATES.sms(purpose, locale, params_for(purpose, full_name))
        assert sms
        assert sms == sms.strip()
        assert "\n" not in sms


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_greets_by_name_only_when_given_and_proven(purpose: str, locale: str) -> None:
    named = TEMPLATES.email(purpose, locale, params_for(purpose, "Ada Lovelace"))
    greeted = purpose in GREETED
    assert ("Ada Lovelace" in named.text) is greeted
    assert ("Ada Lovelace" in named.html) is greeted
    anonymous = TEMPLATES.email(purpose, locale, params_for(purpose, None))
    greeting = "Hello," if locale == "en" else "Bonjour,"
    assert anonymous.text.startswith(greeting)


@pytest.mark.parametrize("locale", LOCALES)
def test_full_name_may_be_omitted(locale: str) -> None:
    email = TEMPLATES.email("welcome", locale, {})
    assert email.text.startswith("Hello," if locale == "en" else "Bonjour,")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", CODE_PURPOSES)
def test_code_in_bodies_and_sms_but_not_subject(purpose: str, locale: str) -> None:
    email = TEMPLATES.email(purpose, locale, params_for(purpose))
    assert CODE in email.text
    assert CODE in email.html
    assert CODE not in email.subject
    assert "15" in email.text
    assert CODE in TEMPLATES.sms(purpose, locale, params_for(purpose))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", GREETED)
def test_full_name_is_escaped_in_html(purpose: str, locale: str) -> None:
    name = '<script>alert("x")</script>'
    email = TEMPLATES.email(purpose, locale, params_for(purpose, name))
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert name in email.text


@pytest.mark.parametrize("purpose", PURPOSES)
def test_french_differs_from_english(purpose: str) -> None:
    en = TEMPLATES.email(purpose, "en", params_for(purpose))
    fr = TEMPLATES.email(purpose, "fr", params_for(purpose))
    assert en.subject != fr.subject
    assert en.text != fr.text
    assert en.html != fr.html
    assert 'lang="fr"' in fr.html
    assert TEMPLATES.sms(purpose, "en", params_for(purpose)) != TEMPLATES.sms(
        purpose, "fr", params_for(purpose)
    )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_sms_is_under_160_characters(purpose: str, locale: str) -> None:
    params = params_for(purpose, "A" * 200)
    if purpose in CODE_PURPOSES:
        params.update(code="999999", expires_minutes=1440)
    assert len(TEMPLATES.sms(purpose, locale, params)) < 160


@pytest.mark.parametrize("locale", LOCALES)
def test_html_is_self_contained(locale: str) -> None:
    for purpose in PURPOSES:
        html = TEMPLATES.email(purpose, locale, params_for(purpose)).html.lower()
        assert "<link" not in html
        assert "<script" not in html
        assert "<img" not in html
        assert "<style" not in html
        assert "http://" not in html
        assert "https://" not in html


def test_unknown_purpose_raises() -> None:
    with pytest.raises(ValueError, match="nope"):
        TEMPLATES.email("nope", "en", {})
    with pytest.raises(ValueError, match="nope"):
        TEMPLATES.sms("nope", "en", {})


def test_a_locale_not_offered_falls_back_to_english_and_a_malformed_one_raises() -> None:
    """A message queued in a locale TEMPLATES_DIR no longer adds still goes, in English (its
    language first if that is offered: `fr-CA` in French)."""
    english = TEMPLATES.email("welcome", "en", {"full_name": None})
    assert TEMPLATES.email("welcome", "de", {"full_name": None}) == english
    assert TEMPLATES.sms("welcome", "fr-CA", {}) == TEMPLATES.sms("welcome", "fr", {})
    with pytest.raises(ValueError, match="x y"):
        TEMPLATES.email("welcome", "x y", {"full_name": None})


def test_path_traversal_is_rejected() -> None:
    with pytest.raises(ValueError):
        TEMPLATES.email("../activation", "en", params_for("activation"))
    with pytest.raises(ValueError):
        TEMPLATES.sms("activation", "../en", params_for("activation"))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", CODE_PURPOSES)
def test_missing_required_param_raises(purpose: str, locale: str) -> None:
    for missing in ("code", "expires_minutes"):
        params = params_for(purpose)
        del params[missing]
        # Jinja's UndefinedError, as one line naming the file.
        with pytest.raises(TemplateError, match=f"{missing}' is undefined"):
            TEMPLATES.email(purpose, locale, params)
        with pytest.raises(TemplateError, match=f"{missing}' is undefined"):
            TEMPLATES.sms(purpose, locale, params)


@pytest.mark.parametrize(
    ("minutes", "locale", "said"),
    [
        (1440, "en", "24 hours"),
        (60, "en", "1 hour"),
        (15, "en", "15 minutes"),
        (1, "en", "1 minute"),
        (90, "en", "90 minutes"),
        (1440, "fr", "24 heures"),
        (60, "fr", "1 heure"),
        (15, "fr", "15 minutes"),
    ],
)
def test_durations_read_as_people_say_them(minutes: int, locale: str, said: str) -> None:
    assert duration(minutes, locale) == said


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_an_activation_code_of_a_day_says_24_hours(locale: str) -> None:
    params = {"code": "123456", "expires_minutes": 1440}
    email = TEMPLATES.email("activation", locale, params)
    sms = TEMPLATES.sms("activation", locale, params)
    for text in (email.text, email.html, sms):
        assert "1440" not in text
        assert "24 h" in text


def test_a_worker_compiles_the_operators_messages_before_its_first_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling is not rendering: a render worker's first render, under its budget, finds
    every template of the messages an operator's file changes already compiled."""
    (tmp_path / "activation" / "en").mkdir(parents=True)
    (tmp_path / "activation" / "en" / "subject.txt").write_text("Your code {{ code }}")
    # Nothing compiled before in this process (a render worker's state when it starts).
    monkeypatch.setattr(render, "COMPILED", CompiledTemplates())
    templates = Templates(override=tmp_path, isolated=False)
    templates.compile_overridden()

    def compiling(*_: Any, **__: Any) -> None:
        raise AssertionError("compiled while rendering")

    monkeypatch.setattr(templates._env, "compile", compiling)
    params = {"code": "123456", "expires_minutes": 15}
    assert templates.email("activation", "en", params).subject == "Your code 123456"
    with pytest.raises(AssertionError, match="compiled while rendering"):
        templates.email("password_reset", "en", params)
