"""`outpost_build_info{version}` = 1: which build a process runs, in Prometheus terms.

One object for both processes, in the registry of whichever imports it: the API's /metrics adds
it to a gunicorn scrape (an Info is not summed over workers: one sample however many there are).
"""

from __future__ import annotations

from prometheus_client import Info

from shared.runtime.version import version

BUILD_INFO = Info("outpost_build", "The version of the code this process runs.")
BUILD_INFO.info({"version": version()})
