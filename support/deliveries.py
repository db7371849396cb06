"""Comparing what GET /v1/deliveries shows of deliveries that must read alike."""

from __future__ import annotations

import math
import time
from typing import Any

from shared.settings.abuse import THROTTLE_COOLDOWN

# The longest a cooldown runs under the tests' settings, in seconds (THROTTLE_COOLDOWN's
# default): a delivery's retry_after is never above it.
LONGEST_COOLDOWN = THROTTLE_COOLDOWN.read({})


def but_the_wait(views: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    """The views without `retry_after`, once each is a wait within the cooldown and they differ
    by no more than the seconds since `since` (time.monotonic, before the first request) and
    one: each cooldown started with its own request, so a second boundary crossed between them
    shows 59 beside 60, as a client asking a moment later would."""
    waits = [view["retry_after"] for view in views]
    assert all(0 < wait <= LONGEST_COOLDOWN for wait in waits), waits
    assert max(waits) - min(waits) <= math.ceil(time.monotonic() - since) + 1, waits
    return [{key: value for key, value in view.items() if key != "retry_after"} for view in views]
