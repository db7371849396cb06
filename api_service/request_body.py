"""Reading a JSON body through a schema, with every failure answered as a problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from api_service.problems import Problem, validation_problem


def load_body(schema: Schema) -> dict[str, Any]:
    """The validated body, or a 415/400/422 problem naming what is wrong."""
    if request.mimetype != "application/json":
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "Send the body as application/json.",
        )
    payload = request.get_json(silent=True)
    if payload is None:
        raise Problem(400, "malformed-json", "Malformed JSON", "The body is not valid JSON.")
    if not isinstance(payload, dict):
        raise validation_problem([("", "The body must be a JSON object.")])
    try:
        data: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        raise validation_problem(_flatten(exc.messages)) from None
    return data


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
