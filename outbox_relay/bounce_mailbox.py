"""BOUNCE_MAILBOX: the relay reads reports by mail from an IMAP mailbox over verified TLS, each
acted on as `outbox-relay bounce` acts on one, and deleted once it is read."""

from __future__ import annotations

import imaplib
import logging
import ssl

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from outbox_relay.reports_by_mail import MAX_BYTES, take_mail
from shared.reports.mail_reports import NotAMail
from shared.settings.bounce_mailbox import Mailbox
from shared.settings.config import Settings
from shared.settings.database_url import driver_message

log = logging.getLogger(__name__)

# Seconds an IMAP server may take to answer each command.
IMAP_TIMEOUT = 30.0
# How often the relay reads the mailbox.
INTERVAL_SECONDS = 60


def read_mailbox(engine: Engine, settings: Settings, mailbox: Mailbox) -> int:
    """Read every message in the mailbox's folder, delete those read, and expunge; how many
    were read. A message the database could not take stays for the next read; a mailbox that
    cannot be reached is logged and tried again then."""
    read = 0
    try:
        with imaplib.IMAP4_SSL(
            mailbox.host,
            mailbox.port,
            ssl_context=ssl.create_default_context(),
            timeout=IMAP_TIMEOUT,
        ) as imap:
            imap.login(mailbox.user, mailbox.password)
            imap.select(f'"{mailbox.folder}"')
            _, found = imap.uid("SEARCH", "ALL")
            for uid in (found[0] or b"").split():
                if not _take(engine, settings, imap, uid.decode()):
                    break
                imap.uid("STORE", uid.decode(), "+FLAGS", "(\\Deleted)")
                read += 1
            imap.expunge()
    except (OSError, imaplib.IMAP4.error) as exc:
        log.warning("bounce mailbox unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
    return read


def _take(engine: Engine, settings: Settings, imap: imaplib.IMAP4, uid: str) -> bool:
    """Act on message `uid`; whether it may go (read, or no mail at all)."""
    _, data = imap.uid("FETCH", uid, "(RFC822)")
    raw = next((part[1] for part in data if isinstance(part, tuple)), b"")
    try:
        take_mail(engine, settings, raw[:MAX_BYTES], None)
    except NotAMail as exc:
        log.warning("not a mail in the bounce mailbox, deleted", extra={"error": str(exc)})
    except SQLAlchemyError as exc:
        log.warning("database unavailable, the mail kept", extra={"error": driver_message(exc)})
        return False
    return True
