"""The budgets every message to an address takes, whoever writes it (a request, or the relay's
fallback): its recipient's for its purpose, and an SMS's region's hour."""

from __future__ import annotations

from shared.database.throttle import Limit
from shared.settings.config import Settings
from shared.vocabulary import Purpose


def bucket(purpose: Purpose, address: str) -> str:
    """The subject counting messages of `purpose` to `address`, whatever route writes them."""
    return f"{purpose}:{address}"


def recipient_limits(settings: Settings) -> tuple[Limit, Limit]:
    """Per address and purpose: one message per cooldown, so many an hour."""
    return Limit(1, settings.throttle_cooldown), recipient_hour(settings)


def recipient_hour(settings: Settings) -> Limit:
    """Per address and purpose: so many messages an hour (THROTTLE_PER_HOUR)."""
    return Limit(settings.throttle_per_hour, 3600)


def region_limits(settings: Settings) -> list[Limit]:
    """Per region of a number: so many SMS an hour (SMS_REGION_HOURLY_LIMIT)."""
    return [Limit(settings.sms_region_hourly_limit, 3600)]
