"""Reading a JSON body through a schema, with every failure answered as a problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser

from api_service.problems import Problem, validation_problem


class ProblemParser(FlaskParser):
    """The webargs parser flask-smorest uses, answering 415/400/422 problem documents."""

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        """The body as a JSON object, or a problem saying why it is not one."""
        if req.mimetype != "application/json":
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported Media Type",
                "Send the body as application/json.",
            )
        payload = req.get_json(silent=True)
        if payload is None:
            raise Problem(400, "malformed-json", "Malformed JSON", "The body is not valid JSON.")
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
