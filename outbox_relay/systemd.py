"""The sd_notify protocol: a datagram to $NOTIFY_SOCKET, a no-op outside systemd."""

from __future__ import annotations

import os
import socket


def notify(*states: str) -> None:
    """Tell systemd e.g. READY=1, WATCHDOG=1, STATUS=…, STOPPING=1."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall("\n".join(states).encode())
