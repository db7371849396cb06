"""Email over SMTP, one connection kept open and reused across messages, each reply judged by
its named step; MAIL, RCPT and DATA pipelined (RFC 2920) where the server offers it, and the
message with them as one `BDAT … LAST` chunk (RFC 3030) where it offers CHUNKING too."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable

from outbox_relay.channels import Email, Message
from outbox_relay.channels import smtp_wire as wire
from outbox_relay.failures import DeliveryFailure, Stage, Verdict, smtp_failure
from shared.settings.smtp_url import SmtpSettings, StartTls

# A connection idle longer than this is checked with NOOP before use, besides the check every
# reuse makes for a server that spoke or hung up: a connection can die on the way without a word
# (a NAT or a firewall forgetting it), and a message must not fail because its session went stale.
IDLE_CHECK_SECONDS = 5.0

# The steps a pipelined send writes at once, each with the replies it takes for a yes: with
# DATA, whose 354 asks for the message; with the message as a chunk, which takes the 250.
_Steps = tuple[tuple[Stage, tuple[int, ...]], ...]
_ENVELOPE: _Steps = ((Stage.MAIL, (250,)), (Stage.RCPT, (250, 251)))
_PIPELINE: _Steps = (*_ENVELOPE, (Stage.DATA, (354,)))
_CHUNKED: _Steps = (*_ENVELOPE, (Stage.DATA, (250,)))


class _Gone(Exception):
    """A send that failed before the server answered any of its steps: the session was closed
    under it (a dropped connection, or the server's `421` for closing it)."""

    def __init__(self, failure: DeliveryFailure) -> None:
        super().__init__(failure.description)
        self.failure = failure


def _closing(description: str) -> bool:
    """Whether a refusal is a server closing the session on its own: `421 4.4.2` (RFC 3463's
    bad connection: Postfix's idle timeout, `Error: timeout exceeded`)."""
    return description.startswith("SMTP 421 4.4.2 ")


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
    would send the message again. The reply to the end of the message alone has its own bound
    (smtp_wire.END_OF_DATA_SECONDS, RFC 5321's 10 minutes): by then the server may have
    delivered the message, and giving up on it would send it twice.
    """

    def __init__(
        self, settings: SmtpSettings, pace: Callable[[float, int], None] | None = None
    ) -> None:
        self._settings = settings
        self._pace = pace
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._refusals = 0  # messages refused in this session
        self._cut = threading.Event()

    def send(self, message: Message, start_by: float) -> str | None:
        """Deliver one email or raise the DeliveryFailure of the step that failed; the id the
        provider's 250 gives the message, if any (SES: `250 Ok <id>`)."""
        assert isinstance(message, Email)
        deadline = time.monotonic() + self._settings.timeout
        kept = self._checked(deadline)
        smtp = self._connection(deadline)
        if self._pace is not None:
            self._pace(start_by, message.priority)
            # Handed over by start_by, when the lease still covers a whole timeout.
            deadline = time.monotonic() + self._settings.timeout
        try:
            return self._transaction(smtp, message, deadline)
        except _Gone as gone:
            if not kept:
                raise gone.failure from gone.__cause__
        # The server closed the kept session before it answered anything of this send (its
        # idle timeout struck between the check and MAIL): not the provider failing, so the
        # message goes at once over a new session, the try counted nowhere.
        try:
            return self._transaction(self._connection(deadline), message, deadline)
        except _Gone as gone:
            raise gone.failure from gone.__cause__

    def _transaction(self, smtp: smtplib.SMTP, message: Email, deadline: float) -> str | None:
        """MAIL, RCPT and DATA over `smtp`; the provider's id of the message, if any. The
        DeliveryFailure of the step that failed, raised as _Gone when the server had answered
        nothing of it."""
        stage = Stage.MAIL
        try:
            if smtp.has_extn("pipelining"):
                # One round trip a message with CHUNKING, two without, rather than four: each
                # costs the relay a wake-up, and a provider far away its latency.
                # `stage` follows the reply awaited: a timeout or a drop is that step's.
                chunked = smtp.has_extn("chunking")
                steps = _CHUNKED if chunked else _PIPELINE
                pipelined = wire.pipeline(message, chunked, smtp.has_extn("dsn"))
                wire.within(smtp, deadline).send(pipelined)
                for step, (stage, ok) in enumerate(steps):
                    if chunked and step == len(steps) - 1:
                        reply = wire.end_of_data_reply(smtp, self._cut)
                    else:
                        reply = wire.within(smtp, deadline).getreply()
                    if reply[0] not in ok:
                        wire.unwind(smtp, len(steps) - 1 - step, deadline)
                    wire.expect(reply, stage, *ok)
                if not chunked:
                    wire.within(smtp, deadline).send(wire.message_text(message.data))
                    reply = wire.end_of_data_reply(smtp, self._cut)
            else:
                dsn = smtp.has_extn("dsn")
                mail = wire.mail_from(message, dsn)
                wire.expect(wire.envelope(wire.within(smtp, deadline), "mail", mail), stage, 250)
                stage = Stage.RCPT
                rcpt = wire.rcpt_to(message, dsn)
                wire.expect(
                    wire.envelope(wire.within(smtp, deadline), "rcpt", rcpt), stage, 250, 251
                )
                stage = Stage.DATA
                reply = wire.data(smtp, message, deadline, self._cut)
            wire.expect(reply, stage, 250)
        except wire.UnexpectedReply as refused:
            self._end_transaction(refused.failure, stage, deadline)
            if stage is Stage.MAIL and _closing(refused.failure.description):
                raise _Gone(refused.failure) from None
            raise refused.failure from None
        except smtplib.SMTPResponseException as exc:
            failure = smtp_failure(stage, exc.smtp_code, wire.decoded(exc.smtp_error))
            self._end_transaction(failure, stage, deadline)
            raise failure from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            failure = smtp_failure(stage, None, f"{type(exc).__name__}: {exc}")
            if stage is Stage.MAIL:
                raise _Gone(failure) from exc
            raise failure from exc
        self._last_used = time.monotonic()
        return wire.provider_id(wire.decoded(reply[1]))

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
                code, _ = wire.within(smtp, deadline).rset()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code == 250:
                self._last_used = time.monotonic()
                return
        self.close()

    def greet(self) -> bool:
        """Open a session as a send does (connect, EHLO, STARTTLS and AUTH as configured) and
        QUIT, sending no message: `outpost check` reaching the provider at no cost. Whether the
        session was encrypted; the DeliveryFailure of the step that failed, as a send's."""
        self._smtp = self._open(time.monotonic() + self._settings.timeout)
        encrypted = isinstance(self._smtp.sock, ssl.SSLSocket)
        self.close()
        return encrypted

    def cut(self) -> None:
        """Shut the session's socket, so that a send waiting on it fails at once: at the end of
        DATA as an unknown outcome (end_of_data_reply), elsewhere as a dropped connection."""
        self._cut.set()
        smtp = self._smtp
        if smtp is not None and smtp.sock is not None:
            with contextlib.suppress(OSError):
                smtp.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Say QUIT if the server still listens, then drop the socket."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _checked(self, deadline: float) -> bool:
        """Whether a session is kept and still open, closing one the server has closed or is
        closing: one it spoke on unasked (Postfix's `421 4.4.2 … timeout exceeded` before it
        hangs up an idle session) or hung up, and one idle past IDLE_CHECK_SECONDS that does
        not answer NOOP with 250 (a connection dropped on the way, which says nothing)."""
        smtp = self._smtp
        if smtp is None:
            return False
        if wire.spoke(smtp):
            self.close()
            return False
        if time.monotonic() - self._last_used > IDLE_CHECK_SECONDS:
            try:
                code, _ = wire.within(smtp, deadline).noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self.close()
                return False
        return True

    def _connection(self, deadline: float) -> smtplib.SMTP:
        """The kept session, or a new one."""
        if self._smtp is None:
            self._smtp = self._open(deadline)
            self._refusals = 0
        return self._smtp

    def _open(self, deadline: float) -> smtplib.SMTP:
        """A session ready for MAIL FROM, or the DeliveryFailure of the step that failed."""
        s = self._settings
        smtp: smtplib.SMTP
        try:
            left = wire.seconds_left(deadline)
            # Built with the host, which TLS needs to check the certificate's name; a greeting
            # other than 220 raises SMTPConnectError.
            smtp = (
                smtplib.SMTP_SSL(s.host, s.port, timeout=left, context=ssl.create_default_context())
                if s.implicit_tls
                else smtplib.SMTP(s.host, s.port, timeout=left)
            )
        except smtplib.SMTPConnectError as exc:
            raise smtp_failure(Stage.GREETING, exc.smtp_code, wire.decoded(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_failure(Stage.CONNECT, None, f"{type(exc).__name__}: {exc}") from exc
        stage = Stage.EHLO
        try:
            wire.expect(wire.within(smtp, deadline).ehlo(), stage, 250)
            offered = smtp.has_extn("starttls")
            if s.starttls is StartTls.REQUIRED or (s.starttls is StartTls.IF_OFFERED and offered):
                stage = Stage.STARTTLS
                if not offered:
                    raise wire.UnexpectedReply(smtp_failure(stage, None, "STARTTLS not offered"))
                wire.within(smtp, deadline).starttls(context=ssl.create_default_context())
                stage = Stage.EHLO
                wire.expect(wire.within(smtp, deadline).ehlo(), stage, 250)
            if s.username is not None:
                stage = Stage.AUTH
                wire.authenticate(wire.within(smtp, deadline), s.username, s.password or "")
        except wire.UnexpectedReply as refused:
            smtp.close()
            raise refused.failure from None
        except smtplib.SMTPResponseException as exc:
            smtp.close()
            raise smtp_failure(stage, exc.smtp_code, wire.decoded(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise smtp_failure(stage, None, f"{type(exc).__name__}: {exc}") from exc
        return smtp
