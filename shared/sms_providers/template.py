"""A gateway with an API of its own (a regional aggregator), in one place: `SMS_URL=https://…`
with SMS_REQUEST_TEMPLATE, a file rendered in Jinja's sandbox into each request's body (`.json`
or `.form` by its extension), and SMS_HEADERS, extra headers whose `${NAME}` come from the
environment. Any 2xx is success; the rest is judged as the gateway contract's (docs/sms.md has
Africa's Talking as the worked example).

Every `{{ … }}` is written encoded for the body's format (a JSON value, quotes included, or a
percent-encoded form value): a message's text can never break out of its field. Jinja's own
`| tojson` already writes a JSON value, so its output is written as it is, never encoded twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote_plus

import phonenumbers

from shared.messaging.sms_segments import segments
from shared.sms_providers.gateway import Gateway
from shared.sms_providers.spec import Outbound, Requests, SmsContext, SmsProvider, SmsText

if TYPE_CHECKING:
    import jinja2


class _Json(str):
    """A value `| tojson` has already written as JSON."""


def _tojson(value: Any, indent: int | None = None) -> _Json:
    """Jinja's `tojson`, its output marked so that the body's format does not encode it again."""
    return _Json(json.dumps(value, ensure_ascii=False, indent=indent))


def _json_value(value: Any) -> str:
    """A value as JSON, unless `| tojson` wrote it so already."""
    return value if isinstance(value, _Json) else json.dumps(value, ensure_ascii=False)


# Each format: its media type and how a value is written into it.
_FORMATS: dict[str, tuple[str, Callable[[Any], str]]] = {
    ".json": ("application/json", _json_value),
    ".form": ("application/x-www-form-urlencoded", lambda value: quote_plus(str(value))),
}
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What the template is rendered with at start, so that a mistake stops the process then.
_SAMPLE = ("00000000-0000-4000-8000-000000000000", "+237670123456", "Your code is 123456")


@dataclass(frozen=True)
class Sms:
    """A message as the start-time check renders it."""

    id: str
    to: str
    body: str


@dataclass(frozen=True)
class RequestFormat:
    """SMS_REQUEST_TEMPLATE and SMS_HEADERS read: the template and its body's media type, and
    the headers with their `${NAME}` resolved (kept out of every repr and log)."""

    path: Path
    media: str
    template: jinja2.Template = field(repr=False, compare=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def body(self, message: SmsText) -> bytes:
        """The request's body for one message."""
        return self.template.render(variables(message)).encode()

    def request_headers(self) -> dict[str, str]:
        """SMS_HEADERS, after the body's Content-Type unless they name one."""
        named = {name.lower() for name, _ in self.headers}
        media = {} if "content-type" in named else {"Content-Type": self.media}
        return {**media, **dict(self.headers)}


def variables(message: SmsText) -> dict[str, Any]:
    """What a template may use: `to` (E.164), `to_national` (as dialled within its country,
    digits only), `to_digits` (E.164 without `+`), `body`, `id`, `segments`."""
    number = phonenumbers.parse(message.to)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return {
        "to": message.to,
        "to_national": re.sub(r"\D", "", national),
        "to_digits": message.to.removeprefix("+"),
        "body": message.body,
        "id": message.id,
        "segments": segments(message.body).count,
    }


def read_template(value: str) -> tuple[Path, str, jinja2.Template] | None:
    """SMS_REQUEST_TEMPLATE: the file, its media type and its template, checked by rendering a
    sample message; None when unset. ValueError in one line naming what is wrong."""
    if not value:
        return None
    path = Path(value)
    if path.suffix not in _FORMATS:
        raise ValueError(f"{path}: must end in .json or .form (the body's format)")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}: {exc.args[-1]})") from None
    media, write = _FORMATS[path.suffix]
    # Jinja loads where a template is set, not with the settings every process reads.
    import jinja2

    from shared.messaging.sandbox import Sandbox

    env = Sandbox(undefined=jinja2.StrictUndefined, finalize=write, autoescape=False)
    env.filters["tojson"] = _tojson
    try:
        template = env.from_string(source)
        body = template.render(variables(Sms(*_SAMPLE)))
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{path}:{exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise ValueError(f"{path}: {exc.message}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # What a template's own expression raises (`{{ 1 / 0 }}`, `{{ "a" + 1 }}`).
        raise ValueError(f"{path}: {type(exc).__name__}: {exc}") from None
    _check_body(path, body)
    return path, media, template


def _check_body(path: Path, body: str) -> None:
    """A sample body that its format cannot read is refused at start."""
    try:
        if path.suffix == ".json":
            json.loads(body)
        else:
            parse_qsl(body.strip(), strict_parsing=True, errors="strict")
    except ValueError:
        kind = "JSON" if path.suffix == ".json" else "a form (name=value&…)"
        raise ValueError(
            f"{path}: a sample message renders into a body that is not {kind}; write each "
            "variable bare ({{ body }}): it is encoded for the format, quotes included"
        ) from None


def headers_from(environ: Mapping[str, str]) -> Callable[[str], tuple[tuple[str, str], ...]]:
    """SMS_HEADERS: one `Name: value` a line, each `${NAME}` in a value read from `environ`;
    an error names the header or the variable, never a value."""

    def parse(value: str) -> tuple[tuple[str, str], ...]:
        headers = []
        for line in value.splitlines():
            if not line.strip():
                continue
            name, colon, raw = line.partition(":")
            name = name.strip()
            if not colon or not _HEADER_NAME.fullmatch(name):
                raise ValueError("each line must be `Name: value`")
            resolved = _REFERENCE.sub(lambda m: _variable(environ, m.group(1)), raw.strip())
            if any(ord(c) < 32 or ord(c) == 127 for c in resolved):
                raise ValueError(f"the value of {name} holds a control character")
            headers.append((name, resolved))
        return tuple(headers)

    return parse


def references(value: str) -> list[str]:
    """The environment variables an SMS_HEADERS value names, `${NAME}`, in order."""
    return _REFERENCE.findall(value)


def _variable(environ: Mapping[str, str], name: str) -> str:
    if name not in environ:
        raise ValueError(f"${{{name}}} is not set in the environment")
    return environ[name]


class TemplatedGateway(Gateway):
    """POSTs the rendered template with SMS_HEADERS; judged as the gateway contract is."""

    name = "template"
    templated = True

    def requests(self, provider: SmsProvider, context: SmsContext) -> Requests:
        """The rendered body, with its Content-Type and SMS_HEADERS."""
        request = context.sms_request
        assert request is not None
        headers = request.request_headers()

        def build(message: SmsText) -> Outbound:
            return Outbound(provider.endpoint, content=request.body(message), headers=headers)

        return build


SPEC = TemplatedGateway()
