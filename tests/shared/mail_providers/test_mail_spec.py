"""What every mail API's spec shares (shared/mail_providers/spec.py): a throttle's Retry-After
read in either of its forms, bounded, and asked for by throttles alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.mail_providers.postmark import SPEC as POSTMARK
from shared.mail_providers.spec import LONGEST_RETRY_AFTER, Answer, retry_after

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def waited(value: str) -> float:
    return retry_after(Answer(429, "Too Many Requests", b"", {"retry-after": value}), now=NOW)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("86400", LONGEST_RETRY_AFTER),
        ("soon", 0.0),
        ("", 0.0),
    ],
)
def test_retry_after_reads_seconds_or_a_date_bounded(value: str, seconds: float) -> None:
    assert waited(value) == seconds


def test_only_a_throttle_carries_its_retry_after() -> None:
    unavailable = Answer(503, "Service Unavailable", b"", {"retry-after": "30"})
    judgement = POSTMARK.judge(unavailable)
    assert judgement is not None and (judgement.retry_after, judgement.slow_down) == (0.0, False)
