"""Email over SMTP, one connection kept open and reused across messages, each reply judged by
its named step; MAIL, RCPT and DATA pipelined (RFC 2920) where the server offers it, and the
message with them as one `BDAT … LAST` chunk (RFC 3030) where it offers CHUNKING too."""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable

from outbox_relay.channels import Email, Message
from outbox_relay.failures import DeliveryFailure, Stage, Verdict, smtp_failure
from shared.config import SmtpSettings, StartTls

# A connection idle longer than this is checked with NOOP before use: servers close idle
# sessions, and a message must not fail just because its connection went stale.
IDLE_CHECK_SECONDS = 5.0

# The steps a pipelined send writes at once, each with the replies it takes for a yes: with
# DATA, whose 354 asks for the message; with the message as a chunk, which takes the 250.
_Steps = tuple[tuple[Stage, tuple[int, ...]], ...]
_ENVELOPE: _Steps = ((Stage.MAIL, (250,)), (Stage.RCPT, (250, 251)))
_PIPELINE: _Steps = (*_ENVELOPE, (Stage.DATA, (354,)))
_CHUNKED: _Steps = (*_ENVELOPE, (Stage.DATA, (250,)))


# Messages refused in one session before it is ended rather than RSET: Postfix slows a session
# by a second a reply past 10 errors (smtpd_soft_error_limit) and drops it at 20 (the hard one),
# which a greylister deferring every new recipient would reach.
SESSION_REFUSALS = 5


