"""What becomes of a claimed row, decided without threads, servers or a database: a row and
the settings built here, what the delivery met, the decision."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from outbox_relay import decide, gates
from outbox_relay.backoff import PROBE_LEAD
from outbox_relay.claims import Claimed
from outbox_relay.decide import (
    Accepted,
    Decision,
    HandBack,
    Outcome,
    PauseProvider,
    SendFailed,
    Tell,
)
from outbox_relay.failures import (
    UNANSWERED_RETRY_FLOOR,
    Deferred,
    DeliveryFailure,
    Verdict,
    unanswered,
)
from outbox_relay.gates import Gate
from outbox_relay.render import TemplateError
from shared.messaging.outbox import Channel, DeadReason, Ending, Purpose
from shared.messaging.refusals import Refusal
from shared.secrets.secretbox import SealedUnderOtherKey
from shared.settings.config import Settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SETTINGS = Settings.from_env({"SECRET_KEY": "k" * 32}).replace(
    relay_max_attempts=10,
    relay_backoff_base=2.0,
    relay_backoff_cap=600.0,
    relay_deferral_floor=60.0,
    relay_lease_seconds=90,
)


class Highest(random.Random):
    """Draws the top of every range: the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def claimed(**changes: object) -> Claimed:
    """A row claimed at NOW, its lease running for RELAY_LEASE_SECONDS."""
    row = Claimed(
        id=1,
        public_id="msg_1",
        channel=Channel.EMAIL,
        purpose=Purpose.ACTIVATION,
        recipient="ada@example.com",
        locale="en",
        template="activation",
        params={},
        secret_params=None,
        attempts=0,
        expires_at=NOW + timedelta(hours=1),
        locked_until=NOW + timedelta(seconds=SETTINGS.relay_lease_seconds),
        claim_token="token",
        user_id=None,
        priority=0,
    )
    return replace(row, **changes)


def gate(row: Claimed, **met: bool) -> Gate | None:
    flags = {"database_lost": False, "suppressed": False, "stopping": False, **met}
    return gates.first_gate(row, NOW, SETTINGS, **flags)


def refused(row: Claimed, failure: DeliveryFailure, **met: object) -> Decision:
    """What `failure`, with the verdict it carries, decides of `row`, 120 ms into the send."""
    answer = SendFailed(failure, failure.verdict, **met)
    return decide.decide(row, answer, NOW, SETTINGS, ms=120, rng=Highest())


def outcome(decision: Decision) -> Outcome:
    assert isinstance(decision.fate, Outcome), decision
    return decision.fate


# The gates.


def test_a_row_that_may_go_meets_no_gate() -> None:
    assert gate(claimed()) is None


def test_the_gates_stop_a_row_in_their_order() -> None:
    expired = claimed(expires_at=NOW)
    assert gate(expired, database_lost=True, suppressed=True) is Gate.DATABASE_LOST
    assert gate(expired, suppressed=True, stopping=True) is Gate.EXPIRED
    assert gate(claimed(), suppressed=True, stopping=True) is Gate.SUPPRESSED
    assert gate(claimed(), stopping=True) is Gate.NO_LEASE


def test_a_lease_that_cannot_cover_a_send_stops_the_row() -> None:
    covered = NOW + timedelta(seconds=SETTINGS.longest_send + 1.5)
    assert gate(claimed(locked_until=covered)) is None
    short = NOW + timedelta(seconds=SETTINGS.longest_send + 1)
    assert gate(claimed(locked_until=short)) is Gate.NO_LEASE


@pytest.mark.parametrize("stopped_by", [Gate.DATABASE_LOST, Gate.NO_LEASE, Gate.NO_PROVIDER])
def test_a_row_stopped_before_a_provider_is_taken_goes_back_due_at_once(stopped_by: Gate) -> None:
    decision = decide.decide(claimed(), stopped_by, NOW, SETTINGS)
    assert decision == Decision(HandBack(NOW), provider=Tell.NOTHING)


def test_a_budget_that_cannot_be_read_hands_the_row_back_its_provider_untried() -> None:
    decision = decide.decide(claimed(), Gate.BUDGET_UNKNOWN, NOW, SETTINGS)
    assert decision == Decision(HandBack(NOW), provider=Tell.UNTRIED)


