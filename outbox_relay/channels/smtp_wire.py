"""The SMTP wire below SmtpChannel: AUTH with one mechanism, each reply judged by its step,
pipelined commands and a chunk written at once, and what a refusal inside a pipeline leaves
owed."""

from __future__ import annotations

import re
import select
import smtplib
import ssl
import threading
import time

from outbox_relay.channels import Email
from outbox_relay.failures import DeliveryFailure, Stage, smtp_failure, unanswered

# How long the reply to the end of a message is waited for, whatever the send's timeout: RFC
# 5321 §4.5.3.2.6 gives it 10 minutes, because the server may already have delivered the
# message when its reply is late (a content scan after DATA, a milter under load), and a
# client that gives up sooner sends it again (RFC 1047). The relay's lease is renewed
# meanwhile (outbox_relay.leases).
END_OF_DATA_SECONDS = 600.0


def authenticate(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH once, with the first of PLAIN, LOGIN, CRAM-MD5 the server offers.

    Not smtplib's login(), which after a 535 tries each other mechanism in turn: one wrong
    password would cost two or three failed logins a session, and a server counting them (an
    account lockout, fail2ban) would see a burst.
    """
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in AUTH_MECHANISMS if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    smtp.user, smtp.password = username, password
    answer = getattr(smtp, "auth_" + mechanism.lower().replace("-", "_"))
    smtp.auth(mechanism, answer, initial_response_ok=True)


AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


class UnexpectedReply(Exception):
    """A reply other than the one a step expects, carrying its DeliveryFailure."""

    def __init__(self, failure: DeliveryFailure) -> None:
        super().__init__(failure.description)
        self.failure = failure


def expect(reply: tuple[int, bytes | str], stage: Stage, *ok: int) -> None:
    code, text = reply
    if code not in ok:
        raise UnexpectedReply(smtp_failure(stage, code if code > 0 else None, decoded(text)))


# A word of 8 to 200 such characters, a digit among them.
ID = re.compile(r"(?=[^\d]*\d)[\w.@<>=+-]{8,200}")


def provider_id(reply: str) -> str | None:
    """The id a provider's 250 gives the message: the reply's last word, when there are
    several and it looks like an id (long enough, with a digit): `Ok 0100018c…-000000`."""
    words = reply.split()
    if len(words) < 2 or not ID.fullmatch(words[-1]):
        return None
    return words[-1]


def seconds_left(deadline: float) -> float:
    """Seconds left before `deadline` (time.monotonic); TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the send took its whole timeout")
    return left


def within(smtp: smtplib.SMTP, deadline: float) -> smtplib.SMTP:
    """`smtp`, its next step allowed only what is left before `deadline`."""
    left = seconds_left(deadline)
    if smtp.sock is not None:
        smtp.sock.settimeout(left)
    return smtp


def spoke(smtp: smtplib.SMTP) -> bool:
    """Whether the server sent something unasked, or hung up, since its last reply: a session
    between sends owes nothing, so either means it is closing (looked at without waiting)."""
    sock = smtp.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        if not isinstance(sock, ssl.SSLSocket):
            return True
        # Readable may be TLS alone (TLS 1.3's session tickets, sent after the handshake):
        # only data, or the end, is the server speaking. Whatever is read, the session ends.
        sock.setblocking(False)
        try:
            sock.recv(1)
        finally:
            sock.setblocking(True)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except (OSError, ValueError):
        return True
    return True


def envelope(smtp: smtplib.SMTP, verb: str, argument: str) -> tuple[int, bytes]:
    """MAIL or RCPT as smtplib's mail() and rcpt() send it for an address without options,
    less their address parser (email.utils.parseaddr, twice a message): the addresses are
    already checked (MAIL_FROM at start, recipients when queued)."""
    smtp.putcmd(verb, argument)
    return smtp.getreply()


def pipeline(message: Email, chunked: bool, dsn: bool) -> bytes:
    """MAIL, RCPT and DATA as envelope and smtplib's data() send them, for one write; chunked,
    `BDAT <size> LAST` and the message in place of DATA. Addresses are ASCII (addresses.py)."""
    if not chunked:
        return envelopes(message, "DATA", dsn).encode("ascii")
    text = ended(message.data)
    return envelopes(message, f"BDAT {len(text)} LAST", dsn).encode("ascii") + text


def envelopes(message: Email, last: str, dsn: bool) -> str:
    mail, rcpt = mail_from(message, dsn), rcpt_to(message, dsn)
    return f"MAIL {mail}\r\nRCPT {rcpt}\r\n{last}\r\n"


def mail_from(message: Email, dsn: bool) -> str:
    """MAIL's argument: the envelope sender, and where the message asks for reports and the
    server offers DSN (`dsn`), only the headers back (RFC 3461 RET=HDRS: no code returns in a
    report) and its delivery id (a UUID, valid xtext as it is) as the envelope id."""
    options = f" RET=HDRS ENVID={message.id}" if dsn and message.reports else ""
    return f"FROM:<{message.sender}>{options}"


def rcpt_to(message: Email, dsn: bool) -> str:
    """RCPT's argument: the recipient, and a report asked for its failure or delay, naming
    the recipient as sent (ORCPT: a report names it so even after a smarthost rewrote it)."""
    if not (dsn and message.reports):
        return f"TO:<{message.recipient}>"
    original = xtext(f"rfc822;{message.recipient}")
    return f"TO:<{message.recipient}> NOTIFY=FAILURE,DELAY ORCPT={original}"


def xtext(text: str) -> str:
    """RFC 3461's xtext of an ASCII string: `+`, `=` and what is not printable as `+XX`."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in text)


def message_text(data: bytes) -> bytes:
    """The message as smtplib's data() sends it after the 354: bytes as they are (compose ends
    every line with CRLF), leading dots doubled, then CRLF if missing and the lone dot."""
    quoted = data
    if data.startswith(b".") or b"\n." in data:  # a regex over every mail otherwise
        quoted = smtplib._quote_periods(data)  # type: ignore[attr-defined]
    return ended(quoted) + b"." + smtplib.bCRLF


def ended(data: bytes) -> bytes:
    """`data` ending with CRLF, as the receiver keeps a message sent with DATA."""
    return data if data[-2:] == smtplib.bCRLF else data + smtplib.bCRLF


def end_of_data_reply(smtp: smtplib.SMTP, cut: threading.Event) -> tuple[int, bytes]:
    """The reply to the end of a message (the lone dot, or `BDAT … LAST`'s chunk), waited for
    up to END_OF_DATA_SECONDS; UnexpectedReply with `unanswered` when none came by then, or when the
    wait was `cut` (a stopping relay shut the socket)."""
    started = time.monotonic()
    try:
        return within(smtp, started + END_OF_DATA_SECONDS).getreply()
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):
            raise UnexpectedReply(unanswered(END_OF_DATA_SECONDS)) from exc
        if cut.is_set():
            raise UnexpectedReply(unanswered(time.monotonic() - started)) from exc
        raise


def data(
    smtp: smtplib.SMTP, message: Email, deadline: float, cut: threading.Event
) -> tuple[int, bytes]:
    """DATA as smtplib's data() sends it, its 354 and the message within `deadline`, and
    the reply to the message's end as end_of_data_reply waits for it."""
    smtp.putcmd("data")
    expect(within(smtp, deadline).getreply(), Stage.DATA, 354)
    within(smtp, deadline).send(message_text(message.data))
    return end_of_data_reply(smtp, cut)


def unwind(smtp: smtplib.SMTP, owed: int, deadline: float) -> None:
    """After a refusal in a pipeline, read the `owed` replies still due (the 503s it caused) so
    that QUIT's reply is QUIT's own. A chunk's reply is always owed: the server reads the chunk
    whatever came before it (RFC 3030 2).

    A server that answers DATA 354 all the same takes whatever follows as message text: a QUIT
    would wait out the timeout, a lone dot could hand it an empty message. The connection is
    dropped instead, which ends the transaction undelivered (RFC 5321 4.1.1.10); so it is when
    reading the owed replies fails.
    """
    try:
        codes = [within(smtp, deadline).getreply()[0] for _ in range(owed)]
    except (smtplib.SMTPException, OSError):
        smtp.close()
        return
    if 354 in codes:
        smtp.close()


def decoded(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
