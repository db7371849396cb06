"""The count of SMS asked for by public requests, by region and outcome (guard against pumping).

Kept apart from api_service/metrics.py, which speaks Flask, so that the flows may count too;
/metrics exports it with the rest.
"""

from __future__ import annotations

from prometheus_client import Counter

SMS_TOTAL = Counter(
    "outpost_sms",
    "SMS asked for by public requests, by the region of the number (ISO 3166 alpha-2) and "
    "outcome: queued, region_refused (SMS_ALLOWED_REGIONS) or capped (SMS_REGION_HOURLY_LIMIT).",
    ["region", "outcome"],
)
