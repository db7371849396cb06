"""One report by mail acted on in one transaction, however it arrived (`outbox-relay bounce`,
BOUNCE_MAILBOX)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from shared.clock import utcnow
from shared.database.throttle import Throttle
from shared.messaging.fallbacks import FallbackWriter
from shared.messaging.suppressions import LazySuppressor
from shared.reports.mail_intake import Taken, take
from shared.reports.mail_reports import read_mail
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings

log = logging.getLogger(__name__)

# The most of a mail read: a report asked for with RET=HDRS is a few kilobytes.
MAX_BYTES = 10 * 1024 * 1024


def take_mail(engine: Engine, settings: Settings, raw: bytes, recipient: str | None) -> Taken:
    """Read one mail and act on it in one transaction, logging what it did; NotAMail, or the
    database's SQLAlchemyError (nothing done)."""
    report = read_mail(raw)
    box, throttle = SecretBox(*settings.secret_keys), Throttle(settings.secret_key)
    deps = FallbackWriter(settings, box, throttle, LazySuppressor(settings.secret_keys))
    with engine.begin() as connection:
        taken = take(connection, report, addressed_to=recipient, deps=deps, now=utcnow())
    log.info(
        "report by mail read",
        extra={
            "kind": str(taken.kind),
            "accepted": taken.recorded.accepted,
            "unknown": taken.recorded.unknown,
            "forged": taken.forged,
        },
    )
    return taken
