"""POST /v1/registrations."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import request

from api_service.address_rules import check_allowed
from api_service.clients import current_client
from api_service.dependencies import dependencies
from api_service.flows.commands import Register
from api_service.flows.idempotency import KEY_PATTERN
from api_service.flows.registration import Registration, register
from api_service.http_limits import checked_beside_the_hash, client_to_check
from api_service.openapi import BODY_PROBLEMS, FOLLOW_DELIVERY, Blueprint
from api_service.problems import Problem
from api_service.request_body import read_json
from api_service.schemas import RegistrationAcceptedSchema, RegistrationSchema
from api_service.suggestions import with_suggestion
from shared.settings.signup import SignupMode

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("registrations", __name__, description="Creating accounts.")

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "A retry with the same key and body gets the first answer and writes "
    "nothing; the same key with another body gets 422.",
    "schema": {"type": "string", "pattern": KEY_PATTERN},
}


def fingerprinted(body: dict[str, Any]) -> dict[str, Any]:
    """What an Idempotency-Key's retry must repeat: the body but its human check, whose token
    is spent once verified (a retry brings a new one)."""
    return {name: value for name, value in body.items() if name != "captcha_token"}


def open_for_signup(view: F) -> F:
    """Answer `403 …/signup-closed` to every request while SIGNUP=closed, before its body is
    read or anything else: the same answer whatever the address, read from the settings
    alone, and nothing in the database read or written (the per-IP count of the request
    included: the answer costs nothing to defend)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if dependencies().settings.signup_mode == SignupMode.CLOSED:
            client_to_check()
            raise Problem(
                403,
                "signup-closed",
                "Sign-up closed",
                "This service makes accounts by invitation only.",
            )
        return view(*args, **kwargs)

    return cast(F, checked)


@bp.post("/v1/registrations")
@checked_beside_the_hash
@open_for_signup
@bp.arguments(RegistrationSchema)
@bp.response(202, RegistrationAcceptedSchema)
@bp.problems(403, *BODY_PROBLEMS)
@bp.doc(parameters=[IDEMPOTENCY_KEY], responses=FOLLOW_DELIVERY)
def create_registration(data: dict[str, Any]) -> dict[str, Any]:
    """Register an account; the answer is the same whether or not the address is known, its
    `suggestion` too (read from the address alone)."""
    deps = dependencies()
    check_allowed(deps.settings.signup_rules, data.get("email"), "email")
    registration = Registration(
        Register.of(data),
        payload=fingerprinted(read_json(request)),
        idempotency_key=request.headers.get("Idempotency-Key"),
        client=client_to_check(),
        sender=current_client(),
    )
    return with_suggestion(register(deps, registration), registration.command.email)
