"""Reading a process's Prometheus `/metrics` over HTTP, as Prometheus would."""

from __future__ import annotations

import urllib.request


def scrape(url: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition, keyed by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples
