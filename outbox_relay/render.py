"""Rendering outbound email and SMS: the packaged templates in shared/templates, each one
replaced by the file of the same relative path in TEMPLATES_DIR when there is one, in Jinja's
sandbox (a template reaches the values it is given, never Python's objects behind them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

import shared
from shared.config import Branding, Settings
from shared.outbox import CODED, LOCALES, PURPOSES, Purpose

PACKAGED = Path(shared.__file__).parent / "templates"
PARTS = {"email": ("subject.txt", "body.txt", "body.html"), "sms": ("sms.txt",)}
# Files the messages extend rather than render.
SHARED_FILES = ("_layout.html",)
# Parameters a row may lack, written before they existed: rows queued before an upgrade render.
DEFAULTS: dict[str, Any] = {"full_name": None, "changed_at": None, "unsubscribe_url": None}


def samples(purpose: str) -> dict[str, Any]:
    """The parameters a message of `purpose` carries, with made-up values (previews, checks)."""
    if purpose in CODED:
        return {"code": "123456", "expires_minutes": 1440 if purpose == Purpose.ACTIVATION else 15}
    if purpose == Purpose.PASSWORD_CHANGED:
        return {"full_name": "Ada Lovelace", "changed_at": "2026-11-22 17:04 UTC"}
    if purpose == Purpose.WELCOME:
        return {"full_name": "Ada Lovelace"}
    if purpose == Purpose.NO_ACCOUNT:
        return {"unsubscribe_url": "https://api.example.com/v1/unsubscribe/gAAAAABnX2sample"}
    return {}


class TemplateError(ValueError):
    """A template that cannot render: one line naming its file."""


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: one-line subject, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


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


class Templates:
    """The message templates with the product's branding; `problems` says what cannot render."""

    def __init__(self, branding: Branding | None = None, override: Path | None = None) -> None:
        self.override = override
        loaders = [jinja2.FileSystemLoader(path) for path in (override, PACKAGED) if path]
        self._env = _Sandbox(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            keep_trailing_newline=False,
            # Templates do not change under a running process: no stat before every message.
            auto_reload=False,
        )
        self._env.filters["duration"] = duration
        self._env.globals.update(asdict(branding or Branding()))

    @classmethod
    def checked(cls, settings: Settings) -> Templates:
        """The templates of these settings, or TemplateError naming the first that fails."""
        templates = cls(settings.branding, settings.templates_dir)
        problems = templates.problems()
        if problems:
            raise TemplateError(problems[0])
        return templates

    def email(self, purpose: str, locale: str, params: Mapping[str, Any]) -> RenderedEmail:
        """Render the subject, text body and HTML body of an email."""
        return RenderedEmail(
            subject=_one_line(self._render(purpose, locale, "subject.txt", params)),
            text=self._render(purpose, locale, "body.txt", params).strip(),
            html=self._render(purpose, locale, "body.html", params).strip(),
        )

    def sms(self, purpose: str, locale: str, params: Mapping[str, Any]) -> str:
        """Render an SMS as a single stripped line."""
        return _one_line(self._render(purpose, locale, "sms.txt", params))

    def names(self) -> list[str]:
        """Every template file a message renders, by relative path."""
        return [
            f"{purpose}/{locale}/{part}"
            for purpose in PURPOSES
            for locale in LOCALES
            for parts in PARTS.values()
            for part in parts
        ]

    def problems(self) -> list[str]:
        """One line per template that cannot render with sample values, naming its file."""
        found = [self._problem(name) for name in self.names()]
        if self.override is not None:
            known = {*self.names(), *SHARED_FILES}
            found += [
                f"{path}: not a template of this version (one of {', '.join(sorted(known)[:3])}, …)"
                for path in sorted(self.override.rglob("*"))
                if path.is_file() and path.relative_to(self.override).as_posix() not in known
            ]
        return [problem for problem in found if problem]

    def source(self, name: str) -> str:
        """Where the template `name` comes from: the override's file or the package's."""
        template = self._env.get_template(name)
        return template.filename or name

    def _problem(self, name: str) -> str:
        purpose = name.split("/")[0]
        try:
            self._env.get_template(name).render({**DEFAULTS, **samples(purpose)})
        except jinja2.TemplateNotFound:
            return f"{name}: missing"
        except jinja2.TemplateSyntaxError as exc:
            return f"{exc.filename or name}:{exc.lineno}: {exc.message}"
        except (jinja2.UndefinedError, SecurityError) as exc:
            return f"{self.source(name)}: {exc.message}"
        return ""

    def _render(self, purpose: str, locale: str, part: str, params: Mapping[str, Any]) -> str:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown message purpose: {purpose!r}")
        if locale not in LOCALES:
            raise ValueError(f"unknown locale: {locale!r}")
        template = self._env.get_template(f"{purpose}/{locale}/{part}")
        return template.render({**DEFAULTS, **params})


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox, which also refuses to load a template naming a private attribute.

    The sandbox alone stops such an access when it runs, and only if it runs: in a branch the
    sample values of `outpost templates check` do not take, it would pass the check.
    """

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse as Jinja does (for `compile`), refusing `x._y`, `x.__y__` and `x["_y"]`."""
        tree = super()._parse(source, name, filename)
        for key, lineno in _keys(tree):
            if key.startswith("_"):
                raise jinja2.TemplateSyntaxError(
                    f"unsafe: attribute {key!r} is not available to templates",
                    lineno,
                    name,
                    filename,
                )
        return tree


def _keys(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    """Every attribute a template names (`x.y`, `x["y"]`) with its line."""
    for getattr_ in tree.find_all(nodes.Getattr):
        yield getattr_.attr, getattr_.lineno
    for getitem in tree.find_all(nodes.Getitem):
        if isinstance(getitem.arg, nodes.Const) and isinstance(getitem.arg.value, str):
            yield getitem.arg.value, getitem.lineno


def _one_line(value: str) -> str:
    """Collapse all whitespace runs, newlines included, into single spaces."""
    return " ".join(value.split())
