"""The sd_notify protocol: a datagram to $NOTIFY_SOCKET, a no-op outside systemd.

As libsystemd's sd_notify, a socket that refuses is the manager's affair, never the relay's: a
NOTIFY_SOCKET left over in an operator's shell, or a manager re-executing, must not stop
deliveries (a raise here ended the daemon loop with the messages it held).
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*states: str) -> None:
    """Tell systemd e.g. READY=1, WATCHDOG=1, STATUS=…, STOPPING=1."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        log.debug("NOTIFY_SOCKET %s refused %s: %s", address, states, exc)