@pytest.mark.parametrize(
    ("stopped_by", "ending", "error"),
    [
        (Gate.EXPIRED, Ending.EXPIRED, "horizon passed before delivery"),
        (Gate.SUPPRESSED, Ending.SUPPRESSED, "address on the suppression list"),
    ],
)
def test_an_expired_or_suppressed_row_ends_untried(
    stopped_by: Gate, ending: Ending, error: str
) -> None:
    row = claimed()
    decision = decide.decide(row, stopped_by, NOW, SETTINGS)
    assert decision == Decision(Outcome(row, ending, 0, error))
    assert ending.dead_reason is not None and not ending.counts


def test_a_withheld_row_poses_as_a_send_its_provider_untried() -> None:
    row = claimed(withhold=True)
    decision = decide.decide(row, Gate.WITHHELD, NOW, SETTINGS)
    assert decision == Decision(Outcome(row, Ending.WITHHELD, 0), provider=Tell.UNTRIED, poses=True)


# The provider's answers.


def test_an_accepted_message_is_sent_under_the_providers_id() -> None:
    row = claimed()
    decision = decide.decide(row, Accepted("prov-7"), NOW, SETTINGS, ms=42)
    assert decision == Decision(
        Outcome(row, Ending.SENT, 42, provider_id="prov-7"), provider=Tell.ANSWERED
    )


def test_a_permanent_refusal_kills_the_message_and_keeps_what_it_refused() -> None:
    failure = DeliveryFailure(Verdict.PERMANENT, "550 5.1.1 no such user", refusal=Refusal.ADDRESS)
    decision = refused(claimed(attempts=2), failure)
    assert decision.provider is Tell.ANSWERED
    dead = outcome(decision)
    assert (dead.name, dead.error, dead.refusal) == (
        Ending.PERMANENT_ERROR,
        "550 5.1.1 no such user",
        Refusal.ADDRESS,
    )
    assert (dead.retry_in, dead.ms) == (None, 120)


def test_a_transient_failure_is_retried_after_the_backoff() -> None:
    failure = DeliveryFailure(Verdict.TRANSIENT, "connection dropped at data")
    decision = refused(claimed(attempts=2), failure)
    assert decision.provider is Tell.ANSWERED
    retry = outcome(decision)
    # The third attempt's ceiling: base · 2².
    assert (retry.name, retry.retry_in, retry.error) == (
        Ending.RETRY,
        8.0,
        "connection dropped at data",
    )
    assert Ending.RETRY.counts


def test_the_backoff_draws_below_its_ceiling() -> None:
    failure = DeliveryFailure(Verdict.TRANSIENT, "x")
    answer = SendFailed(failure, Verdict.TRANSIENT)
    delays = {
        outcome(decide.decide(claimed(attempts=2), answer, NOW, SETTINGS)).retry_in
        for _ in range(50)
    }
    assert all(d is not None and 0 <= d <= 8.0 for d in delays) and len(delays) > 1


def test_a_deferral_is_retried_no_sooner_than_the_deferral_floor() -> None:
    greylisted = DeliveryFailure(Verdict.TRANSIENT, "450 4.7.1 greylisted", deferred=True)
    assert outcome(refused(claimed(), greylisted)).retry_in == SETTINGS.relay_deferral_floor
    # Past the floor, the backoff.
    assert outcome(refused(claimed(attempts=5), greylisted)).retry_in == 64.0


def test_an_unanswered_end_of_data_waits_its_own_floor() -> None:
    assert outcome(refused(claimed(), unanswered(600))).retry_in == UNANSWERED_RETRY_FLOOR


def test_the_last_attempt_allowed_kills_the_message() -> None:
    failure = DeliveryFailure(Verdict.TRANSIENT, "451 try later")
    last = claimed(attempts=SETTINGS.relay_max_attempts - 1)
    dead = outcome(refused(last, failure))
    assert (dead.name, dead.retry_in, dead.error) == (Ending.MAX_ATTEMPTS, None, "451 try later")
    assert dead.name.dead_reason is DeadReason.MAX_ATTEMPTS
    assert outcome(refused(claimed(attempts=3), failure)).name is Ending.RETRY


def test_the_horizon_clamps_the_retry() -> None:
    greylisted = DeliveryFailure(Verdict.TRANSIENT, "450 4.7.1", deferred=True)
    soon = claimed(expires_at=NOW + timedelta(seconds=10))
    assert outcome(refused(soon, greylisted)).retry_in == 10.0
    passed = claimed(expires_at=NOW - timedelta(seconds=5))
    assert outcome(refused(passed, greylisted)).retry_in == 0.0
    forever = claimed(expires_at=None)
    assert outcome(refused(forever, greylisted)).retry_in == SETTINGS.relay_deferral_floor


