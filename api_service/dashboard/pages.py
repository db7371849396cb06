"""The dashboard's pages: the overview, dead letters and one message, an address's lookup,
stranded accounts, suppressions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api_service.dashboard.access import actor, bp, html
from api_service.dashboard.chart import hourly_chart
from api_service.dashboard.notices import notice_of, retry_tally
from api_service.dependencies import dependencies, unit_of_work
from api_service.flows.unit_of_work import act, read
from shared import operations
from shared.accounts.addresses import AddressError, normalise_address
from shared.clock import utcnow
from shared.operations.page_views import dead_page
from shared.operations.page_views import overview as overview_of
from shared.text import storable

PAGE_SIZE = 50
RECIPIENT_MAX = 320


def _url(endpoint: str, params: Mapping[str, object]) -> str:
    """The URL of `endpoint` with the query parameters that have a value."""
    values: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    return url_for(endpoint, **values)


@bp.get("/")  # as typed; url_for builds the first one registered, the one below
@bp.get("")
def overview() -> BaseResponse:
    """Backlog and outcome figures, the last 24 hours as a chart, the latest operator actions."""
    now = utcnow()
    shown = read(unit_of_work, overview_of, now)
    return html(
        render_template(
            "dashboard/overview.html",
            page="overview",
            figures=shown.figures,
            backlog=shown.backlog,
            chart=hourly_chart(shown.hours),
            actions=shown.actions,
            now=now,
        )
    )


class Unlisted(Exception):
    """A filter or cursor the dead-letter list cannot take: refused, never quietly dropped."""


@bp.errorhandler(Unlisted)
@bp.errorhandler(operations.UnknownFilter)
def _refused_filter(exc: Exception) -> BaseResponse:
    page = render_template(
        "dashboard/error.html",
        title="Unknown filter",
        message=str(exc),
        back=url_for(".dead_letters"),
    )
    return html(page, 400)


def _filter(values: Mapping[str, str]) -> operations.DeadFilter:
    """The dead-letter filter a query or form names."""
    recipient = values.get("recipient", "").strip()
    if len(recipient) > RECIPIENT_MAX or not storable(recipient):
        raise Unlisted("No recipient can have that address.")
    return operations.DeadFilter.from_mapping({**values, "recipient": recipient})


def _cursor(values: Mapping[str, str]) -> int | None:
    """The page cursor `before`, if any: a plain number."""
    raw = values.get("before", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) >= 19:
        raise Unlisted(f"There is no page before {raw[:20]!r}: a page cursor is a number.")
    return int(raw)


def _back_to_dead_letters(**notice: str | int | None) -> BaseResponse:
    """Redirect (303) to the list as the form that posted showed it, with a notice."""
    where = _filter(request.form).as_strings()
    before = _cursor(request.form)
    return redirect(_url(".dead_letters", {**where, "before": before, **notice}), 303)


@bp.get("/dead")
def dead_letters() -> BaseResponse:
    """Unresolved dead letters, newest first, filtered and paged by cursor."""
    where = _filter(request.args)
    before = _cursor(request.args)
    notice, notice_link = notice_of(request.args), None
    # A refused retry names the address and leads to what to remove (not in the URL: the
    # redirect carries the message's id alone).
    refused = request.args.get("target", "")[:64]
    shown = read(
        unit_of_work,
        dead_page,
        where,
        limit=PAGE_SIZE,
        before=before,
        refused=refused if request.args.get("notice") == "retry:suppressed" else None,
    )
    found = shown.suppressed
    if found is not None:
        notice = ("warn", f"{found.address} is suppressed: remove it first, then retry.")
        notice_link = url_for("dashboard.suppressions", _anchor=f"suppression-{found.id}")
    return html(
        render_template(
            "dashboard/dead.html",
            page="dead",
            letters=shown.letters,
            filters=where.as_strings(),
            before=before,
            next_cursor=shown.next_cursor,
            matching=shown.matching,
            choices=operations.FILTER_CHOICES,
            notice=notice,
            notice_link=notice_link,
            cap=operations.BULK_RETRY_CAP,
        )
    )


@bp.get("/dead/<public_id>")
def message(public_id: str) -> BaseResponse:
    """One message with its attempts and provider events; never its parameters or secrets."""
    detail = read(unit_of_work, operations.show, public_id[:64])
    if detail is None:
        page = render_template(
            "dashboard/error.html", title="Not found", message=f"No message {public_id[:64]}."
        )
        return html(page, 404)
    return html(render_template("dashboard/message.html", page="dead", detail=detail))


@bp.post("/dead/<public_id>/retry")
def retry(public_id: str) -> BaseResponse:
    """Retry one dead letter: a fresh code if it carried one, else requeued."""
    deps = dependencies()
    result = act(unit_of_work, operations.retry, deps, public_id[:64], actor=actor(), now=utcnow())
    return _back_to_dead_letters(
        notice=f"retry:{result.outcome}", target=result.id, delivery=result.delivery
    )


@bp.post("/dead/<public_id>/discard")
def discard(public_id: str) -> BaseResponse:
    """Mark one dead letter dealt with, sending nothing."""
    done = act(unit_of_work, operations.discard, public_id[:64], actor=actor(), now=utcnow())
    return _back_to_dead_letters(
        notice="discard:done" if done else "discard:not_dead", target=public_id[:64]
    )


@bp.post("/dead/retry-all")
def retry_all() -> BaseResponse:
    """Retry every dead letter matching the filters shown (up to the bulk cap), oldest first."""
    where = _filter(request.form)
    deps = dependencies()
    results = act(unit_of_work, operations.retry_all, deps, where, actor=actor(), now=utcnow())
    # The list after a bulk retry starts again at its first page.
    tally = retry_tally(results)
    params = {**where.as_strings(), "notice": "retry_all", "total": len(results), **tally}
    return redirect(_url(".dead_letters", params), 303)


@bp.get("/lookup")
def lookup() -> BaseResponse:
    """An address's accounts, its messages (newest first, each leading to its attempts) and its
    account's history."""
    typed = request.args.get("address", "").strip()[:RECIPIENT_MAX]
    before = _cursor(request.args)
    if not typed:
        return html(render_template("dashboard/lookup.html", page="lookup", address=""))
    try:
        address = normalise_address(typed)
    except AddressError as exc:
        page = render_template(
            "dashboard/lookup.html", page="lookup", address=typed, notice=("error", str(exc))
        )
        return html(page, 400)
    found = read(unit_of_work, operations.look_up, address, before=before)
    return html(
        render_template(
            "dashboard/lookup.html",
            page="lookup",
            address=address,
            before=before,
            found=found,
            retention_days=dependencies().settings.account_events_retention_days,
            notice=notice_of(request.args),
        )
    )


