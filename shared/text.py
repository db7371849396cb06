"""The Text rule, one definition for the API's fields and the settings: no control character
(C0, C1, DEL), no bidirectional control, no line or paragraph separator (U+2028, U+2029: they
break lines where a template or a header puts the value), no lone surrogate."""

from __future__ import annotations

import re

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same as a JSON Schema pattern, for the OpenAPI document.
TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$"


def unpaired_surrogate(value: str) -> bool:
    """Whether `value` holds half of a surrogate pair, which no UTF-8 can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable(value: str) -> bool:
    """Whether a database can store `value`: no NUL, no half of a surrogate pair."""
    return "\x00" not in value and not unpaired_surrogate(value)


def is_text(value: str) -> bool:
    """Whether `value` holds no control character, bidirectional control, line or paragraph
    separator, or lone surrogate."""
    return not _CONTROLS.search(value) and not unpaired_surrogate(value)
