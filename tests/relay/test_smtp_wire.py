"""The id a provider's 250 gives a message, read from the reply's last word."""

from __future__ import annotations

import pytest

from outbox_relay.channels.smtp_wire import provider_id


@pytest.mark.parametrize(
    ("reply", "found"),
    [
        ("Ok 0100018c7f3b2a1e-5d6c7b8a-0000-000000", "0100018c7f3b2a1e-5d6c7b8a-0000-000000"),
        ("2.0.0 Ok: queued as 4F3A21C0B2", "4F3A21C0B2"),
        ("Ok 12345678", "12345678"),
        ("Message accepted", None),  # a word, no digit
        ("Ok abcdefgh", None),
        ("Ok 1234567", None),  # too short
        ("0100018c7f3b2a1e", None),  # one word: no text before an id
        ("Ok <a1@b>", None),
        ("Ok <a1b2c3@d.e>", "<a1b2c3@d.e>"),
        ("Ok 0100018c;7f3b2a1e", None),  # a character no id has
    ],
)
def test_an_id_is_the_last_word_long_enough_with_a_digit(reply: str, found: str | None) -> None:
    assert provider_id(reply) == found
