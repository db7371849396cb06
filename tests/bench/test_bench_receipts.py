"""The benches' exactly-once check counts every Message-ID its SMTP server received."""

from __future__ import annotations

from bench.receipts import tally


def test_each_queued_message_received_once_passes_and_names_its_relay() -> None:
    counted = tally(
        ["a", "b", "c"], ["1.0 <a@relay0.test>", "1.1 <b@relay1.test>", "1.2 <c@relay0.test>\n"]
    )
    assert counted.exactly_once
    assert counted.by_relay == {"relay0.test": 2, "relay1.test": 1}


def test_a_message_received_twice_or_never_or_unknown_fails() -> None:
    counted = tally(
        ["a", "b", "c"], ["1 <a@relay0.test>", "2 <a@relay1.test>", "3 <x@relay2.test>"]
    )
    assert (counted.lost, counted.twice, counted.strays) == (2, 1, 1)
    assert not counted.exactly_once
