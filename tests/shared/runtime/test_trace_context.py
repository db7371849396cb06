"""What a request's W3C trace context headers leave for its span and rows: W3C's bounds on
`tracestate` (512 characters, 32 members, else dropped whole), and never `baggage`."""

from __future__ import annotations

from shared.runtime.tracing import continued

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_tracestate_is_kept_up_to_512_characters_and_32_members() -> None:
    at_bounds = ",".join(f"k{n:02d}=" + "v" * 11 for n in range(32))
    assert (len(at_bounds), at_bounds.count(",") + 1) == (511, 32)
    for state, kept in [
        (at_bounds, True),
        (at_bounds + "v", True),  # 512 characters
        (at_bounds + "vv", False),  # 513
        ("a=1," * 32 + "b=2", False),  # 33 members
        ("a=1, ,b=2,", True),  # empty members are no members
    ]:
        headers = {"traceparent": PARENT, "tracestate": state, "baggage": "user=ada"}
        expected = {"traceparent": PARENT, **({"tracestate": state} if kept else {})}
        assert continued(headers.get) == expected, state


def test_without_a_traceparent_nothing_is_continued() -> None:
    assert continued({}.get) == {}
    assert continued({"tracestate": "a=1", "baggage": "user=ada"}.get) == {}
