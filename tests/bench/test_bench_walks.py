"""The walks bench traces a real drain of one accepted row: the senders' line stays short."""

from __future__ import annotations

from pathlib import Path

from bench.walks import one_accepted_row


def test_a_lone_accepted_row_enters_the_senders_its_meeting_and_its_doer_at_most_three_times(
    tmp_path: Path,
) -> None:
    walk = one_accepted_row(tmp_path)
    stays = walk.files
    for module in ("senders", "meet", "doer"):
        assert 1 <= stays[f"outbox_relay/{module}.py"] <= 3, (module, stays)
    # decide() once; mark() once as its outcome is written.
    assert stays["outbox_relay/decide.py"] == 2, stays
    assert "shared/clock.py" not in stays and "outbox_relay/metrics.py" not in stays
    stays_, files, returns = (int(part) for part in walk.line().split(" / "))
    assert (stays_, files, returns) == (len(walk.stays), len(stays), stays_ - files)
