"""The count of SMS public requests cause, by region and outcome (guard against pumping).

Kept apart from api_service/metrics.py, which speaks Flask, so that the flows may count too;
/metrics exports it with the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import Counter

SMS_TOTAL = Counter(
    "outpost_sms",
    "SMS that public requests caused, counted where each is written whatever the route, by "
    "the region of the number (ISO 3166 alpha-2; ZZ before a number is known) and outcome: "
    "queued, withheld (a number no account uses or proved: no SMS sent), region_refused "
    "(SMS_ALLOWED_REGIONS), capped (SMS_REGION_HOURLY_LIMIT) or client_capped "
    "(SMS_CLIENT_HOURLY_LIMIT).",
    ["region", "outcome"],
)


class SmsOutcome(StrEnum):
    """What became of an SMS a request caused: the `outcome` label of `outpost_sms_total`."""

    QUEUED = "queued"
    WITHHELD = "withheld"
    REGION_REFUSED = "region_refused"
    CAPPED = "capped"
    CLIENT_CAPPED = "client_capped"


def known_regions(regions: Iterable[str]) -> None:
    """Export the counts of the regions SMS may go to at 0 from the start, so that `rate()`
    and `increase()` see the first SMS after a restart."""
    for region in regions:
        for outcome in SmsOutcome:
            SMS_TOTAL.labels(region, outcome)
