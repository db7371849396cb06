"""Render outbound email and SMS messages from the templates in ``shared/templates``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import shared
from shared.outbox import LOCALES, PURPOSES

TEMPLATES_DIR = Path(shared.__file__).parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(["html"]),
    keep_trailing_newline=False,
    # Templates ship with the code: no need to stat every file before every message.
    auto_reload=False,
)

# How people say a duration: hours when it is a whole number of them ("24 hours"), else minutes.
_UNITS = {
    "en": (("hour", "hours"), ("minute", "minutes")),
    "fr": (("heure", "heures"), ("minute", "minutes")),
}


def duration(minutes: int, locale: str) -> str:
    """`minutes` as people say it in `locale`: "24 hours", "15 minutes", "1 heure"."""
    hours, mins = _UNITS[locale]
    if minutes >= 60 and minutes % 60 == 0:
        amount, (one, many) = minutes // 60, hours
    else:
        amount, (one, many) = minutes, mins
    return f"{amount} {one if amount == 1 else many}"


_env.filters["duration"] = duration


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: one-line subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


def _check(purpose: str, locale: str) -> None:
    """Raise ValueError if the purpose or locale has no templates."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown message purpose: {purpose!r}")
    if locale not in LOCALES:
        raise ValueError(f"unknown locale: {locale!r}")


def _render(purpose: str, locale: str, name: str, params: Mapping[str, Any]) -> str:
    """Render one template file of the given purpose and locale."""
    return _env.get_template(f"{purpose}/{locale}/{name}").render(dict(params))


def _one_line(value: str) -> str:
    """Collapse all whitespace runs, newlines included, into single spaces."""
    return " ".join(value.split())


def render_email(purpose: str, locale: str, params: Mapping[str, Any]) -> RenderedEmail:
    """Render the subject, text body and HTML body of an email."""
    _check(purpose, locale)
    return RenderedEmail(
        subject=_one_line(_render(purpose, locale, "subject.txt", params)),
        text=_render(purpose, locale, "body.txt", params).strip(),
        html=_render(purpose, locale, "body.html", params).strip(),
    )


def render_sms(purpose: str, locale: str, params: Mapping[str, Any]) -> str:
    """Render an SMS as a single stripped line."""
    _check(purpose, locale)
    return _one_line(_render(purpose, locale, "sms.txt", params))
