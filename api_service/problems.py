"""RFC 9457 problem documents for every error the API can answer."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, json
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from api_service.flows.errors import (
    BadIdempotencyKey,
    CodeExhausted,
    HumanCheckFailed,
    HumanCheckUnavailable,
    IdempotencyKeyReused,
    InvalidCode,
    InvalidCredentials,
    PasswordRequired,
    ProvisioningPending,
    Refused,
    TooManyRequests,
)
from shared.settings.database_url import driver_message

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://outpost.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error answered to the client as a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: Iterable[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = [{"pointer": f"#/{field}", "detail": message} for field, message in errors]
        self.headers = headers or {}

    def to_response(self) -> Response:
        """The problem as an HTTP response."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        response = Response(json.dumps(body), status=self.status, mimetype=MEDIA_TYPE)
        response.headers.update(self.headers)
        return response


def problem_for(refusal: Refused) -> Problem:
    """The problem document answering what a flow refused: the one place they meet HTTP."""
    match refusal:
        case TooManyRequests() | CodeExhausted() | ProvisioningPending():
            return _to_wait(refusal)
        case InvalidCode():
            return Problem(400, "invalid-code", "Invalid code", "The code is wrong or has expired.")
        case PasswordRequired():
            return Problem(
                409,
                "password-required",
                "Password required",
                "Another sign-up named this address: choose the account's password and send "
                "it with the same code.",
            )
        case InvalidCredentials():
            return Problem(
                401,
                "invalid-credentials",
                "Invalid credentials",
                "The address or the password is wrong, or the account is not active yet.",
            )
        case BadIdempotencyKey():
            return Problem(
                400,
                "bad-idempotency-key",
                "Bad Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters, without spaces.",
            )
        case IdempotencyKeyReused():
            return Problem(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used with a different request body.",
            )
        case HumanCheckFailed(detail=detail):
            return validation_problem([("captcha_token", detail)])
        case HumanCheckUnavailable():
            return Problem(
                503,
                "service-unavailable",
                "Service temporarily unavailable",
                "The human check could not be verified just now; try again shortly.",
                headers={"Retry-After": "5"},
            )
    raise TypeError(f"no problem document for {type(refusal).__name__}")


def _to_wait(refusal: TooManyRequests | CodeExhausted | ProvisioningPending) -> Problem:
    """The problem of a refusal that ends: its Retry-After says when."""
    match refusal:
        case TooManyRequests(wait=wait, detail=detail):
            return Problem(
                429, "too-many-requests", "Too Many Requests", detail, headers=_retry_after(wait)
            )
        case CodeExhausted(wait=wait):
            return Problem(
                429,
                "code-exhausted",
                "Too many tries",
                "Too many wrong codes were sent; ask for a new code.",
                headers=_retry_after(wait),
            )
    return Problem(
        503,
        "provisioning-pending",
        "Provisioning pending",
        "The account is being set up; sign in again shortly.",
        headers=_retry_after(refusal.wait),
    )


def _retry_after(wait: int) -> dict[str, str]:
    return {"Retry-After": str(max(wait, 1))}


def validation_problem(errors: Iterable[tuple[str, str]]) -> Problem:
    """A 422 naming each field that is wrong."""
    return Problem(422, "validation-error", "Request body is not valid", errors=sorted(errors))


def database_unavailable() -> Problem:
    """A 503 telling the client to try again shortly."""
    return Problem(
        503,
        "service-unavailable",
        "Service temporarily unavailable",
        "The database did not answer in time; the request may or may not have been saved. "
        "Try again shortly.",
        headers={"Retry-After": "5"},
    )


def overloaded(retry_after: int) -> Problem:
    """A 503 for a request that queued too long: shed, so that the server catches up."""
    return Problem(
        503,
        "service-unavailable",
        "Service temporarily unavailable",
        "Too many requests are waiting just now; nothing was done. Try again shortly.",
        headers={"Retry-After": str(max(retry_after, 1))},
    )


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-").replace("'", "")


def register_error_handlers(app: Flask) -> None:
    """Answer every error, expected or not, with a problem document and never a traceback."""

    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem.to_response()

    @app.errorhandler(Refused)
    def _refused(refusal: Refused) -> Response:
        return problem_for(refusal).to_response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        problem = Problem(status, _slug(exc.name), exc.name, exc.description)
        response = problem.to_response()
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        log.warning("database unavailable", extra={"error": driver_message(exc)})
        return database_unavailable().to_response()

    @app.errorhandler(PoolTimeout)
    def _pool_exhausted(_exc: PoolTimeout) -> Response:
        log.warning("database unavailable: no pooled connection within DATABASE_TIMEOUT")
        return database_unavailable().to_response()

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if exc.connection_invalidated:  # lost, or refusing writes (shared.database.db)
            log.warning("database unavailable", extra={"error": driver_message(exc)})
            return database_unavailable().to_response()
        log.error("database error: %s", type(exc.orig).__name__)
        return _internal().to_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return _internal().to_response()


def _internal() -> Problem:
    return Problem(500, "internal-error", "Internal error", "The request was not completed.")
