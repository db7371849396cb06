"""The relay's CPU priority: below the API's, so that sign-ups get the cores first."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def yield_cpu(nice: int) -> None:
    """Raise this process's niceness by `nice` (0 changes nothing).

    Linux may schedule each session as one group (autogroup); a process's niceness then only
    ranks it within its own session, against none of the API's processes. So a relay that
    leads its own session gives its group the same niceness. Under systemd each service has a
    cgroup of its own instead, and the unit's CPUWeight does this (outpost/deploy/systemd).
    """
    if nice == 0:
        return
    os.nice(nice)
    if os.getsid(0) != os.getpid() or not AUTOGROUP.exists():
        return
    try:
        AUTOGROUP.write_text(str(nice))
    except OSError as exc:
        log.warning("session priority unchanged", extra={"error": str(exc)})