def test_a_provider_down_with_another_to_take_the_channel_leaves_the_row_due_at_once() -> None:
    failure = DeliveryFailure(Verdict.PROVIDER_DOWN, "535 5.7.8 bad credentials at auth")
    row = claimed(attempts=1)
    decision = refused(row, failure, probe_wait=4.0, another_takes=True)
    down = outcome(decision)
    assert (down.name, down.retry_in, down.error) == (
        Ending.PROVIDER_DOWN,
        0.0,
        "535 5.7.8 bad credentials at auth",
    )
    assert not Ending.PROVIDER_DOWN.counts
    assert isinstance(decision.provider, PauseProvider)
    assert (decision.provider.reason, decision.provider.wait) == (failure.description, 4.0)


def test_a_provider_down_alone_leaves_the_row_due_just_after_the_probe() -> None:
    failure = DeliveryFailure(Verdict.PROVIDER_DOWN, "connection refused at connect")
    decision = refused(claimed(), failure, probe_wait=4.0, another_takes=False)
    assert outcome(decision).retry_in == 4.0 + PROBE_LEAD  # the default base: the whole lead
    assert isinstance(decision.provider, PauseProvider) and decision.provider.wait == 4.0


def test_a_pause_whose_first_probe_passes_counts_the_failure_as_the_messages_try() -> None:
    failure = DeliveryFailure(Verdict.PROVIDER_DOWN, "421 4.4.5 too busy at data")
    row = claimed(attempts=2, expires_at=NOW + timedelta(seconds=30))
    decision = refused(row, failure, probe_wait=2.0)
    assert isinstance(decision.provider, PauseProvider)
    # Reckoned when the probe passes: the horizon is nearer then.
    counted = decision.provider.recount(NOW + timedelta(seconds=25))
    assert counted == Outcome(row, Ending.RETRY, 120, failure.description, retry_in=5.0)
    last = claimed(attempts=SETTINGS.relay_max_attempts - 1)
    pause = refused(last, failure, probe_wait=2.0).provider
    assert isinstance(pause, PauseProvider) and pause.recount(NOW).name is Ending.MAX_ATTEMPTS


# What the send raised: its provider never saw the message.


def test_no_rate_slot_hands_the_row_back_due_when_one_frees_up() -> None:
    decision = decide.decide(claimed(), Deferred(2.5), NOW, SETTINGS, ms=3)
    assert decision == Decision(HandBack(NOW + timedelta(seconds=2.5)), provider=Tell.UNTRIED)


def test_a_row_sealed_under_another_key_goes_back_for_a_lease_and_never_dies() -> None:
    decision = decide.decide(claimed(), SealedUnderOtherKey("x"), NOW, SETTINGS)
    assert decision.fate == HandBack(NOW + timedelta(seconds=SETTINGS.relay_lease_seconds))
    assert decision.provider is Tell.UNTRIED
    assert decision.note is not None and decision.note.level == logging.ERROR
    assert decision.note.bug is None and "SECRET_KEY" in decision.note.message


def test_a_template_that_fails_kills_its_message_naming_the_file() -> None:
    row = claimed()
    error = "templates/en/activation.txt: undefined variable"
    decision = decide.decide(row, TemplateError(error), NOW, SETTINGS, ms=7)
    assert decision.fate == Outcome(row, Ending.PERMANENT_ERROR, 7, error)
    assert decision.provider is Tell.UNTRIED
    assert decision.note is not None
    assert (decision.note.level, decision.note.error, decision.note.bug) == (
        logging.WARNING,
        error,
        None,
    )


@pytest.mark.parametrize(
    "bug",
    [KeyError("code"), DeliveryFailure(Verdict.TRANSIENT, "raised, never answered")],
)
def test_a_bug_kills_its_message_with_its_traceback_logged(bug: Exception) -> None:
    row = claimed()
    decision = decide.decide(row, bug, NOW, SETTINGS, ms=9)
    dead = outcome(decision)
    assert (dead.name, dead.ms) == (Ending.PERMANENT_ERROR, 9)
    assert dead.error == f"{type(bug).__name__}: {bug}"
    assert decision.provider is Tell.UNTRIED
    assert decision.note is not None and decision.note.bug is bug


