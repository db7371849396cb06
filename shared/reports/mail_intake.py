"""Reports by mail acted on, in the caller's transaction: only where the signed address a
report came to names one of our messages (shared.reports.bounce_tokens) and the recipient it reports
is that message's, so that no one acts on a message with a report they made up, nor on
someone else's address with the token of a mail they received themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from shared.database.models import outbox
from shared.messaging.messages import Queueing
from shared.messaging.outbox import ERASED, Channel
from shared.reports.bounce_tokens import named_by
from shared.reports.mail_reports import MailReport, RecipientReport, ReportKind
from shared.reports.provider_events import ProviderEvent, Recorded, public_id_of, record

SOURCE = "mail"
# What carries no report about a recipient: counted by kind, never read further.
IGNORED = (ReportKind.AUTO_REPLY, ReportKind.OTHER)


@dataclass(frozen=True)
class Taken:
    """What a report by mail did: the events recorded (and how many named no message of ours),
    and how many of its findings were refused as forged."""

    kind: ReportKind
    recorded: Recorded
    events: tuple[ProviderEvent, ...] = ()
    forged: int = 0


def take(
    connection: Connection,
    report: MailReport,
    *,
    addressed_to: str | None,
    deps: Queueing,
    now: datetime,
) -> Taken:
    """Act on `report`, which came to `addressed_to` (the MTA's envelope recipient; else the
    one the report's headers name).

    A token that does not verify, or a report whose envelope id or quoted Message-ID names
    another message than its token, is forged as a whole; a finding about another recipient
    than the message's is forged too. A report to an address without a token names nothing.
    """
    nothing = Recorded(accepted=0, unknown=0)
    if report.kind in IGNORED:
        return Taken(report.kind, nothing)
    named = named_by(addressed_to or report.addressed_to or "", deps.settings.secret_keys)
    if named.forged or _disagrees(report, named.public_id):
        return Taken(report.kind, nothing, forged=max(len(report.findings), 1))
    recipient = _recipient(connection, named.public_id) if named.public_id else None
    if recipient is None:
        return Taken(report.kind, Recorded(accepted=0, unknown=len(report.findings)))
    ours = [found for found in report.findings if _about(found, recipient)]
    events = tuple(_event(found, str(named.public_id)) for found in ours)
    recorded = nothing
    if events:
        recorded = record(connection, list(events), deps=deps, now=now)
    return Taken(report.kind, recorded, events, forged=len(report.findings) - len(ours))


def _disagrees(report: MailReport, public_id: str | None) -> bool:
    """Whether the report's envelope id or the Message-ID it quotes names another message of
    ours than its token does (both are ours only as `<delivery id>` or `<delivery id@…>`)."""
    quoted = [report.envelope_id, report.message_id]
    named = {public_id_of(reference) for reference in quoted if reference} - {None}
    return public_id is not None and bool(named - {public_id})


def _recipient(connection: Connection, public_id: str) -> str | None:
    """The recipient of our email `public_id`, if there is one."""
    statement = select(outbox.c.recipient).where(
        outbox.c.public_id == public_id, outbox.c.channel == Channel.EMAIL
    )
    recipient: str | None = connection.execute(statement).scalar()
    return recipient


def _about(found: RecipientReport, recipient: str) -> bool:
    """Whether a finding is about the message's recipient (an erased account's message keeps
    none to compare: its report marks the message and suppresses nothing)."""
    if recipient == ERASED:
        return True
    return found.recipient is not None and found.recipient.lower() == recipient.lower()


def _event(found: RecipientReport, public_id: str) -> ProviderEvent:
    return ProviderEvent(
        type=found.type,
        permanent=found.permanent,
        source=SOURCE,
        recipient=found.recipient,
        diagnostic=found.diagnostic,
        message_id=public_id,
        address_refused=found.address_refused,
    )
