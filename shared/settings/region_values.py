"""Parsers of the regions phone numbers may belong to (PHONE_DEFAULT_REGION,
SMS_ALLOWED_REGIONS)."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers


def region(value: str) -> str | None:
    if not value:
        return None
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not an ISO 3166 alpha-2 region phone numbers know: {value!r}")
    return value.upper()


def regions(value: str) -> frozenset[str] | None:
    if not value:
        return None
    named = {part.strip().upper() for part in value.split(",")} - {""}
    unknown = sorted(named - phonenumbers.SUPPORTED_REGIONS)
    if unknown or not named:
        raise ValueError(
            "ISO 3166 alpha-2 regions phone numbers know, separated by commas (e.g. CM,FR), "
            f"not {', '.join(unknown) or repr(value)}"
        )
    return frozenset(named)


# SMS_ALLOWED_REGIONS's word for every region of the world: allowed, never by default.
EVERY_REGION = "*"


def allowed_regions(
    default_region: str | None, real_provider: bool
) -> Callable[[str], frozenset[str] | None]:
    """SMS_ALLOWED_REGIONS: the regions named, PHONE_DEFAULT_REGION's by default, None for `*`
    (every region). With a real SMS provider and neither, there is no default: SMS to every
    country of the world is never one (SMS pumping bills the sender per message)."""

    def parse(value: str) -> frozenset[str] | None:
        if value.strip() == EVERY_REGION:
            return None
        if value:
            return regions(value)
        if default_region is not None:
            return frozenset({default_region})
        if real_provider:
            raise ValueError(
                "required with a real SMS provider, since SMS to every country of the world is "
                "never a default: the regions numbers may belong to (e.g. CM,FR), or * for "
                "every region"
            )
        return None

    return parse
