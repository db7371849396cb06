"""Delivery receipts as a spec describes them: the fields and statuses they carry, what the API
documents of their route, and the request a spec verifies them from (the API implements it:
api_service/sms_receipts.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol


@dataclass(frozen=True)
class ReceiptDoc:
    """What the OpenAPI document says of a provider's receipts route."""

    operation_id: str
    # The route's summary: what it takes, how it is verified, when it answers 404.
    summary: str
    # The body's description, for each media type it may come as.
    body: str
    media: tuple[str, ...]
    parameters: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Receipts:
    """How one provider's receipts read: the fields naming the message (the provider's id, and
    ours if the provider echoes one), its status and error code; the statuses that say the
    message failed, the error codes among those that refuse the number itself, and the other
    statuses it sends."""

    id_field: str
    status_field: str
    code_field: str
    reference_field: str | None
    failed: frozenset[str]
    refused: frozenset[str]
    passing: frozenset[str]
    doc: ReceiptDoc = field(repr=False, compare=False, kw_only=True)


class ReceiptRequest(Protocol):
    """A receipt's HTTP request, as a spec verifies and reads it. Refusals are the API's:
    each method that refuses answers the request (a 401, 404, 413, 415, 422 or 429)."""

    @property
    def query_string(self) -> str:
        """The query string the provider called the route with, as it came."""

    def header(self, name: str) -> str:
        """A header's value, empty when absent."""

    def arg(self, name: str) -> str | None:
        """A query parameter's value, None when absent."""

    def form(self) -> Mapping[str, list[str]]:
        """The body's form fields, every value of each."""

    def body(self) -> Any:
        """The body as a form (its first values) or as JSON, by its media type."""

    def absent(self) -> NoReturn:
        """Answer 404, as for a route that is not there."""

    def invalid(self, name: str, text: str) -> NoReturn:
        """Answer 422 naming field `name`."""

    def challenge(self, detail: str, scheme: str | None) -> NoReturn:
        """Answer 401 asking for credentials (WWW-Authenticate `scheme`), never counted as a
        wrong one."""

    def require(
        self, presented: str | None, expected: Sequence[str | None], detail: str, scheme: str | None
    ) -> None:
        """Nothing when `presented` is one of `expected`; else count a wrong credential
        against the client and answer 401 (429 once it has presented too many)."""

    def token(self) -> None:
        """Nothing when the request presents PROVIDER_EVENTS_TOKEN, else its refusal."""


def receipts_url(public_url: str, name: str) -> str:
    """Where provider `name` is asked to post its delivery receipts under PUBLIC_URL: for
    Twilio, the exact URL its X-Twilio-Signature is computed, and verified, over."""
    return f"{public_url.rstrip('/')}/v1/provider-events/{name}"
