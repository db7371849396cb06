"""An application's receiver of Outpost's lifecycle events: provisions a workspace for each
activated account, exactly once, however often the event is delivered.

Run: `WEBHOOK_SECRET=whsec_… python examples/provisioning_receiver.py [PORT] [DB]` and point
Outpost's WEBHOOK_URL at http://127.0.0.1:PORT/outpost-events. Standard library only.

While the file named by `PROVISIONING_BROKEN` exists, provisioning fails (503): the event is
retried with backoff, and ends in Outpost's dead letters (`outbox-relay dead list`, the
dashboard, `outbox-relay stranded`) if it keeps failing until its horizon. Once the cause is
fixed, `outbox-relay dead retry ID` delivers it again and the work completes, once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Events older than this (or from the future) are refused: a replayed capture is useless.
TOLERANCE_SECONDS = 300


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check: `v1,` base64 HMAC-SHA256 of `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.partition(",")[2] for s in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, s) for s in offered)


class Store:
    """The application's own database: the events handled, and the workspaces made.

    One connection per request: a sqlite3 connection shared by the server's threads would mix
    their transactions (one thread's rollback undoing another's insert, answered 204 all the
    same), losing events for good.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        with closing(self._connect()) as db:
            db.execute("CREATE TABLE IF NOT EXISTS handled (webhook_id TEXT PRIMARY KEY)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS workspaces (user_id INTEGER PRIMARY KEY, email TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        # Autocommit, so that BEGIN and COMMIT below are the transaction; waits for the writer.
        return sqlite3.connect(self._path, timeout=30, isolation_level=None)

    def provision(self, webhook_id: str, user_id: int, email: str | None) -> None:
        """Make the workspace and note the event, together; an event seen before does nothing.

        Any failure rolls both back and raises: the request is answered 503 and retried.
        """
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                seen = db.execute("SELECT 1 FROM handled WHERE webhook_id = ?", (webhook_id,))
                if seen.fetchone() is None:
                    db.execute(
                        "INSERT OR IGNORE INTO workspaces (user_id, email) VALUES (?, ?)",
                        (user_id, email),
                    )
                    db.execute("INSERT INTO handled (webhook_id) VALUES (?)", (webhook_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise


def handler(secret: str, store: Store, broken: Path) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path != "/outpost-events" or not verify(secret, headers, body):
                self._answer(401)
                return
            event = json.loads(body)
            if event["type"] == "account.activated":
                if broken.exists():
                    self._answer(503)  # retried by Outpost; no work half done
                    return
                data = event["data"]
                try:
                    store.provision(headers["webhook-id"], data["user_id"], data.get("email"))
                except sqlite3.Error:
                    self._answer(503)  # nothing written; retried by Outpost
                    return
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"receiver: {format % args}\n")

    return Receiver


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8400
    store = Store(sys.argv[2] if len(sys.argv) > 2 else "provisioning.db")
    broken = Path(os.environ.get("PROVISIONING_BROKEN", "provisioning-broken"))
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), handler(os.environ["WEBHOOK_SECRET"], store, broken)
    )
    print(f"receiver: listening on http://127.0.0.1:{port}/outpost-events", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
