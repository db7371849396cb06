"""How many SMS segments a text takes: GSM-7 when every character is in its alphabet, else UCS-2.

A carrier bills each segment. One GSM-7 segment holds 160 septets (a character of the
extension table, such as `€`, takes two: an escape and itself); a concatenated message carries
a header, leaving 153 a part. UCS-2 holds 70 UTF-16 code units, 67 a part; a character outside
the Basic Multilingual Plane (an emoji) takes two units. A part never splits a character.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 basic character set (the escape to the extension table left out: not text).
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each character is sent as an escape and itself.
_EXTENSION = frozenset("\f^{}\\[~]|€")


class Encoding(StrEnum):
    """How an SMS text travels."""

    GSM_7 = "GSM-7"
    UCS_2 = "UCS-2"


@dataclass(frozen=True)
class Segments:
    """A text's encoding, its length in that encoding's units, and the segments it takes."""

    encoding: Encoding
    # Septets for GSM-7, UTF-16 code units for UCS-2.
    units: int
    count: int

    def __str__(self) -> str:
        unit = "septets" if self.encoding is Encoding.GSM_7 else "UTF-16 units"
        plural = "" if self.count == 1 else "s"
        return f"{self.count} segment{plural}, {self.encoding} ({self.units} {unit})"


# Units of one segment alone, and of each part of a concatenated message.
_CAPACITY = {Encoding.GSM_7: (160, 153), Encoding.UCS_2: (70, 67)}


def segments(text: str) -> Segments:
    """The encoding `text` needs and the segments it takes in it."""
    if all(c in _BASIC or c in _EXTENSION for c in text):
        encoding, sizes = Encoding.GSM_7, [2 if c in _EXTENSION else 1 for c in text]
    else:
        encoding, sizes = Encoding.UCS_2, [2 if ord(c) > 0xFFFF else 1 for c in text]
    single, part = _CAPACITY[encoding]
    units = sum(sizes)
    return Segments(encoding, units, 1 if units <= single else _parts(sizes, part))


def _parts(sizes: list[int], part: int) -> int:
    """Parts of `part` units each that the characters of these sizes fill, none split."""
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count
