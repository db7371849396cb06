"""A real HTTP server for tests standing in for a provider's API, answering from a script;
what an answer says is the provider's own (support/sms_gateway.py, twilio_api.py, vonage_api.py,
africastalking_api.py)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from abc import abstractmethod
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs

from support.served import Served

# What to answer a request with: a number the stand-in reads as its provider would say it (an
# HTTP status, an error code), `reset` (abort the connection with a TCP RST, no answer at all),
# or `hang` (answer the default mode only after `hang_seconds`, long past any client timeout).
Behaviour = int | Literal["reset", "hang"]


@dataclass(frozen=True)
class GatewayRequest:
    """One request as the stand-in received it, with the behaviour it was answered with."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    json: Any
    behaviour: Behaviour

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), None if absent; fails if it is repeated."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times: {values}"
        return values[0] if values else None

    @property
    def form(self) -> dict[str, str]:
        """The form-encoded body's fields; fails if one is repeated."""
        fields = parse_qs(self.body.decode(), keep_blank_values=True)
        assert all(len(v) == 1 for v in fields.values()), f"repeated fields: {fields}"
        return {k: v[0] for k, v in fields.items()}


@dataclass(frozen=True)
class Answer:
    """What the stand-in answers: a status and a JSON body (or, with another media type, a
    text body as is), and any headers beside them."""

    status: int
    body: Any
    media: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class HttpStandIn(Served):
    """Serves on 127.0.0.1 in a thread; answers `script` first, one per request, then `mode`,
    each as `answer`, the provider's own, says."""

    def __init__(self, mode: Behaviour, hang_seconds: float = 5.0) -> None:
        self.mode: Behaviour = mode
        self.script: list[Behaviour] = []
        self.hang_seconds = hang_seconds
        self._requests: list[GatewayRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        # Port 0: the kernel picks a free port while binding, so no other process can race us to it.
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @abstractmethod
    def answer(self, request: GatewayRequest, behaviour: int) -> Answer:
        """The answer to `request` when the script says `behaviour`."""

    @property
    def port(self) -> int:
        """The port listened on."""
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        """Base URL of the server, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[GatewayRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._changed:
            return list(self._requests)

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and release whatever hangs."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[GatewayRequest]:
        """Block until `count` requests arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._requests)} of {count} requests arrived")
                self._changed.wait(left)
            return list(self._requests)

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> GatewayRequest:
        """Store one request with the behaviour it gets."""
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self._changed:
            behaviour = self.script.pop(0) if self.script else self.mode
            request = GatewayRequest(
                method=handler.command,
                path=handler.path,
                headers=tuple(handler.headers.items()),
                body=body,
                json=parsed,
                behaviour=behaviour,
            )
            self._requests.append(request)
            self._changed.notify_all()
        return request

    def _hang(self) -> None:
        """Sleep `hang_seconds`, or less if the stand-in stops."""
        self._stopping.wait(self.hang_seconds)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer knowing its stand-in; quiet about clients that went away."""

    daemon_threads = True
    stand_in: HttpStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore errors of connections the client closed (after a timeout, say)."""


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, records it, then answers as the script says."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real provider would allow

    def do_POST(self) -> None:
        """Any method is handled the same way."""
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _handle(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = server.stand_in._record(self, body)
        behaviour = request.behaviour
        if behaviour == "reset":
            self._reset()
            return
        if behaviour == "hang":
            server.stand_in._hang()
            hung = server.stand_in.mode
            behaviour = hung if isinstance(hung, int) else 0
        assert isinstance(behaviour, int)
        self._send(server.stand_in.answer(request, behaviour))

    def _send(self, answer: Answer) -> None:
        json_body = answer.media == "application/json"
        data = json.dumps(answer.body).encode() if json_body else str(answer.body).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.media)
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a RST instead of a FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # detach() + close the descriptor now: socket.close() would wait for rfile and wfile.
        socket.close(self.connection.detach())
