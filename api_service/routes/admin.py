"""/v1/admin/…: the operators' routes, behind `Authorization: Bearer $ADMIN_TOKEN`."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import g

from api_service.admin_auth import require_bearer
from api_service.admin_schemas import (
    AuditListSchema,
    BulkRetryResultSchema,
    BulkRetrySchema,
    DeadListQuerySchema,
    DeadPageSchema,
    DiscardResultSchema,
    ErasedSchema,
    MessageDetailSchema,
    ReissueSchema,
    RetryResultSchema,
    StatsSchema,
    StrandedListSchema,
    SuppressionListSchema,
    SuppressionRemovalSchema,
    SuppressionRemovedSchema,
    UnlockedSchema,
)
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from api_service.lookup_schemas import (
    AccountEventPageSchema,
    AccountListSchema,
    AccountsQuerySchema,
    LookupQuerySchema,
    PageQuerySchema,
    SentPageSchema,
)
from api_service.openapi import QUERY_PROBLEMS, Blueprint
from api_service.problems import Problem
from shared import operations
from shared.clock import utcnow
from shared.database.models import MAX_ID

bp = Blueprint(
    "admin",
    __name__,
    description="Operators: dead letters, lookup, stranded accounts, figures, audit.",
)
# Every admin route: a bad X-Operator (400), the token (401, 404), the limit, the database.
ADMIN_PROBLEMS = (400, 401, 404, 429, 503)
# The 409 answered for a reissue that sent nothing: slug, title, detail.
_REISSUE_REFUSED = {
    operations.ReissueOutcome.NOT_PENDING: (
        "not-pending",
        "No pending account",
        "No account with this id is waiting for activation.",
    ),
    operations.ReissueOutcome.SUPPRESSED: (
        "address-suppressed",
        "Address suppressed",
        "The account's address is suppressed: a code sent to it would die undelivered. Remove "
        "it first (POST /v1/admin/suppressions/remove) if it takes mail again.",
    ),
}
BEARER: list[dict[str, list[str]]] = [{"adminToken": []}]


@bp.before_request
def _authenticate() -> None:
    g.actor = require_bearer()


@bp.get("/v1/admin/dead-letters")
@bp.arguments(DeadListQuerySchema, location="query")
@bp.response(200, DeadPageSchema)
@bp.problems(*ADMIN_PROBLEMS, *QUERY_PROBLEMS)
@bp.doc(security=BEARER)
def list_dead_letters(query: dict[str, Any]) -> dict[str, Any]:
    """Unresolved dead letters, newest first, a page at a time."""
    items, cursor = read(
        unit_of_work,
        operations.list_dead,
        operations.DeadFilter.from_mapping(query),
        limit=query["limit"],
        before=query.get("cursor"),
    )
    return {"items": [asdict(item) for item in items], "next_cursor": cursor}


@bp.get("/v1/admin/dead-letters/<uuid:public_id>")
@bp.response(200, MessageDetailSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def show_dead_letter(public_id: uuid.UUID) -> dict[str, Any]:
    """A message with its attempts and provider events; never its parameters or secrets."""
    detail = read(unit_of_work, operations.show, str(public_id))
    if detail is None:
        raise _no_such_message()
    return asdict(detail)


@bp.post("/v1/admin/dead-letters/<uuid:public_id>/retry")
@bp.response(200, RetryResultSchema)
@bp.problems(*ADMIN_PROBLEMS, 429)
@bp.doc(security=BEARER)
def retry_dead_letter(public_id: uuid.UUID) -> dict[str, Any]:
    """Deliver again: a fresh code if it carried one, else requeued; once, however often asked."""
    deps = dependencies()
    result = act(unit_of_work, operations.retry, deps, str(public_id), actor=g.actor, now=utcnow())
    if result.outcome == operations.RetryOutcome.NOT_FOUND:
        raise _no_such_message()
    return asdict(result)


@bp.post("/v1/admin/dead-letters/retry")
@bp.arguments(BulkRetrySchema)
@bp.response(200, BulkRetryResultSchema)
@bp.problems(*ADMIN_PROBLEMS, 400, 413, 415, 422, 429)
@bp.doc(security=BEARER)
def retry_dead_letters(data: dict[str, Any]) -> dict[str, Any]:
    """Retry the matching dead letters, oldest first, at most `limit` of them."""
    deps = dependencies()
    results = act(
        unit_of_work,
        operations.retry_all,
        deps,
        operations.DeadFilter.from_mapping(data),
        actor=g.actor,
        now=utcnow(),
        cap=data["limit"],
    )
    return {"retried": operations.count_retried(results), "results": [asdict(r) for r in results]}


@bp.post("/v1/admin/dead-letters/<uuid:public_id>/discard")
@bp.response(200, DiscardResultSchema)
@bp.problems(*ADMIN_PROBLEMS, 429)
@bp.doc(security=BEARER)
def discard_dead_letter(public_id: uuid.UUID) -> dict[str, Any]:
    """Mark a dead letter dealt with, sending nothing; `discarded` false if it was not one."""
    discarded = act(unit_of_work, operations.discard, str(public_id), actor=g.actor, now=utcnow())
    return {"id": str(public_id), "discarded": discarded}


@bp.get("/v1/admin/messages")
@bp.arguments(LookupQuerySchema, location="query")
@bp.response(200, SentPageSchema)
@bp.problems(*ADMIN_PROBLEMS, *QUERY_PROBLEMS)
@bp.doc(security=BEARER)
def list_messages(query: dict[str, Any]) -> dict[str, Any]:
    """Every message to an address, newest first, a page at a time; never a code or a body."""
    items, cursor = read(
        unit_of_work, operations.messages_to, query["recipient"], before=query.get("before")
    )
    return {"items": [asdict(item) for item in items], "next": cursor}


@bp.get("/v1/admin/accounts")
@bp.arguments(AccountsQuerySchema, location="query")
@bp.response(200, AccountListSchema)
@bp.problems(*ADMIN_PROBLEMS, *QUERY_PROBLEMS)
@bp.doc(security=BEARER)
def list_accounts(query: dict[str, Any]) -> dict[str, Any]:
    """The accounts holding an email address or a phone number."""
    found = read(
        unit_of_work, operations.accounts_of, email=query.get("email"), phone=query.get("phone")
    )
    return {"items": [asdict(account) for account in found]}


@bp.get(f"/v1/admin/accounts/<int(min=1, max={MAX_ID}):user_id>/events")
@bp.arguments(PageQuerySchema, location="query")
@bp.response(200, AccountEventPageSchema)
@bp.problems(*ADMIN_PROBLEMS, *QUERY_PROBLEMS)
@bp.doc(security=BEARER)
def list_account_events(query: dict[str, Any], user_id: int) -> dict[str, Any]:
    """An account's own history, newest first, a page at a time; never a password or a code."""
    found = read(unit_of_work, operations.history_of, user_id, before=query.get("before"))
    if found is None:
        raise _no_such_account()
    items, cursor = found
    return {"items": [asdict(item) for item in items], "next": cursor}


