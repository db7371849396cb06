"""Rendering outbound email and SMS: the packaged templates in shared/templates, each one
replaced by the file of the same relative path in TEMPLATES_DIR when there is one, in Jinja's
sandbox (a template reaches the values it is given, never Python's objects behind them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.exceptions import SecurityError

import shared
from outbox_relay.compiled import COMPILED
from outbox_relay.render_budget import RenderRefused, RenderWorkers
from shared.messaging import locales
from shared.messaging.branding import Branding
from shared.messaging.locales import PARTS
from shared.messaging.sandbox import Sandbox
from shared.vocabulary import CODED, PURPOSES, Purpose

if TYPE_CHECKING:
    from shared.settings.config import Settings

PACKAGED = Path(shared.__file__).parent / "templates"
# Files the messages extend rather than render.
SHARED_FILES = ("_layout.html",)
# Parameters a row may lack, written before they existed: rows queued before an upgrade render.
DEFAULTS: dict[str, Any] = {
    "full_name": None,
    "changed_at": None,
    "unsubscribe_url": None,
    "code_link": None,
}


# A sample code's lifetime: the defaults of RESET_TTL and LOGIN_CODE_TTL, else ACTIVATION_TTL's.
SAMPLE_MINUTES: dict[str, int] = {Purpose.PASSWORD_RESET: 15, Purpose.LOGIN_CODE: 10}
SAMPLE_CODE_LINK = "https://app.example.com/verify#address=ada%40example.com&code=123456"


def samples(purpose: Purpose) -> dict[str, Any]:
    """The parameters a message of `purpose` carries, with made-up values (previews, checks)."""
    if purpose in CODED:
        return {
            "code": "123456",
            "expires_minutes": SAMPLE_MINUTES.get(purpose, 1440),
        }
    if purpose == Purpose.PASSWORD_CHANGED:
        return {"full_name": "Ada Lovelace", "changed_at": "2026-11-22 17:04 UTC"}
    if purpose == Purpose.ADDRESS_CHANGED:
        return {
            "full_name": "Ada Lovelace",
            "changed_at": "2026-11-22 17:04 UTC",
            "changed": "email",
            "new_address": "a***@example.com",
        }
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
Words = tuple[str, str]  # (one, many)
_UNITS: dict[str, tuple[Words, Words]] = {
    "en": (("hour", "hours"), ("minute", "minutes")),
    "fr": (("heure", "heures"), ("minute", "minutes")),
}


def duration(
    minutes: int, locale: str = "en", hour: Words | None = None, minute: Words | None = None
) -> str:
    """`minutes` as people say it in `locale`: "24 hours", "15 minutes", "1 heure"; a locale
    TEMPLATES_DIR adds gives its words: `duration(hour=("Stunde", "Stunden"), minute=(…))`."""
    hours, mins = _UNITS.get(locale, _UNITS["en"])
    hours, mins = hour or hours, minute or mins
    if minutes >= 60 and minutes % 60 == 0:
        amount, (one, many) = minutes // 60, hours
    else:
        amount, (one, many) = minutes, mins
    return f"{amount} {one if amount == 1 else many}"


class Templates:
    """The message templates with the product's branding; `problems` says what cannot render.

    What renders an operator's file (TEMPLATES_DIR) runs in a worker process, under the render
    budget (render_budget), unless `isolated` is false: in that worker itself.
    """

    def __init__(
        self,
        branding: Branding | None = None,
        override: Path | None = None,
        *,
        isolated: bool = True,
    ) -> None:
        self.override = override
        self.locales = (*locales.PACKAGED, *locales.added(override))
        branding = branding or Branding()
        self._workers = None
        self._operators: frozenset[str] = frozenset()
        if override is not None and isolated:
            self._workers = RenderWorkers(branding, override)
            self._operators = _overridden(override, self.locales)
        loaders = [jinja2.FileSystemLoader(path) for path in (override, PACKAGED) if path]
        self._env = Sandbox(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            keep_trailing_newline=False,
            # Templates do not change under a running process: no stat before every message,
            # and a dict of every template loaded rather than an LRU cache whose lookup moves
            # the name along a list, three times a message.
            auto_reload=False,
            cache_size=-1,
            bytecode_cache=COMPILED,
        )
        self._env.filters["duration"] = duration
        self._env.globals.update(asdict(branding))

    @classmethod
    def checked(cls, settings: Settings) -> Templates:
        """The templates of these settings, or TemplateError naming the first that fails."""
        templates = cls(settings.branding, settings.templates_dir)
        problems = templates.problems()
        if problems:
            raise TemplateError(problems[0])
        return templates

    def email(self, template: str, locale: str, params: Mapping[str, Any]) -> RenderedEmail:
        """Render the subject, text body and HTML body of an email from the templates of
        `template` (a purpose)."""
        subject, text, html = self._render(template, locale, PARTS["email"], params)
        return RenderedEmail(subject=_one_line(subject), text=text.strip(), html=html.strip())

    def sms(self, template: str, locale: str, params: Mapping[str, Any]) -> str:
        """Render an SMS as a single stripped line."""
        [text] = self._render(template, locale, PARTS["sms"], params)
        return _one_line(text)

    def close(self) -> None:
        """Stop the render workers, if any."""
        if self._workers is not None:
            self._workers.close()

    def render_here(
        self, names: Sequence[str], params: Mapping[str, Any], most: int | None = None
    ) -> list[str]:
        """Render `names` in this process, at most `most` characters each; TemplateError, one
        line naming the file, for any that cannot."""
        return [self._render_here(name, params, most) for name in names]

    def names(self) -> list[str]:
        """Every template file a message renders, by relative path."""
        return [
            f"{purpose}/{locale}/{part}"
            for purpose in PURPOSES
            for locale in self.locales
            for parts in PARTS.values()
            for part in parts
        ]

    def compile_overridden(self) -> None:
        """Compile every template of the messages that read an operator's file, so that none
        of their renders pays for it under the budget (a worker does this before it is ready)."""
        if self.override is None:
            return
        read = {tuple(name.split("/")[:2]) for name in _overridden(self.override, self.locales)}
        names = [name for name in self.names() if tuple(name.split("/")[:2]) in read]
        for name in [*SHARED_FILES, *names]:
            with suppress(jinja2.TemplateError):  # the render names what fails
                self._env.get_template(name)

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
        """Why `name` cannot render its samples, under the budget of a message's render."""
        params = samples(Purpose(name.split("/")[0]))
        if "code" in params:
            # Checked with a link too: the CODE_LINK_URL branch must render as well.
            params["code_link"] = SAMPLE_CODE_LINK
        try:
            self._render_names([name], params)
        except TemplateError as exc:
            return str(exc)
        return ""

    def _render(
        self, template: str, locale: str, parts: Sequence[str], params: Mapping[str, Any]
    ) -> list[str]:
        if template not in PURPOSES:
            raise ValueError(f"unknown message purpose: {template!r}")
        # A locale no longer offered (TEMPLATES_DIR changed since it was queued) falls back.
        locale = locales.rendered_in(locale, self.locales)
        return self._render_names([f"{template}/{locale}/{part}" for part in parts], params)

    def _render_names(self, names: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """Render `names`: in a worker under the budget when one is an operator's file."""
        values = {**DEFAULTS, **params}
        if self._workers is not None and not self._operators.isdisjoint(names):
            try:
                return self._workers.render(names, values)
            except RenderRefused as exc:
                raise TemplateError(str(exc)) from None
        return self.render_here(names, values)

    def _render_here(self, name: str, params: Mapping[str, Any], most: int | None) -> str:
        try:
            template = self._env.get_template(name)
            if most is None:
                return template.render(params)
            return _at_most(template, params, most, name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"{name}: missing") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.filename or name}:{exc.lineno}: {exc.message}") from None
        except (jinja2.UndefinedError, SecurityError) as exc:
            raise TemplateError(f"{self.source(name)}: {exc.message}") from None
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            # Found only when the branch runs: a filter or test unknown inside an `if`.
            raise TemplateError(f"{self.source(name)}: {exc.message}") from None
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            # What a template's own expression raises (`{{ 1 / 0 }}`, `{{ "a" + 1 }}`).
            raise TemplateError(f"{self.source(name)}: {type(exc).__name__}: {exc}") from None


def _at_most(template: jinja2.Template, params: Mapping[str, Any], most: int, name: str) -> str:
    """A render stopped as soon as its output passes `most` characters, or its memory runs out
    (a render worker's is bounded: render_budget)."""
    chunks, size = [], 0
    try:
        for chunk in template.generate(params):
            size += len(chunk)
            if size > most:
                raise TemplateError(
                    f"{template.filename or name}: renders more than {most} characters"
                )
            chunks.append(chunk)
    except MemoryError:
        raise TemplateError(
            f"{template.filename or name}: needs too much memory to render"
        ) from None
    return "".join(chunks)


def _overridden(override: Path, known: tuple[str, ...]) -> frozenset[str]:
    """The templates that read an operator's file: those it replaces, and every HTML body
    when it replaces the layout they extend."""
    files = {
        path.relative_to(override).as_posix() for path in override.rglob("*") if path.is_file()
    }
    if "_layout.html" in files:
        files |= {f"{purpose}/{locale}/body.html" for purpose in PURPOSES for locale in known}
    return frozenset(files)


def _one_line(value: str) -> str:
    """Collapse all whitespace runs, newlines included, into single spaces."""
    return " ".join(value.split())