@bp.post("/accounts/<int:user_id>/unlock")
def unlock(user_id: int) -> BaseResponse:
    """Lift an account's lockouts (failed sign-ins, wrong codes), and show its lookup again."""
    deps = dependencies()
    done = act(unit_of_work, operations.unlock, deps, user_id, actor=actor(), now=utcnow())
    params = {
        "address": request.form.get("address", "")[:RECIPIENT_MAX],
        "notice": "unlock:done" if done else "unlock:absent",
        "target": str(user_id),
    }
    return redirect(_url(".lookup", params), 303)


@bp.get("/stranded")
def stranded() -> BaseResponse:
    """Pending accounts whose activation cannot arrive or no longer works."""
    gated = dependencies().settings.login_requires_provisioning
    accounts = read(unit_of_work, operations.stranded, utcnow(), gated=gated)
    return html(
        render_template(
            "dashboard/stranded.html",
            page="stranded",
            accounts=accounts,
            notice=notice_of(request.args),
        )
    )


@bp.post("/stranded/<int:user_id>/reissue")
def reissue(user_id: int) -> BaseResponse:
    """Send a stranded account a fresh activation code."""
    deps = dependencies()
    result = act(
        unit_of_work, operations.reissue_activation, deps, user_id, actor=actor(), now=utcnow()
    )
    notice = f"reissue:{result.outcome}"
    params = {"notice": notice, "target": str(user_id), "delivery": result.delivery}
    return redirect(_url(".stranded", params), 303)


@bp.get("/suppressions")
def suppressions() -> BaseResponse:
    """The suppressed addresses, with a Remove button each."""
    entries = read(unit_of_work, operations.list_suppressions)
    return html(
        render_template(
            "dashboard/suppressions.html",
            page="suppressions",
            entries=entries,
            notice=notice_of(request.args),
        )
    )


@bp.post("/suppressions/remove")
def remove_suppression() -> BaseResponse:
    """Let messages go to one address again; what is not an address is on no list."""
    address = request.form.get("address", "").strip()[:254]
    try:
        address = normalise_address(address)
    except AddressError:
        return redirect(_url(".suppressions", {"notice": "suppression:invalid"}), 303)
    deps = dependencies()
    removed = act(
        unit_of_work,
        operations.remove_suppressions,
        deps,
        [address],
        actor=actor(),
        now=utcnow(),
    )
    # No address in the URL: it would stay in browser history and proxy logs, beyond erasure.
    notice = "suppression:removed" if removed else "suppression:absent"
    return redirect(_url(".suppressions", {"notice": notice}), 303)
