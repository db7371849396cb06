"""A real SMTP server for tests (aiosmtpd) that accepts, refuses, hangs or drops on demand."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any, overload

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from support.ports import free_port
from support.served import Served


def code_in(message: EmailMessage) -> str:
    """The one six-digit code in a mail's text part."""
    text = message.get_body(("plain",))
    assert text is not None
    [code] = set(re.findall(r"\b\d{6}\b", text.get_content()))
    return str(code)


def the_mail(messages: list[EmailMessage], to: str, subject: str) -> EmailMessage:
    """The one mail among `messages` to `to` under `subject`: a drain sends its rows at once,
    so the order they arrive in says nothing of the order they were asked for."""
    [mail] = [m for m in messages if str(m["To"]) == to and str(m["Subject"]) == subject]
    return mail


class Mails(Sequence[EmailMessage]):
    """Messages kept as their bytes, each parsed the first time it is read: Python's parser
    took 43 % of the CPU of a test that drains 10,000 messages and reads one header of each."""

    def __init__(self) -> None:
        self._raw: list[bytes] = []
        self._parsed: dict[int, EmailMessage] = {}

    def append(self, raw: bytes) -> None:
        self._raw.append(raw)

    def clear(self) -> None:
        self._raw.clear()
        self._parsed.clear()

    def headers(self, name: str) -> list[str]:
        """Each message's header `name`, read from its header block alone."""
        read = BytesHeaderParser(policy=email.policy.compat32)
        return [str(read.parsebytes(raw)[name]).strip() for raw in list(self._raw)]

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> EmailMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[EmailMessage]: ...

    def __getitem__(self, index: int | slice) -> EmailMessage | list[EmailMessage]:
        if isinstance(index, slice):
            return [self[n] for n in range(len(self._raw))[index]]
        n = range(len(self._raw))[index]
        if n not in self._parsed:
            parsed = email.message_from_bytes(self._raw[n], policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self._parsed[n] = parsed
        return self._parsed[n]

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else NotImplemented


@dataclass
class SmtpSink:
    """Behaviour per DATA: `accept`, `reply:NNN`, `hang`, `drop`; `delay` seconds before it.

    `script` is consumed first, one behaviour per message; then `mode` applies. `on_arrival`
    is called with each message before it is answered, so a test can act in the window
    between a provider's answer and the relay's record of it. `accepted_at` holds when each
    accepted message was answered (time.monotonic).
    """

    mode: str = "accept"
    delay: float = 0.0
    # What an accepted message is answered (Amazon SES: `250 Ok <its message id>`).
    accepted: str = "250 Message accepted"
    script: list[str] = field(default_factory=list)
    on_arrival: Callable[[EmailMessage], None] | None = None
    received: Mails = field(default_factory=Mails)
    accepted_at: list[float] = field(default_factory=list)
    data_commands: Mails = field(default_factory=Mails)
    connections: int = 0
    # Transactions begun (MAIL commands taken), whether or not they reached DATA.
    transactions: int = 0
    # Sessions the server closed for sitting idle (SinkServer's `idle`).
    timeouts: int = 0
    # Whether EHLO offers DSN (RFC 3461), taking its MAIL and RCPT parameters.
    dsn: bool = False
    # Each message's envelope as it came: MAIL FROM's address and options, RCPT TO's options;
    # and its recipients.
    envelopes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._changed:
            self.connections += 1
        if self.dsn:
            return [*responses[:-1], "250-DSN", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self._changed:
            self.transactions += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._changed:
            self.envelopes.append(
                (envelope.mail_from, list(envelope.mail_options), list(envelope.rcpt_options))
            )
            self.recipients.append(list(envelope.rcpt_tos))
            self.data_commands.append(envelope.original_content)
            arrived = len(self.data_commands) - 1
            behaviour = self.script.pop(0) if self.script else self.mode
        if self.on_arrival is not None:
            await asyncio.to_thread(self.on_arrival, self.data_commands[arrived])
        if self.delay:
            await asyncio.sleep(self.delay)
        if behaviour == "hang":
            await asyncio.sleep(3600)
        if behaviour == "drop":
            server.transport.close()
            return "421 closing"
        if behaviour.startswith("reply:"):
            code = behaviour.split(":", 1)[1]
            return f"{code} {'Try again later' if code.startswith('4') else 'Rejected'}"
        with self._changed:
            self.received.append(envelope.original_content)
            self.accepted_at.append(time.monotonic())
            self._changed.notify_all()
        return self.accepted

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until `count` messages were accepted; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received)} of {count} messages arrived")
                self._changed.wait(left)
            return list(self.received)


# The parameters of MAIL and RCPT that DSN adds, which aiosmtpd alone refuses with 555.
_DSN_PARAMETERS = ("RET", "ENVID", "NOTIFY", "ORCPT")


class _Server(SMTP):
    """aiosmtpd's server, taking DSN's parameters when its sink offers DSN."""

    def __init__(self, handler: SmtpSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = handler

    def _getparams(self, params: Any) -> Any:
        found = super()._getparams(params)
        if self._sink.dsn and found is not None:
            for name in _DSN_PARAMETERS:
                found.pop(name, None)
        return found


class _Controller(Controller):
    """A Controller serving _Server."""

    def factory(self) -> SMTP:
        return _Server(self.handler, **self.SMTP_kwargs)


class _ClosesIdle(_Server):
    """aiosmtpd's server, counting the idle sessions it closes (`SmtpSink.timeouts`); with
    `says_timeout`, closing them as Postfix does, `421 4.4.2 … Error: timeout exceeded` first
    (aiosmtpd alone hangs up without a word)."""

    def __init__(self, handler: SmtpSink, *, says_timeout: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._says_timeout = says_timeout

    def _timeout_cb(self) -> None:
        if self._says_timeout:
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(b"421 4.4.2 127.0.0.1 Error: timeout exceeded\r\n")
        super()._timeout_cb()  # type: ignore[no-untyped-call]
        with self._sink._changed:
            self._sink.timeouts += 1


class _IdleController(Controller):
    """A Controller whose sessions close after `idle` seconds without a command."""

    def __init__(self, sink: SmtpSink, port: int, idle: float, says_timeout: bool) -> None:
        super().__init__(sink, hostname="127.0.0.1", port=port, timeout=idle)
        self._says_timeout = says_timeout

    def factory(self) -> SMTP:
        return _ClosesIdle(self.handler, says_timeout=self._says_timeout, **self.SMTP_kwargs)


class SinkServer(Served):
    """An SmtpSink served on 127.0.0.1 by aiosmtpd in its own thread; given `idle`, it closes a
    session that sent no command for that many seconds (saying `421 4.4.2` first if
    `says_timeout`, as Postfix does)."""

    def __init__(self, idle: float | None = None, *, says_timeout: bool = False) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self._controller = (
            _Controller(self.sink, hostname="127.0.0.1", port=self.port)
            if idle is None
            else _IdleController(self.sink, self.port, idle, says_timeout)
        )

    def url(self, *, timeout: float | None = None) -> str:
        """SMTP_URL for this server; without a `timeout`, the relay's own (30 s), as
        StagedSmtp's: two seconds are a bound a loaded machine can pass."""
        query = f"?timeout={timeout}" if timeout is not None else ""
        return f"smtp://127.0.0.1:{self.port}{query}"

    def start(self) -> None:
        """Listen."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening and cancel whatever hangs."""
        self._controller.stop(no_assert=True)
