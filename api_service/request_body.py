"""Reading a JSON body through a schema, with every failure answered as a problem."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn
from urllib.parse import parse_qsl

import marshmallow as ma
from flask import Request, g
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict

from api_service.problems import Problem, validation_problem

# A public route's body; the providers' feeds take more (provider_feeds.MAX_BODY_BYTES).
MAX_BODY_BYTES = 16 * 1024
# The most fields a form body may carry (a provider's callback has a few dozen).
MAX_FORM_FIELDS = 1000
# Deeper JSON is no request of this API; Python's parser would recurse up to its stack limit.
MAX_DEPTH = 32
_READ_SIZE = 64 * 1024


def read_json(
    req: Request,
    *,
    media_types: tuple[str, ...] = ("application/json",),
    max_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The body as JSON, read once: 415, 413 (with or without Content-Length), 400."""
    if "outpost.json" in g:
        return g.get("outpost.json")
    raw = read_bytes(req, media_types=media_types, max_bytes=max_bytes)
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise Problem(
            400, "malformed-json", "Malformed JSON", "The body is not valid JSON."
        ) from None
    if _depth(payload) > MAX_DEPTH:
        raise Problem(
            400, "malformed-json", "Malformed JSON", f"JSON nested deeper than {MAX_DEPTH} levels."
        )
    setattr(g, "outpost.json", payload)
    return payload


def read_bytes(
    req: Request,
    *,
    media_types: tuple[str, ...] = ("application/json",),
    max_bytes: int = MAX_BODY_BYTES,
) -> bytes:
    """The body as it came, read once (a signature is computed over these bytes): 415, 413."""
    if "outpost.raw" in g:
        raw: bytes = g.get("outpost.raw")
        return raw
    if req.mimetype not in media_types:
        named = "JSON" if "application/json" in media_types else media_types[0]
        raise Problem(
            415, "unsupported-media-type", "Unsupported Media Type", f"Send the body as {named}."
        )
    raw = _body(req, max_bytes)
    setattr(g, "outpost.raw", raw)
    return raw


def read_form(req: Request, *, max_bytes: int = MAX_BODY_BYTES) -> MultiDict[str, str]:
    """The body as form fields (application/x-www-form-urlencoded, UTF-8): 415, 413, 400."""
    if req.mimetype != "application/x-www-form-urlencoded":
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "Send the body as application/x-www-form-urlencoded.",
        )
    raw = _body(req, max_bytes)
    try:
        pairs = parse_qsl(
            raw.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except ValueError:
        raise Problem(
            400, "malformed-form", "Malformed Form", "The body is not a form encoded in UTF-8."
        ) from None
    return MultiDict(pairs)


def _body(req: Request, max_bytes: int) -> bytes:
    """At most `max_bytes` of body, or 413; a chunked body is read from the server's stream."""
    if req.content_length is not None:
        if req.content_length > max_bytes:
            raise _too_large(max_bytes)
        req.max_content_length = max_bytes
        return req.get_data(cache=True)
    if not req.environ.get("wsgi.input_terminated"):
        return b""
    stream = req.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(_READ_SIZE):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> Problem:
    return Problem(
        413,
        "request-entity-too-large",
        "Request Entity Too Large",
        f"The body is over {max_bytes} bytes.",
    )


def _depth(payload: Any) -> int:
    """How deeply arrays and objects nest in `payload`, without recursion."""
    deepest = 0
    stack = [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((item, depth + 1) for item in value)
    return deepest


def load(schema: ma.Schema, payload: Any, *, under: str = "") -> Any:
    """`payload` read through `schema`, or a 422 naming each field that is wrong, below the
    pointer `under` (for JSON carried inside a string of the body)."""
    try:
        return schema.load(payload)
    except ma.ValidationError as error:
        raise validation_problem(_flatten(error.messages, under)) from None


class ProblemParser(FlaskParser):
    """The webargs parser flask-smorest uses, answering 415/400/422 problem documents."""

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        """The body as a JSON object, or a problem saying why it is not one."""
        payload = read_json(req)
        if not isinstance(payload, dict):
            raise validation_problem([("", "The body must be a JSON object.")])
        return payload

    def handle_error(
        self,
        error: ma.ValidationError,
        req: Request,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        """A 422 naming each field that is wrong."""
        messages = error.messages
        if isinstance(messages, Mapping) and set(messages) == {"json"}:
            messages = messages["json"]
        raise validation_problem(_flatten(messages))


def _flatten(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "" if key == "_schema" else str(key)
            yield from _flatten(value, f"{prefix}/{name}".lstrip("/") if name else prefix)
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from _flatten(message, prefix)
    else:
        yield prefix, str(messages)
