"""The parent support.processes puts between a test process and a server that changes its own
user (Postfix's master does, for moments): such a server forgets the signal its parent's death
would send it (prctl(2)), the keeper does not, and passes that signal on, as it does every signal
that stops or reloads the server. Run as `python -I keeper.py COMMAND…`; exits as the server."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType

PASSED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)


def main() -> None:
    """Run the server until it ends, passing it the signals this process gets."""
    server: subprocess.Popen[bytes] | None = None
    early: list[int] = []

    def pass_on(sig: int, _: FrameType | None) -> None:
        if server is None:
            early.append(sig)
        else:
            server.send_signal(sig)

    for sig in PASSED:
        signal.signal(sig, pass_on)
    server = subprocess.Popen(sys.argv[1:])
    for received in early:
        server.send_signal(received)
    code = server.wait()
    sys.exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    main()
