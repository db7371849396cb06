"""A real SMTP server (aiosmtpd) that answers each step of a session as the test says: the
greeting, EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO (per recipient too), the DATA command
(`data_command`, in place of its 354) and the message (`data`); over STARTTLS or implicit TLS
with a certificate from a test CA (trustme), with AUTH if asked; offering PIPELINING if asked,
and then able to hold its replies to MAIL and RCPT until DATA arrives, as RFC 2920 lets it;
offering CHUNKING if asked, serving BDAT (RFC 3030), which aiosmtpd lacks, as Postfix does.

A step's reply is a full SMTP reply (`535 5.7.8 Authentication credentials invalid`), `hang`
(say nothing), `drop` (close the connection) or `wait:S` (answer as a healthy server, S seconds
late); for the message, `late:S` too (keep it at once, as delivered, and answer its 250 S
seconds later: a content scan after DATA); unset, the step goes as a healthy server's.
Replies may change while the server runs. Every MAIL FROM is timed, and sessions that end
without a message (probes) are counted.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, AnyStr

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

from support.ports import free_port
from support.served import Served

STAGES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data_command", "data")

# aiosmtpd warns on every successful login that a field it sets itself is deprecated.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass
class Script:
    """What the server answers at each step; the records of what it saw."""

    replies: dict[str, str] = field(default_factory=dict)
    # RCPT TO replies by recipient address, before `replies["rcpt"]`.
    recipients: dict[str, str] = field(default_factory=dict)
    accepted: list[EmailMessage] = field(default_factory=list)
    mail_times: list[float] = field(default_factory=list)
    # The longest the server's event loop ran late (a loaded machine): a MAIL FROM it read may
    # have come that much earlier, so that times spread apart can read bunched.
    loop_lag: float = 0.0
    sessions: int = 0
    open_sessions: int = 0  # connected now
    # Refuse a session past this many open at once, as Postfix's connection count limit does.
    max_sessions: int | None = None
    # Refuse a session past this many opened within a window of so many seconds, as Postfix's
    # connection rate limit (anvil) does, with the same text as its count limit.
    connection_rate: tuple[int, float] | None = None
    connected_at: list[float] = field(default_factory=list)
    pipelining: bool = False  # offered in the EHLO reply
    chunking: bool = False  # offered in the EHLO reply
    chunks: int = 0  # BDAT commands received
    # Hold the replies to MAIL and RCPT until DATA arrives: a client that waits for each reply
    # before its next command (one that does not pipeline) waits until its timeout.
    withhold: bool = False
    # Keep a refused recipient all the same, so that DATA is answered 354 (a non-conforming
    # server: RFC 5321 says 503 or 554 to a DATA with no recipient).
    keep_refused_recipients: bool = False
    probes: int = 0  # sessions that went as far as MAIL FROM and ended with no message
    auth_attempts: int = 0
    # The commands (`auth`, `data`) that came over a connection without TLS, in order.
    in_clear: list[str] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def reply(self, stage: str, recipient: str | None = None) -> str | None:
        """The reply set for `stage` now, if any."""
        with self._lock:
            if recipient is not None and recipient in self.recipients:
                return self.recipients[recipient]
            return self.replies.get(stage)

    def set(self, **replies: str | None) -> None:
        """Change the replies of some steps (None: back to normal), while the server runs."""
        with self._lock:
            for stage, reply in replies.items():
                assert stage in STAGES, stage
                if reply is None:
                    self.replies.pop(stage, None)
                else:
                    self.replies[stage] = reply

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until `count` messages were accepted; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.accepted) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.accepted)} of {count} messages arrived")
                self._lock.wait(left)
            return list(self.accepted)

    def wait_until_open(self, count: int, timeout: float = 10.0) -> None:
        """Block until exactly `count` sessions are open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.open_sessions != count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.open_sessions} sessions open, not {count}")
                self._lock.wait(left)

    def heard(self, server: SMTP, command: str) -> None:
        """Write `command` down if it came in clear."""
        assert server.transport is not None
        if server.transport.get_extra_info("ssl_object") is None:
            with self._lock:
                self.in_clear.append(command)

    def over_rate(self) -> bool:
        """Count a connection now; whether it is one past `connection_rate`."""
        if self.connection_rate is None:
            return False
        most, window = self.connection_rate
        now = time.monotonic()
        with self._lock:
            self.connected_at = [at for at in self.connected_at if at > now - window]
            self.connected_at.append(now)
            return len(self.connected_at) > most

    def note(self, **counts: int) -> None:
        with self._lock:
            for name, add in counts.items():
                setattr(self, name, getattr(self, name) + add)
            self._lock.notify_all()


class _Handler:
    """aiosmtpd hooks answering from the script."""

    def __init__(self, script: Script) -> None:
        self.script = script

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        reply = await _act(server, self.script.reply("ehlo"))
        if reply:
            return [reply]
        script = self.script
        extensions = (("250-PIPELINING", script.pipelining), ("250-CHUNKING", script.chunking))
        offered = [extension for extension, on in extensions if on]
        return [*responses[:-1], *offered, responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.script._lock:
            self.script.mail_times.append(time.monotonic())
        reply = await _act(server, self.script.reply("mail"))
        if reply:
            return reply
        envelope.mail_from = address
        session.mailed = True
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = await _act(server, self.script.reply("rcpt", address))
        if reply:
            if self.script.keep_refused_recipients:
                envelope.rcpt_tos.append(address)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        self.script.heard(server, "data")
        scripted = self.script.reply("data")
        late = scripted is not None and scripted.startswith("late:")
        reply = None if late else await _act(server, scripted)
        if reply:
            return reply
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        session.delivered = True
        with self.script._lock:
            self.script.accepted.append(message)
            self.script._lock.notify_all()
        if late and scripted is not None:
            await asyncio.sleep(float(scripted.removeprefix("late:")))
        return "250 Ok 0100018c-staged-000000"


async def _act(server: SMTP, reply: str | None) -> str | None:
    """Hang, drop or wait as scripted; else the reply to send, if any."""
    if reply is not None and reply.startswith("wait:"):
        await asyncio.sleep(float(reply.removeprefix("wait:")))
        return None
    if reply == "hang":
        await asyncio.sleep(3600)
    if reply == "drop":
        assert server.transport is not None
        server.transport.close()
        return "421 closing"
    return reply


class _Session(Session):
    """aiosmtpd's session, and whether this one named a sender and delivered a message."""

    mailed = False
    delivered = False


class _StagedSMTP(SMTP):
    """aiosmtpd's server with a scripted greeting and STARTTLS, counting sessions."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._script = handler.script
        self._withheld: list[str] | None = None  # replies held until DATA arrives
        self._chunks = bytearray()  # the message's BDAT chunks so far

    def _create_session(self) -> _Session:
        return _Session(self.loop)

    async def _handle_client(self) -> None:
        script = self._script
        script.note(sessions=1, open_sessions=1)
        try:
            reply = await _act(self, script.reply("greeting"))
            if script.over_rate() or (
                script.max_sessions is not None and script.open_sessions > script.max_sessions
            ):
                reply = "421 4.7.0 staged.test Error: too many connections from 127.0.0.1"
            if reply:
                await self.push(reply)
                assert self.transport is not None
                self.transport.close()
                return
            await super()._handle_client()
        finally:
            script.note(open_sessions=-1)
            if (
                isinstance(self.session, _Session)
                and self.session.mailed
                and not self.session.delivered
            ):
                script.note(probes=1)

    async def push(self, status: AnyStr) -> None:
        if self._withheld is not None:
            self._withheld.append(status if isinstance(status, str) else status.decode())
            return
        await super().push(status)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if self._script.withhold:
            self._withheld = []
        await super().smtp_MAIL(arg)

    async def _release_withheld(self) -> None:
        """Send the replies held since MAIL, the message having begun."""
        withheld, self._withheld = self._withheld or [], None
        for status in withheld:
            await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        await self._release_withheld()
        reply = await _act(self, self._script.reply("data_command"))
        if reply:
            await self.push(reply)
            return
        await super().smtp_DATA(arg)

    async def smtp_BDAT(self, arg: str | None) -> None:
        """A chunk of the message (`BDAT <size> [LAST]`), read whatever the reply so that the
        session stays in step (RFC 3030 2); scripted as DATA: `data_command` answers the chunk
        in its place, `data` the whole message at LAST. Postfix's replies otherwise."""
        words = (arg or "").split()
        if not (words and words[0].isdigit() and words[1:] in ([], ["LAST"])):
            await self.push("501 5.5.4 Syntax: BDAT count [LAST]")
            return
        chunk = await self._reader.readexactly(int(words[0]))
        self._script.note(chunks=1)
        await self._release_withheld()
        assert self.envelope is not None
        reply = await _act(self, self._script.reply("data_command"))
        if not reply and not self.envelope.rcpt_tos:
            reply = "554 5.5.1 Error: no valid recipients"
        if not reply:
            self._chunks += chunk
            if not words[1:]:
                await self.push(f"250 2.0.0 Ok: {len(chunk)} bytes")
                return
            self.envelope.original_content = self.envelope.content = bytes(self._chunks)
            reply = await self._call_handler_hook("DATA")
        self._chunks.clear()
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(reply)

    async def smtp_STARTTLS(self, arg: str) -> None:
        reply = await _act(self, self._script.reply("starttls"))
        if reply:
            await self.push(reply)
            return
        await super().smtp_STARTTLS(arg)


class _StagedController(Controller):
    def factory(self) -> SMTP:
        return _StagedSMTP(self.handler, **self.SMTP_kwargs)


@dataclass(frozen=True)
class SmtpCA:
    """A certificate authority for the tests, and a server certificate it signed."""

    ca: trustme.CA
    leaf: trustme.LeafCert

    @classmethod
    def make(cls) -> SmtpCA:
        ca = trustme.CA()
        return cls(ca, ca.issue_cert("127.0.0.1", "localhost"))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf.configure_cert(context)
        return context


class StagedSmtp(Served):
    """A _StagedSMTP server on 127.0.0.1 in its own thread.

    `tls`: None, `starttls` (offered, with `certificate`) or `implicit` (smtps). `login`: a
    (user, password) pair AUTH must present; a wrong one gets `535 5.7.8`. `pipelining`,
    `chunking` and `withhold`: see Script.
    """

    def __init__(
        self,
        *,
        tls: str | None = None,
        certificate: SmtpCA | None = None,
        login: tuple[str, str] | None = None,
        pipelining: bool = False,
        chunking: bool = False,
        withhold: bool = False,
    ) -> None:
        self.script = Script(pipelining=pipelining, chunking=chunking, withhold=withhold)
        self.port = free_port()
        self.tls = tls
        self.login = login
        # AUTH is offered (over TLS or not: the tests' own network) and checked when a client
        # presents it; the relay presents it whenever its URL carries a user.
        kwargs: dict[str, Any] = {"auth_require_tls": False, "authenticator": self._authenticate}
        context = certificate.server_context() if certificate else None
        if tls == "starttls":
            kwargs["tls_context"] = context
        self._controller = _StagedController(
            _Handler(self.script),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if tls == "implicit" else None,
            **kwargs,
        )

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        self.script.note(auth_attempts=1)
        self.script.heard(server, "auth")
        scripted = self.script.reply("auth")
        if scripted:
            return AuthResult(success=False, handled=False, message=scripted)
        good = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        # handled=False: aiosmtpd answers 535 itself; handled=True would leave the client
        # waiting for an answer that never comes.
        return AuthResult(success=good, handled=False)

    def url(
        self,
        *,
        timeout: float | None = None,
        user: str = "",
        password: str = "",
        starttls: str | None = None,
    ) -> str:
        """SMTP_URL for this server, with `starttls` as given ("" leaves it out) or as the server
        serves it: `false` without TLS, the loopback exception that lets a password go in clear.

        Without a `timeout`, the relay's own (30 s): a loaded machine passed 2 s, and a send that
        timed out came out `transient` in a test of a revoked password. A test of a hang sets
        its short one.
        """
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        credentials = f"{user}:{password}@" if user else ""
        if starttls is None:
            starttls = {"starttls": "true", "implicit": ""}.get(self.tls or "", "false")
        options = [f"timeout={timeout}"] if timeout is not None else []
        options += [f"starttls={starttls}"] if starttls else []
        query = f"?{'&'.join(options)}" if options else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}{query}"

    def start(self) -> None:
        """Listen, and watch how late the server's loop runs."""
        self._controller.start()
        asyncio.run_coroutine_threadsafe(_watch_lag(self.script), self._controller.loop)

    def stop(self) -> None:
        """Stop listening and cancel whatever hangs."""
        self._controller.stop(no_assert=True)


async def _watch_lag(script: Script, tick: float = 0.01) -> None:
    """Record in `script.loop_lag` the longest a tick of the loop came late, until cancelled
    (the controller's stop cancels its tasks)."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(tick)
        late = time.monotonic() - started - tick
        with script._lock:
            script.loop_lag = max(script.loop_lag, late)
