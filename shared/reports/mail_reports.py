"""Reports by mail read into findings: delivery status notifications (RFC 3464), feedback
reports (RFC 5965), bounces in no standard form (flufl.bounce), auto-replies (RFC 3834).

A report says what happened to which recipient; which message it is about is the address it
came to (shared.reports.bounce_tokens), and whether it may act is shared.reports.mail_intake's to
decide.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import logging
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from enum import StrEnum

from flufl.bounce import scan_message

from shared.vocabulary import ProviderEventType

# flufl.bounce logs each detector's exception with its traceback at ERROR before raising it,
# which _permanently_failed takes as "not recognised": a hostile mail must not fill the logs.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

# The envelope recipient as the receiving MTA writes it: Postfix's pipe and local delivery
# write both, newest first.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To")


class NotAMail(ValueError):
    """Bytes that hold no header: no mail at all (the CLI's exit 65, the route's 422)."""


class ReportKind(StrEnum):
    """What a mail to the bounce address is, and the metrics' `type` of those not acted on."""

    DELIVERY_STATUS = "delivery_status"
    FEEDBACK = "feedback"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    OTHER = "other"


@dataclass(frozen=True)
class RecipientReport:
    """What a report says happened to one recipient."""

    type: ProviderEventType
    permanent: bool
    recipient: str | None
    diagnostic: str
    # Whether a permanent failure is the address's (5.1.x: no such mailbox) or the message's.
    address_refused: bool = True


@dataclass(frozen=True)
class MailReport:
    """A mail read: its kind, its findings, the envelope recipient the MTA wrote, and what it
    quotes of the original (RFC 3461's envelope id, the original's Message-ID)."""

    kind: ReportKind
    findings: tuple[RecipientReport, ...] = ()
    addressed_to: str | None = None
    envelope_id: str | None = None
    message_id: str | None = None


def read_mail(raw: bytes) -> MailReport:
    """The report a mail makes, or NotAMail. An mbox `From ` line (Postfix pipe's `F` flag)
    before the headers is skipped."""
    if raw.startswith(b"From "):
        raw = raw.partition(b"\n")[2]
    # UTF-8 where the bytes are, replaced where not: every field then reads as a database
    # stores it (the email package would keep other bytes as lone surrogates).
    text = raw.decode("utf-8", "replace")
    try:
        mail = email.message_from_string(text, policy=email.policy.compat32)
        if not mail.keys():
            raise NotAMail("no header fields")
        return _report(mail)
    except RecursionError:
        raise NotAMail("parts nested too deeply") from None


def _report(mail: Message) -> MailReport:
    """The report a parsed mail makes."""
    addressed_to = next((_field(mail, name) for name in ENVELOPE_HEADERS if mail[name]), None)
    report_type = (mail.get_param("report-type") or "") if mail.is_multipart() else ""
    if mail.get_content_type() == "multipart/report" and report_type == "delivery-status":
        return _delivery_status(mail, addressed_to)
    if mail.get_content_type() == "multipart/report" and report_type == "feedback-report":
        return _feedback(mail, addressed_to)
    if str(mail.get("Auto-Submitted", "")).strip().lower().startswith("auto-replied"):
        return MailReport(ReportKind.AUTO_REPLY, addressed_to=addressed_to)
    failed = _permanently_failed(mail)
    if failed:
        said = "a permanent failure in no standard form (flufl.bounce)"
        findings = tuple(RecipientReport(ProviderEventType.BOUNCE, True, r, said) for r in failed)
        return MailReport(ReportKind.BOUNCE, findings, addressed_to)
    return MailReport(ReportKind.OTHER, addressed_to=addressed_to)


def _field(block: Message, name: str) -> str:
    """A field's value on one line, without NUL, which no database stores."""
    return " ".join(str(block.get(name, "")).replace("\x00", "").split())


