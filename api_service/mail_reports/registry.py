"""Every mail provider whose webhooks Outpost reads: its route, events and metric labels follow
this list (shared.reports.provider_events.MAIL_REPORTERS names them, in this order)."""

from __future__ import annotations

from api_service.mail_reports import mailgun, postmark, resend, sendgrid
from api_service.mail_reports.reader import Reader

READERS: tuple[Reader, ...] = (mailgun.READER, sendgrid.READER, postmark.READER, resend.READER)
