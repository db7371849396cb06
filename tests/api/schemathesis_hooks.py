"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks) for test_schemathesis.py.

A schema cannot list the 20,000 common passwords the API refuses, nor a country's numbering plan
or the rules of deliverable mail addresses, nor the languages a deployment adds, nor know which
Idempotency-Key was already used with another body; tests/api/schemathesis.toml lets the routes
taking a password or an address answer 422 to schema-valid data, and this check holds that 422
to exactly those reasons.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from api_service.code_schemas import CODE_OR_TOKEN
from api_service.flows.passwords import COMMON_PASSWORD

ROUTES_TAKING_ADDRESSES = (
    "/v1/admin/accounts",
    "/v1/admin/messages",
    "/v1/admin/suppressions/remove",
    "/v1/registrations",
    "/v1/activations",
    "/v1/activations/resend",
    "/v1/password-resets",
    "/v1/password-resets/confirm",
    "/v1/logins",
    "/v1/login-codes",
    "/v1/login-codes/confirm",
    "/v1/address-changes",
    "/v1/address-changes/confirm",
)
# Fields whose every value the schema allows only in shape: the number must exist in its
# country's plan and take SMS, the address must be deliverable mail, the language tag one this
# deployment writes messages in (en, fr, or one TEMPLATES_DIR adds); the lookups' query, one of
# whose email and phone a query's schema cannot require.
ADDRESSES = (
    "#/email",
    "#/phone",
    "#/new_email",
    "#/new_phone",
    "#/locale",
    "#/query/email",
    "#/query/phone",
    "#/query/recipient",
)
# The suppressed addresses an operator names, each an email address or a number.
LISTED_ADDRESSES = "#/addresses/"


@schemathesis.check
def valid_data_is_refused_only_for_a_common_password(
    ctx: Any, response: Any, case: schemathesis.Case
) -> bool | None:
    """A 422 to a schema-valid body may only name a common password, an address the schema
    cannot judge, a code and a token both or neither, or a reused key."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive or response.status_code != 422 or case.path not in ROUTES_TAKING_ADDRESSES:
        return None
    problem = response.json()
    if problem["type"].endswith("/idempotency-key-reused"):
        return None
    errors = problem.get("errors", [])
    other = [
        e
        for e in errors
        if e.get("detail") != COMMON_PASSWORD
        and e.get("detail") not in CODE_OR_TOKEN
        and e["pointer"] not in ADDRESSES
        and not e["pointer"].startswith(LISTED_ADDRESSES)
    ]
    if other or not errors:
        raise AssertionError(f"schema-valid body refused for another reason: {errors}")
    return None


# POST /v1/provider-events/mail takes a mail as it came: its bytes as they are, as for any
# binary body.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")