def _permanently_failed(mail: Message) -> list[str]:
    """The recipients flufl.bounce finds permanently failed in a bounce of no standard form.

    Its detectors raise whatever a mail they misread makes them raise (IndexError for an
    empty From:, …), after logging it with its traceback: such a mail is none they recognise,
    and its log is no operator's concern (the flufl.bounce logger is quieted above).
    """
    try:
        found = scan_message(mail)
    except Exception:
        return []
    return sorted(address.decode("utf-8", "replace") for address in found)


def _parts(mail: Message, content_type: str) -> list[Message]:
    return [part for part in mail.walk() if part.get_content_type() == content_type]


def _address(block: Message, name: str) -> str | None:
    """The address of an RFC 3464 recipient field (`rfc822; jane@example.com`)."""
    address = _field(block, name).rpartition(";")[2].strip().strip("<>")
    return address or None


def _original_headers(mail: Message) -> Message | None:
    """The original message's headers a report returns (RET=HDRS: text/rfc822-headers; else
    the whole message/rfc822)."""
    for part in mail.walk():
        if part.get_content_type() == "text/rfc822-headers":
            encoded = str(part.get("Content-Transfer-Encoding", "")).lower()
            payload = part.get_payload()
            if encoded in ("base64", "quoted-printable"):
                decoded = part.get_payload(decode=True)
                payload = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else ""
            return HeaderParser(policy=email.policy.compat32).parsestr(str(payload))
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
    return None


def _fields(part: Message) -> list[Message]:
    """The blocks of fields of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    return [HeaderParser(policy=email.policy.compat32).parsestr(str(payload))]


def _finding(block: Message) -> RecipientReport | None:
    """One per-recipient block of a delivery status notification."""
    action = _field(block, "Action").lower()
    status = _field(block, "Status").partition(" ")[0]
    recipient = _address(block, "Original-Recipient") or _address(block, "Final-Recipient")
    code = _field(block, "Diagnostic-Code")
    diagnostic = f"{action} {status}" + (f": {code}" if code else "")
    if action == "failed":
        # 5.1.x but the sender's own (5.1.7, 5.1.8): the address has no mailbox (RFC 3463).
        refused = status.startswith("5.1.") and status not in ("5.1.7", "5.1.8")
        return RecipientReport(ProviderEventType.BOUNCE, True, recipient, diagnostic, refused)
    if action == "delayed":
        return RecipientReport(ProviderEventType.BOUNCE, False, recipient, diagnostic)
    if action in ("delivered", "relayed", "expanded"):
        return RecipientReport(ProviderEventType.DELIVERY, False, recipient, diagnostic)
    return None


def _delivery_status(mail: Message, addressed_to: str | None) -> MailReport:
    """RFC 3464: the per-message block (its Original-Envelope-Id), then one per recipient."""
    findings: list[RecipientReport] = []
    envelope_id = None
    for part in _parts(mail, "message/delivery-status"):
        blocks = _fields(part)
        if blocks and blocks[0].get("Original-Envelope-Id"):
            envelope_id = _field(blocks[0], "Original-Envelope-Id")
        findings += [found for block in blocks[1:] if (found := _finding(block))]
    original = _original_headers(mail)
    quoted = _field(original, "Message-ID") or None if original else None
    return MailReport(
        ReportKind.DELIVERY_STATUS, tuple(findings), addressed_to, envelope_id, quoted
    )


def _feedback(mail: Message, addressed_to: str | None) -> MailReport:
    """RFC 5965: a complaint about the original, its recipient the report's Original-Rcpt-To
    or else the original's To."""
    original = _original_headers(mail)
    recipient = None
    feedback_type = "abuse"
    for part in _parts(mail, "message/feedback-report"):
        for block in _fields(part):
            recipient = recipient or _address(block, "Original-Rcpt-To")
            feedback_type = _field(block, "Feedback-Type") or feedback_type
    if recipient is None and original is not None:
        recipient = email.utils.parseaddr(_field(original, "To"))[1] or None
    said = f"feedback report: {feedback_type}"
    finding = RecipientReport(ProviderEventType.COMPLAINT, True, recipient, said)
    quoted = _field(original, "Message-ID") or None if original else None
    return MailReport(ReportKind.FEEDBACK, (finding,), addressed_to, message_id=quoted)
