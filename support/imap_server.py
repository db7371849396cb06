"""A real IMAP server over TLS for tests (RFC 3501's few commands a client reading and
deleting mail sends: CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH, UID STORE, EXPUNGE,
LOGOUT), its certificate from a test CA; it keeps its messages in memory."""

from __future__ import annotations

import socketserver
import threading
from typing import Any

from support.ports import free_port
from support.served import Served
from support.smtp_stages import SmtpCA


class ImapServer(Served):
    """One mailbox (any folder name reads it) behind `login`, served on 127.0.0.1."""

    def __init__(self, login: tuple[str, str], certificate: SmtpCA) -> None:
        self.login = login
        self.port = free_port()
        self.messages: dict[int, bytes] = {}
        self.logins: list[tuple[str, str]] = []
        self._deleted: set[int] = set()
        self._next_uid = 1
        self._lock = threading.Lock()
        context = certificate.server_context()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def handle(self) -> None:
                server._session(self)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True

    def add(self, raw: bytes) -> None:
        """Deliver a message to the mailbox."""
        with self._lock:
            self.messages[self._next_uid] = raw
            self._next_uid += 1

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _session(self, io: Any) -> None:
        """Answer one client's commands until LOGOUT or a closed connection."""
        io.wfile.write(b"* OK IMAP4rev1 test server ready\r\n")
        while line := io.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            verb, _, args = rest.partition(" ")
            if verb.upper() == "UID":
                verb, _, args = args.partition(" ")
                verb = f"UID {verb}"
            untagged, done = self._answer(verb.upper(), args)
            io.wfile.write(untagged + f"{tag} {done}\r\n".encode())
            if verb.upper() == "LOGOUT":
                return

    def _answer(self, verb: str, args: str) -> tuple[bytes, str]:
        """The untagged lines and the tagged completion of one command."""
        with self._lock:
            if verb == "CAPABILITY":
                return b"* CAPABILITY IMAP4rev1\r\n", "OK CAPABILITY completed"
            if verb == "LOGIN":
                user, _, password = args.partition(" ")
                self.logins.append((user.strip('"'), password.strip('"')))
                if (user.strip('"'), password.strip('"')) != self.login:
                    return b"", "NO [AUTHENTICATIONFAILED] Invalid credentials"
                return b"", "OK LOGIN completed"
            if verb == "SELECT":
                return f"* {len(self.messages)} EXISTS\r\n".encode(), "OK [READ-WRITE] SELECT"
            if verb == "UID SEARCH":
                uids = " ".join(str(uid) for uid in sorted(self.messages))
                return f"* SEARCH {uids}\r\n".encode(), "OK SEARCH completed"
            if verb == "UID FETCH":
                uid = int(args.split(" ")[0])
                raw = self.messages[uid]
                head = f"* {uid} FETCH (UID {uid} RFC822 {{{len(raw)}}}\r\n".encode()
                return head + raw + b")\r\n", "OK FETCH completed"
            if verb == "UID STORE":
                self._deleted.add(int(args.split(" ")[0]))
                return b"", "OK STORE completed"
            if verb == "EXPUNGE":
                for uid in self._deleted:
                    self.messages.pop(uid, None)
                self._deleted.clear()
                return b"", "OK EXPUNGE completed"
            if verb == "LOGOUT":
                return b"* BYE logging out\r\n", "OK LOGOUT completed"
            return b"", "BAD unknown command"