class SmtpChannel:
    """Sends emails through one SMTP server, reconnecting after any failure.

    Each reply is judged by the step it answers (failures.classify_smtp): a refused MAIL FROM
    is the provider's, a refused RCPT the recipient's. A server offering PIPELINING gets MAIL,
    RCPT and DATA in one write and their replies are read in order, the first refusal deciding
    (the 503s it causes are not the failure); offering CHUNKING too, the message goes in that
    same write as `BDAT <size> LAST`, whose reply is the message's; one offering neither gets
    each step on its own. `pace` is called just before each MAIL FROM (SMTP_RATE counts there)
    with the time the message must be handed over by and its priority.

    The timeout bounds a whole send, not each step: every step may wait only for what is left
    of it. A provider answering each step just inside a per-step timeout would otherwise keep
    one send for several timeouts, past the lease that was sized for one, and another relay
    would send the message again.
    """

    def __init__(
        self, settings: SmtpSettings, pace: Callable[[float, int], None] | None = None
    ) -> None:
        self._settings = settings
        self._pace = pace
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._refusals = 0  # messages refused in this session

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one email or raise the DeliveryFailure of the step that failed; the id the
        provider's 250 gives the message, if any (SES: `250 Ok <id>`)."""
        assert isinstance(message, Email)
        stage = Stage.CONNECT
        deadline = time.monotonic() + self._settings.timeout
        try:
            smtp = self._connection(deadline)
            if self._pace is not None:
                self._pace(start_by, message.priority)
                # Handed over by start_by, when the lease still covers a whole timeout.
                deadline = time.monotonic() + self._settings.timeout
            stage = Stage.MAIL
            if smtp.has_extn("pipelining"):
                # One round trip a message with CHUNKING, two without, rather than four: each
                # costs the relay a wake-up, and a provider far away its latency.
                # `stage` follows the reply awaited: a timeout or a drop is that step's.
                chunked = smtp.has_extn("chunking")
                steps = _CHUNKED if chunked else _PIPELINE
                _within(smtp, deadline).send(_pipeline(message, chunked))
                for step, (stage, ok) in enumerate(steps):
                    reply = _within(smtp, deadline).getreply()
                    if reply[0] not in ok:
                        _unwind(smtp, len(steps) - 1 - step, deadline)
                    _expect(reply, stage, *ok)
                if not chunked:
                    _within(smtp, deadline).send(_message_text(message.data))
                    reply = _within(smtp, deadline).getreply()
            else:
                _expect(
                    _envelope(_within(smtp, deadline), "mail", f"FROM:<{message.sender}>"),
                    stage,
                    250,
                )
                stage = Stage.RCPT
                _expect(
                    _envelope(_within(smtp, deadline), "rcpt", f"TO:<{message.recipient}>"),
                    stage,
                    250,
                    251,
                )
                stage = Stage.DATA
                reply = _within(smtp, deadline).data(message.data)
            _expect(reply, stage, 250)
        except _Refused as refused:
            self._end_transaction(refused.failure, stage, deadline)
            raise refused.failure from None
        except smtplib.SMTPResponseException as exc:
            failure = smtp_failure(stage, exc.smtp_code, _text(exc.smtp_error))
            self._end_transaction(failure, stage, deadline)
            raise failure from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise smtp_failure(stage, None, f"{type(exc).__name__}: {exc}") from exc
        self._last_used = time.monotonic()
        return provider_id(_text(reply[1]))

    def _end_transaction(self, failure: DeliveryFailure, stage: Stage, deadline: float) -> None:
        """After a refusal of this message alone (at RCPT or DATA), RSET and keep the session
        for the next one, as an MTA does: a greylisted recipient must not cost the others a new
        connection, nor the provider a burst of them. Anything else closes it."""
        smtp = self._smtp
        self._refusals += 1
        reset = (
            smtp is not None
            and smtp.sock is not None
            and stage in (Stage.RCPT, Stage.DATA)
            and failure.verdict is not Verdict.PROVIDER_DOWN
            and self._refusals < SESSION_REFUSALS
        )
        if reset and smtp is not None:
            try:
                code, _ = _within(smtp, deadline).rset()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code == 250:
                self._last_used = time.monotonic()
                return
        self.close()

    def close(self) -> None:
        """Say QUIT if the server still listens, then drop the socket."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connection(self, deadline: float) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_used > IDLE_CHECK_SECONDS:
            try:
                _within(self._smtp, deadline).noop()
            except (smtplib.SMTPException, OSError):
                self.close()
        if self._smtp is None:
            self._smtp = self._open(deadline)
            self._refusals = 0
        return self._smtp

    def _open(self, deadline: float) -> smtplib.SMTP:
        """A session ready for MAIL FROM, or the DeliveryFailure of the step that failed."""
        s = self._settings
        smtp: smtplib.SMTP
        try:
            left = _left(deadline)
            # Built with the host, which TLS needs to check the certificate's name; a greeting
            # other than 220 raises SMTPConnectError.
            smtp = (
                smtplib.SMTP_SSL(s.host, s.port, timeout=left, context=ssl.create_default_context())
                if s.implicit_tls
                else smtplib.SMTP(s.host, s.port, timeout=left)
            )
        except smtplib.SMTPConnectError as exc:
            raise smtp_failure(Stage.GREETING, exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_failure(Stage.CONNECT, None, f"{type(exc).__name__}: {exc}") from exc
        stage = Stage.EHLO
        try:
            _expect(_within(smtp, deadline).ehlo(), stage, 250)
            offered = smtp.has_extn("starttls")
            if s.starttls is StartTls.REQUIRED or (s.starttls is StartTls.IF_OFFERED and offered):
                stage = Stage.STARTTLS
                if not offered:
                    raise _Refused(smtp_failure(stage, None, "STARTTLS not offered"))
                _within(smtp, deadline).starttls(context=ssl.create_default_context())
                stage = Stage.EHLO
                _expect(_within(smtp, deadline).ehlo(), stage, 250)
            if s.username is not None:
                stage = Stage.AUTH
                _authenticate(_within(smtp, deadline), s.username, s.password or "")
        except _Refused as refused:
            smtp.close()
            raise refused.failure from None
        except smtplib.SMTPResponseException as exc:
            smtp.close()
            raise smtp_failure(stage, exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise smtp_failure(stage, None, f"{type(exc).__name__}: {exc}") from exc
        return smtp


def _authenticate(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH once, with the first of PLAIN, LOGIN, CRAM-MD5 the server offers.

    Not smtplib's login(), which after a 535 tries each other mechanism in turn: one wrong
    password would cost two or three failed logins a session, and a server counting them (an
    account lockout, fail2ban) would see a burst.
    """
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in _AUTH_MECHANISMS if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    smtp.user, smtp.password = username, password
    answer = getattr(smtp, "auth_" + mechanism.lower().replace("-", "_"))
    smtp.auth(mechanism, answer, initial_response_ok=True)


_AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


class _Refused(Exception):
    """A reply other than the one a step expects, carrying its DeliveryFailure."""

    def __init__(self, failure: DeliveryFailure) -> None:
        super().__init__(failure.description)
        self.failure = failure


def _expect(reply: tuple[int, bytes | str], stage: Stage, *ok: int) -> None:
    code, text = reply
    if code not in ok:
        raise _Refused(smtp_failure(stage, code if code > 0 else None, _text(text)))


_ID = re.compile(r"[\w.@<>=+-]{8,200}")


def provider_id(reply: str) -> str | None:
    """The id a provider's 250 gives the message: the reply's last word, when there are
    several and it looks like an id (long enough, with a digit): `Ok 0100018c…-000000`."""
    words = reply.split()
    if len(words) < 2 or not _ID.fullmatch(words[-1]) or not any(c.isdigit() for c in words[-1]):
        return None
    return words[-1]


def _left(deadline: float) -> float:
    """Seconds left before `deadline` (time.monotonic); TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the send took its whole timeout")
    return left


def _within(smtp: smtplib.SMTP, deadline: float) -> smtplib.SMTP:
    """`smtp`, its next step allowed only what is left before `deadline`."""
    left = _left(deadline)
    if smtp.sock is not None:
        smtp.sock.settimeout(left)
    return smtp


def _envelope(smtp: smtplib.SMTP, verb: str, argument: str) -> tuple[int, bytes]:
    """MAIL or RCPT as smtplib's mail() and rcpt() send it for an address without options,
    less their address parser (email.utils.parseaddr, a tenth of a message's sending): the
    addresses are already checked (MAIL_FROM at start, recipients when queued)."""
    smtp.putcmd(verb, argument)
    return smtp.getreply()


def _pipeline(message: Email, chunked: bool) -> bytes:
    """MAIL, RCPT and DATA as _envelope and smtplib's data() send them, for one write; chunked,
    `BDAT <size> LAST` and the message in place of DATA. Addresses are ASCII (addresses.py)."""
    if not chunked:
        return _envelopes(message, "DATA").encode("ascii")
    text = _ended(message.data)
    return _envelopes(message, f"BDAT {len(text)} LAST").encode("ascii") + text


def _envelopes(message: Email, last: str) -> str:
    return f"MAIL FROM:<{message.sender}>\r\nRCPT TO:<{message.recipient}>\r\n{last}\r\n"


def _message_text(data: bytes) -> bytes:
    """The message as smtplib's data() sends it after the 354: bytes as they are (compose ends
    every line with CRLF), leading dots doubled, then CRLF if missing and the lone dot."""
    quoted = data
    if data.startswith(b".") or b"\n." in data:  # a regex over every mail otherwise
        quoted = smtplib._quote_periods(data)  # type: ignore[attr-defined]
    return _ended(quoted) + b"." + smtplib.bCRLF


def _ended(data: bytes) -> bytes:
    """`data` ending with CRLF, as the receiver keeps a message sent with DATA."""
    return data if data[-2:] == smtplib.bCRLF else data + smtplib.bCRLF


def _unwind(smtp: smtplib.SMTP, owed: int, deadline: float) -> None:
    """After a refusal in a pipeline, read the `owed` replies still due (the 503s it caused) so
    that QUIT's reply is QUIT's own. A chunk's reply is always owed: the server reads the chunk
    whatever came before it (RFC 3030 2).

    A server that answers DATA 354 all the same takes whatever follows as message text: a QUIT
    would wait out the timeout, a lone dot could hand it an empty message. The connection is
    dropped instead, which ends the transaction undelivered (RFC 5321 4.1.1.10); so it is when
    reading the owed replies fails.
    """
    try:
        codes = [_within(smtp, deadline).getreply()[0] for _ in range(owed)]
    except (smtplib.SMTPException, OSError):
        smtp.close()
        return
    if 354 in codes:
        smtp.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