def test_a_bugs_error_is_cut_to_500_characters() -> None:
    dead = outcome(decide.decide(claimed(), ValueError("x" * 1000), NOW, SETTINGS))
    assert dead.error is not None and len(dead.error) == 500


# What a written outcome does to its row.


def test_each_outcome_marks_its_row() -> None:
    row, at = claimed(), NOW + timedelta(seconds=1)
    retry = decide.mark(Outcome(row, Ending.RETRY, 5, "451", retry_in=8.0), at)
    assert (retry.retry_at, retry.dead_reason) == (at + timedelta(seconds=8), None)
    sent = decide.mark(Outcome(row, Ending.SENT, 5, provider_id="p"), at)
    assert (sent.provider_id, sent.retry_at, sent.dead_reason) == ("p", None, None)
    assert decide.mark(Outcome(row, Ending.WITHHELD, 5), at).withheld
    refused_for_good = Outcome(row, Ending.PERMANENT_ERROR, 5, "550", refusal=Refusal.ADDRESS)
    dead = decide.mark(refused_for_good, at)
    assert (dead.dead_reason, dead.refusal) == (DeadReason.PERMANENT_ERROR, Refusal.ADDRESS)
    assert dead.attempt.outcome is Ending.PERMANENT_ERROR.attempt


# A code's fallback on the other channel (CODE_FALLBACK_AFTER).

FALLING = replace(SETTINGS, code_fallback_after=30)
ADDRESS_REFUSED = DeliveryFailure(
    Verdict.PERMANENT, "550 5.1.1 no such user", refusal=Refusal.ADDRESS
)
DOWN = DeliveryFailure(Verdict.PROVIDER_DOWN, "connection refused at connect")


def falling(row: Claimed, met: decide.Met, settings: Settings = FALLING) -> Decision:
    """What `met` decides of `row` with CODE_FALLBACK_AFTER=30 (unless `settings` say else)."""
    if isinstance(met, DeliveryFailure):
        met = SendFailed(met, met.verdict, probe_wait=600.0)
    return decide.decide(row, met, NOW, settings, ms=120, rng=Highest())


def written(seconds_ago: float, **changes: object) -> Claimed:
    return claimed(created_at=NOW - timedelta(seconds=seconds_ago), **changes)


def test_a_code_whose_address_is_refused_or_suppressed_falls_back_at_once() -> None:
    assert outcome(falling(written(1), ADDRESS_REFUSED)).fallback
    assert outcome(falling(written(1), Gate.SUPPRESSED)).fallback
    assert decide.mark(outcome(falling(written(1), ADDRESS_REFUSED)), NOW).fallback


@pytest.mark.parametrize(
    ("row", "settings"),
    [
        (written(1), SETTINGS),  # no CODE_FALLBACK_AFTER
        (written(1, purpose=Purpose.WELCOME), FALLING),  # a notice: no code
        (written(1, purpose=Purpose.ADDRESS_CHANGE), FALLING),  # proves its one address
        (written(1, fallback_at=NOW), FALLING),  # decided already, or a fallback itself
    ],
)
def test_no_fallback_without_the_setting_for_a_notice_or_twice(
    row: Claimed, settings: Settings
) -> None:
    assert not outcome(falling(row, ADDRESS_REFUSED, settings)).fallback
    assert not outcome(falling(row, DOWN, settings)).fallback


def test_a_refusal_of_the_message_alone_never_falls_back() -> None:
    failure = DeliveryFailure(Verdict.PERMANENT, "554 5.6.0 bad content")
    assert not outcome(falling(written(1), failure)).fallback


def test_a_code_waiting_on_a_provider_down_is_due_again_when_its_fallback_is() -> None:
    early = outcome(falling(written(10), DOWN))
    assert (early.name, early.retry_in, early.fallback) == (Ending.PROVIDER_DOWN, 20.0, False)
    late = outcome(falling(written(30), DOWN))
    assert (late.retry_in, late.fallback) == (0.0, True)
    assert decide.mark(late, NOW).fallback


def test_a_code_handed_back_for_want_of_a_provider_falls_back_once_it_has_waited() -> None:
    assert falling(written(29), Gate.NO_PROVIDER).fate == HandBack(NOW)
    assert falling(written(30), Gate.NO_PROVIDER).fate == HandBack(NOW, fallback=True)
    assert falling(written(60), Gate.NO_LEASE).fate == HandBack(NOW)
