"""What the daemon's loop sleeps on: wake-ups from other threads, and a socket it names."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from outbox_relay.wake import Wake


@pytest.fixture
def wake() -> Iterator[Wake]:
    with closing(Wake()) as made:
        yield made


def test_a_wake_up_from_another_thread_ends_the_wait(wake: Wake) -> None:
    threading.Timer(0.05, wake.set).start()
    started = time.monotonic()
    assert wake.wait(5)
    assert time.monotonic() - started < 2


def test_wake_ups_set_before_a_wait_are_spent_by_it(wake: Wake) -> None:
    for _ in range(3):
        wake.set()
    assert wake.wait(5)
    assert not wake.wait(0.05), "a spent wake-up woke the next wait"


def test_the_named_socket_wakes_the_wait_and_silence_times_out(wake: Wake) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not wake.wait(0.05, also=ours.fileno())
        theirs.send(b"notify")
        assert wake.wait(5, also=ours.fileno())


def test_a_descriptor_past_1024_is_waited_on(wake: Wake) -> None:
    """A relay with many sessions open holds descriptors past select()'s limit."""
    ours, theirs = socket.socketpair()
    high = os.dup2(ours.fileno(), 1500)
    try:
        with ours, theirs:
            theirs.send(b"notify")
            assert wake.wait(5, also=high)
    finally:
        os.close(high)
