"""`outbox-relay bounce`: one report by mail on standard input, as an MTA's `pipe` transport or
alias hands it over, acted on as shared.reports.mail_intake says; the exit status tells the MTA
whether to keep the mail (sysexits.h)."""

from __future__ import annotations

import logging
import os
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.operator.dispatch import missing_database
from outbox_relay.reports_by_mail import MAX_BYTES, take_mail
from shared.database.db import engine_for
from shared.reports.mail_reports import NotAMail
from shared.settings.config import Settings
from shared.settings.database_url import driver_message

log = logging.getLogger(__name__)

# Read, whether acted on or not: the MTA delivered it.
EX_OK = os.EX_OK
# Not a mail: the MTA returns it (to the null sender of a report: dropped).
EX_DATAERR = os.EX_DATAERR
# The database is away: the MTA keeps the mail and tries again.
EX_TEMPFAIL = os.EX_TEMPFAIL
# A configuration the command cannot start with: kept by the MTA too, until it is mended.
EX_CONFIG = os.EX_CONFIG


def bounce(settings: Settings, stdin: BinaryIO, recipient: str | None) -> int:
    """Read one mail from `stdin`, which came to `recipient` (else the address its
    Delivered-To or X-Original-To names), and act on it in one transaction."""
    raw = stdin.read(MAX_BYTES)
    missing = missing_database(settings.database_url)
    if missing is not None:
        log.warning("no database, the mail kept for later", extra={"path": missing})
        return EX_TEMPFAIL
    engine = engine_for(settings)
    try:
        take_mail(engine, settings, raw, recipient)
    except NotAMail as exc:
        log.warning("not a mail, not read", extra={"error": str(exc)})
        return EX_DATAERR
    except SQLAlchemyError as exc:
        log.warning("database unavailable, the mail kept", extra={"error": driver_message(exc)})
        return EX_TEMPFAIL
    finally:
        engine.dispose()
    return EX_OK
