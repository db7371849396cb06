"""A delivery receipt's HTTP request as the SMS specs read it (shared.sms_providers.receipts.
ReceiptRequest), built by werkzeug as the API's test client builds one, without the API: each
refusal is raised as `Refused`, carrying the status the API answers it with."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

from werkzeug.test import EnvironBuilder

# Where receipts arrive: another host than PUBLIC_URL's, as behind a proxy.
ARRIVING_AT = "http://10.0.0.7:8000"
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Post:
    """A receipt as a provider posts it: the URL it calls (PUBLIC_URL's, query string
    included), its headers, its body as a form or as JSON."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] | None = None
    json: Any = None


class Refused(Exception):
    """A receipt refused: the status the API answers, and whether a wrong credential was
    counted against the client (a missing one is only challenged)."""

    def __init__(self, status: int, counted: bool = False) -> None:
        super().__init__(f"HTTP {status}{' (counted)' if counted else ''}")
        self.status = status
        self.counted = counted


class StandInReceipt:
    """A posted receipt as the API's HttpReceipt presents it to a spec; PROVIDER_EVENTS_TOKEN
    is `events_token`."""

    def __init__(self, post: Post, events_token: str) -> None:
        parts = urlsplit(post.url)
        self._request = EnvironBuilder(
            method="POST",
            base_url=ARRIVING_AT,
            path=parts.path,
            query_string=parts.query,
            headers=list(post.headers.items()),
            data=dict(post.form) if post.form is not None else None,
            json=post.json,
        ).get_request()
        self._events_token = events_token

    @property
    def query_string(self) -> str:
        """The query string as it came."""
        return self._request.query_string.decode("latin-1")

    def header(self, name: str) -> str:
        """A header's value, empty when absent."""
        return self._request.headers.get(name, "")

    def arg(self, name: str) -> str | None:
        """A query parameter's value, None when absent."""
        return self._request.args.get(name)

    def form(self) -> Mapping[str, list[str]]:
        """The form fields, every value of each."""
        return self._request.form.to_dict(flat=False)

    def body(self) -> Any:
        """The body as a form (its first values), or else as JSON."""
        if self._request.mimetype == _FORM:
            return self._request.form.to_dict()
        return self._request.get_json(silent=True)

    def absent(self) -> NoReturn:
        """404."""
        raise Refused(404)

    def invalid(self, name: str, text: str) -> NoReturn:
        """422."""
        raise Refused(422)

    def challenge(self, detail: str, scheme: str | None) -> NoReturn:
        """401, not counted."""
        raise Refused(401)

    def require(
        self, presented: str | None, expected: Sequence[str | None], detail: str, scheme: str | None
    ) -> None:
        """Nothing for a right credential, else 401, counted."""
        if presented is None or not any(
            one is not None and hmac.compare_digest(presented.encode(), one.encode())
            for one in expected
        ):
            raise Refused(401, counted=True)

    def token(self) -> None:
        """Nothing when the request presents `Bearer <PROVIDER_EVENTS_TOKEN>`; else 401,
        counted when it presents another."""
        credentials = self.header("Authorization").strip()
        if not credentials:
            self.challenge("", "Bearer")
        scheme, _, value = credentials.partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else None
        self.require(presented, [self._events_token], "", "Bearer")