@bp.get("/v1/admin/stats")
@bp.response(200, StatsSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def stats() -> dict[str, Any]:
    """Counts by status and channel, the oldest due message's age, the last hour's outcomes."""
    return asdict(read(unit_of_work, operations.stats, utcnow()))


@bp.get("/v1/admin/stranded")
@bp.response(200, StrandedListSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def stranded() -> dict[str, Any]:
    """Pending accounts whose latest activation message is dead or whose code expired."""
    gated = dependencies().settings.login_requires_provisioning
    found = read(unit_of_work, operations.stranded, utcnow(), gated=gated)
    return {"items": [asdict(account) for account in found]}


@bp.post(f"/v1/admin/users/<int(min=1, max={MAX_ID}):user_id>/reissue-activation")
@bp.response(200, ReissueSchema)
@bp.problems(*ADMIN_PROBLEMS, 409, 429)
@bp.doc(security=BEARER)
def reissue_activation(user_id: int) -> dict[str, Any]:
    """Send a pending account a fresh activation code; 409 if none, or its address suppressed."""
    deps = dependencies()
    result = act(
        unit_of_work, operations.reissue_activation, deps, user_id, actor=g.actor, now=utcnow()
    )
    if result.delivery is None:
        raise Problem(409, *_REISSUE_REFUSED[result.outcome])
    return {"user_id": user_id, "delivery": result.delivery}


@bp.get("/v1/admin/suppressions")
@bp.response(200, SuppressionListSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def list_suppressions() -> dict[str, Any]:
    """The suppressed addresses, newest first (at most 500)."""
    entries = read(unit_of_work, operations.list_suppressions)
    return {"items": [asdict(entry) for entry in entries]}


@bp.post("/v1/admin/suppressions/remove")
@bp.arguments(SuppressionRemovalSchema)
@bp.response(200, SuppressionRemovedSchema)
@bp.problems(*ADMIN_PROBLEMS, 400, 413, 415, 422, 429)
@bp.doc(security=BEARER)
def remove_suppressions(data: dict[str, Any]) -> dict[str, Any]:
    """Let messages go to these addresses again; audited."""
    addresses = list(dict.fromkeys(data["addresses"]))
    deps = dependencies()
    removed = act(
        unit_of_work,
        operations.remove_suppressions,
        deps,
        addresses,
        actor=g.actor,
        now=utcnow(),
    )
    return {"removed": removed}


@bp.delete(f"/v1/admin/users/<int(min=1, max={MAX_ID}):user_id>")
@bp.response(200, ErasedSchema)
@bp.problems(*ADMIN_PROBLEMS, 429)
@bp.doc(security=BEARER)
def erase_user(user_id: int) -> dict[str, Any]:
    """Erase an account and scrub its address from every message (GDPR art. 17); audited."""
    deps = dependencies()
    if not act(unit_of_work, operations.erase, deps, user_id, actor=g.actor, now=utcnow()):
        raise _no_such_account()
    return {"user_id": user_id, "erased": True}


@bp.post(f"/v1/admin/users/<int(min=1, max={MAX_ID}):user_id>/unlock")
@bp.response(200, UnlockedSchema)
@bp.problems(*ADMIN_PROBLEMS, 429)
@bp.doc(security=BEARER)
def unlock_user(user_id: int) -> dict[str, Any]:
    """Lift an account's lockouts: its failed sign-ins and wrong codes are forgotten; audited."""
    deps = dependencies()
    if not act(unit_of_work, operations.unlock, deps, user_id, actor=g.actor, now=utcnow()):
        raise _no_such_account()
    return {"user_id": user_id, "unlocked": True}


@bp.get("/v1/admin/audit")
@bp.response(200, AuditListSchema)
@bp.problems(*ADMIN_PROBLEMS)
@bp.doc(security=BEARER)
def audit() -> dict[str, Any]:
    """The newest hundred operator actions."""
    entries = read(unit_of_work, operations.audit_log)
    return {
        "items": [{**asdict(entry), "summary": operations.in_words(entry)} for entry in entries]
    }


def _no_such_message() -> Problem:
    return Problem(404, "not-found", "Not Found", "No message has this id.")


def _no_such_account() -> Problem:
    return Problem(404, "not-found", "Not Found", "No account has this id.")
