"""The VERP token: it names its message under SECRET_KEY and its fallbacks (a rotation), reads
alike in either case, fits RFC 5321's 64-character local part, and anything else is forged."""

from __future__ import annotations

import uuid

import pytest

from shared.reports.bounce_tokens import TOKEN_LENGTH, Named, named_by, verp_address

OLD, NEW = "the key before the rotation 0123", "the key after the rotation 01234"


def test_a_token_names_its_message_under_the_key_or_a_fallback_in_either_case() -> None:
    public_id = str(uuid.uuid4())
    address = verp_address("bounces@mail.example.com", public_id, OLD)
    local = address.partition("@")[0]
    assert local.startswith("bounces+") and len(local) == len("bounces+") + TOKEN_LENGTH <= 64
    assert named_by(address, [NEW, OLD]) == Named(public_id)
    assert named_by(f"<{address.upper()}>", [OLD]) == Named(public_id)
    assert named_by(address, [NEW]) == Named(None, forged=True)


@pytest.mark.parametrize(
    "extension",
    ["", "x", "a" * TOKEN_LENGTH, "1" * TOKEN_LENGTH, "!" * TOKEN_LENGTH],
)
def test_anything_else_after_the_plus_is_forged(extension: str) -> None:
    assert named_by(f"bounces+{extension}@mail.example.com", [OLD]) == Named(None, forged=True)


@pytest.mark.parametrize("at", [-1, -2, -27, -TOKEN_LENGTH])
def test_a_token_changed_in_any_one_character_is_forged(at: int) -> None:
    """Whichever character changes, the last ones' unused bits included (one token, one form)."""
    address = verp_address("bounces@example.com", str(uuid.uuid4()), OLD)
    local, _, domain = address.partition("@")
    for other in "abcdefghijklmnopqrstuvwxyz234567":
        if other != local[at]:
            changed = local[:at] + other + (local[at + 1 :] if at != -1 else "")
            assert named_by(f"{changed}@{domain}", [OLD]).forged, (at, other)


def test_an_address_without_a_token_names_nothing_and_is_not_forged() -> None:
    assert named_by("bounces@example.com", [OLD]) == Named(None)
    assert named_by("", [OLD]) == Named(None)
