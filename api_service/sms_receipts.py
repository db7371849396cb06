"""SMS delivery receipts read into ProviderEvents, for every provider whose spec
(shared/sms_providers) sends them: the HTTP request a spec verifies a receipt from, and the
event the receipt's fields report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from flask import Request

from api_service.admin_auth import require_token
from api_service.problems import Problem, validation_problem
from api_service.provider_feeds import MAX_BODY_BYTES, FeedPost, authenticate, check_storable
from api_service.request_body import read_form, read_json
from shared.reports.provider_events import ProviderEvent, ProviderEventType
from shared.settings.config import Settings
from shared.sms_providers.receipts import Receipts

# The longest message id and status read (Twilio's SIDs are 34 characters, Vonage's ids 16 to
# 36), so that `id:status` keys a notification (provider_notifications, 100 characters).
_MAX_ID = 64
_MAX_STATUS = 30
_FORM = "application/x-www-form-urlencoded"


class HttpReceipt:
    """A receipt's request as specs read it (shared.sms_providers.receipts.ReceiptRequest),
    refused as every provider route refuses."""

    def __init__(self, request: Request, settings: Settings) -> None:
        self._request = request
        self._settings = settings

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
        """The form fields (up to MAX_BODY_BYTES), every value of each."""
        return read_form(self._request, max_bytes=MAX_BODY_BYTES).to_dict(flat=False)

    def body(self) -> Any:
        """The body as a form (its first values), or else as JSON."""
        if self._request.mimetype == _FORM:
            return read_form(self._request, max_bytes=MAX_BODY_BYTES).to_dict()
        return read_json(self._request, max_bytes=MAX_BODY_BYTES)

    def absent(self) -> NoReturn:
        """404, as for a route that is not there."""
        raise Problem(404, "not-found", "Not Found", "No such route.")

    def invalid(self, name: str, text: str) -> NoReturn:
        """422 naming the field."""
        raise validation_problem([(name, text)])

    def challenge(self, detail: str, scheme: str | None) -> NoReturn:
        """401 asking for credentials, never counted."""
        raise _unauthorized(detail, scheme)

    def require(
        self, presented: str | None, expected: Sequence[str | None], detail: str, scheme: str | None
    ) -> None:
        """Nothing for a right credential; else counted, and 401 (or 429)."""
        require_token(presented, expected, _unauthorized(detail, scheme))

    def token(self) -> None:
        """PROVIDER_EVENTS_TOKEN, as a Bearer token or the Basic password."""
        authenticate(self._request, self._settings.provider_events_token)


def _unauthorized(detail: str, scheme: str | None) -> Problem:
    headers = {"WWW-Authenticate": f'{scheme} realm="provider-events"'} if scheme else None
    return Problem(401, "unauthorized", "Unauthorized", detail, headers=headers)


def receipt_post(source: str, kind: Receipts, fields: Mapping[str, str]) -> FeedPost:
    """The event a receipt reports about the message the provider knows by its id: a
    delivery, a failure (of the number, or of this message only), or nothing for a status on
    the way, counted by its name. The same status of the same message is one notification."""
    check_storable(dict(fields))
    message_id, status = fields.get(kind.id_field, ""), fields.get(kind.status_field, "").lower()
    errors = [
        (name, f"Required, at most {most} characters.")
        for name, value, most in (
            (kind.id_field, message_id, _MAX_ID),
            (kind.status_field, status, _MAX_STATUS),
        )
        if not 0 < len(value) <= most
    ]
    if errors:
        raise validation_problem(errors)
    if status != "delivered" and status not in kind.failed:
        return FeedPost([], ignored=(status if status in kind.passing else "other",))
    code = fields.get(kind.code_field, "")[:20]
    failed = status in kind.failed
    event = ProviderEvent(
        type=ProviderEventType.BOUNCE if failed else ProviderEventType.DELIVERY,
        permanent=failed,
        source=source,
        diagnostic=f"{source} {status}" + (f" (error {code})" if failed and code else ""),
        message_id=fields.get(kind.reference_field) if kind.reference_field else None,
        provider_id=message_id,
        address_refused=code in kind.refused,
    )
    return FeedPost([event], notification_id=f"{message_id}:{status}")
