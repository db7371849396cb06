"""What providers report after they took a message (bounces, complaints, receipts), recorded
once per notification."""

from __future__ import annotations

from dataclasses import dataclass

from api_service.flows.dependencies import Dependencies
from shared.clock import utcnow
from shared.reports.mail_intake import Taken, take
from shared.reports.mail_reports import MailReport
from shared.reports.provider_events import ProviderEvent, Recorded, first_seen, record


@dataclass(frozen=True)
class Token:
    """A token provider `source` signed one post with: valid once (Mailgun's)."""

    source: str
    value: str


class Replayed(Exception):
    """A post came with a signed token seen before: nothing of it was recorded."""


def record_events(
    deps: Dependencies,
    events: list[ProviderEvent],
    *,
    notification_id: str | None = None,
    once: Token | None = None,
) -> Recorded | None:
    """Record the events in one transaction; None if their notification was recorded before
    (a provider's retry, recording nothing). The token `once` is remembered in the same
    transaction, whatever the post reports: Replayed, recording nothing, if it was before."""
    now = utcnow()
    with deps.unit_of_work() as uow:
        connection = uow.connection
        if once is not None and not first_seen(connection, once.source, once.value, now):
            raise Replayed()
        if (
            events
            and notification_id is not None
            and not first_seen(connection, events[0].source, notification_id, now)
        ):
            return None
        recorded = record(connection, events, deps=deps, now=now)
        uow.commit()
    return recorded


def record_mail(deps: Dependencies, report: MailReport) -> Taken:
    """Act on a report by mail in one transaction (shared.reports.mail_intake)."""
    with deps.unit_of_work() as uow:
        taken = take(uow.connection, report, addressed_to=None, deps=deps, now=utcnow())
        uow.commit()
    return taken
