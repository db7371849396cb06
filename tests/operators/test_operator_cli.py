"""`outbox-relay dead|stats|stranded|purge`, on dead letters made for real.

Messages die the way they do in production: queued through the API (or the outbox writer), then
refused by the SMTP sink or the SMS gateway while a real relay drains them. The commands run in
the test's process (support.in_process), which starts none: tests/operators/test_process_errors.py
runs them as processes.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from outbox_relay.relay import Relay
from shared.clock import utcnow
from shared.database.models import outbox, users
from shared.secrets.secretbox import SecretBox
from support.bulk import queue_emails
from support.commands import OS_USER, as_json, here, here_all, ok
from support.constants import SECRET_KEY, MakeRelay
from support.rows import rows
from support.sms_gateway import SmsGateway
from support.smtp_sink import SinkServer, code_in

PASSWORD = "correct horse battery staple"
PHONE = "+33612345678"
ACTOR = f"cli:{OS_USER}"


# --- making dead letters for real -------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    """An SMS gateway that refuses every message permanently (HTTP 400)."""
    with SmsGateway(mode=400) as server:
        yield server


@pytest.fixture
def relay(make_relay: MakeRelay, gateway: SmsGateway) -> Relay:
    """A relay sending email to the SMTP sink and SMS to the gateway."""
    return make_relay(sms_url=gateway.url + "/sms")


def register(client: FlaskClient, **address: str) -> str:
    """Register with an email or a phone; the activation's delivery id."""
    response = client.post("/v1/registrations", json={**address, "password": PASSWORD})
    assert response.status_code == 202, response.get_json()
    delivery_id: str = response.get_json()["delivery"]["id"]
    return delivery_id


def kill(relay: Relay, smtp: SinkServer, mode: str = "reply:550") -> None:
    """Drain every due row while the SMTP server refuses, then let it accept again."""
    smtp.sink.mode = mode
    relay.drain()
    smtp.sink.mode = "accept"


def outbox_row(engine: Engine, public_id: str) -> dict[str, Any]:
    [row] = [r for r in rows(engine, "outbox") if r["public_id"] == public_id]
    return row


def pending_code(engine: Engine, public_id: str) -> str:
    """The code a still-pending row carries, decrypted."""
    sealed = outbox_row(engine, public_id)["secret_params"]
    assert sealed is not None
    code: str = SecretBox(SECRET_KEY).open(sealed)["code"]
    return code


def user_id_of(engine: Engine, email: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(users.c.id).where(users.c.email == email)).scalar_one()
        )


def age(engine: Engine, public_id: str, **ages: timedelta) -> None:
    """Move a message's timestamps (`created_at`, `sent_at`) that far into the past."""
    row = outbox_row(engine, public_id)
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == public_id)
            .values({column: row[column] - delta for column, delta in ages.items()})
        )


def audit(engine: Engine) -> list[tuple[str, str, str | None, Any]]:
    """The operator actions recorded, oldest first: actor, action, target, details."""
    return [
        (a["actor"], a["action"], a["target"], a["details"])
        for a in rows(engine, "operator_actions")
    ]


def ids(letters: list[dict[str, Any]]) -> list[str]:
    return [letter["id"] for letter in letters]


# --- dead list --------------------------------------------------------------------------------


def test_dead_list_prints_a_table_json_each_filter_and_pages_with_a_cursor(
    client: FlaskClient,
    relay: Relay,
    make_relay: MakeRelay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    welcome = queue_emails(engine, 3, prefix="w")
    activation = register(client, email="ada@example.com")
    sms = register(client, phone=PHONE)
    late = register(client, email="late@example.com")
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == late)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    kill(relay, smtp)
    [slow] = queue_emails(engine, 1, prefix="slow")
    kill(make_relay(relay_max_attempts=1), smtp, "reply:451")
    age(engine, welcome[0], created_at=timedelta(days=5))
    newest_first = [slow, late, sms, activation, *reversed(welcome)]
    two_days_ago = (utcnow() - timedelta(days=2)).date().isoformat()

    first_page, by_channel, by_purpose_and_reason, by_recipient, last_day, since_date = here_all(
        env,
        tmp_path,
        ("dead", "list", "--limit", "4"),
        ("dead", "list", "--channel", "sms", "--json"),
        ("dead", "list", "--purpose", "activation", "--reason", "permanent_error", "--json"),
        ("dead", "list", "--recipient", "w1@example.com", "--json"),
        ("dead", "list", "--since", "24h", "--json"),
        ("dead", "list", "--since", two_days_ago, "--json"),
    )
    page = ok(first_page).stdout.splitlines()
    hint = re.fullmatch(r"more: outbox-relay dead list --limit 4 --before (\d+)", page[-1])
    assert hint, page[-1]
    second_page = ok(here(env, tmp_path, "dead", "list", "--limit", "4", "--before", hint[1]))

    header, *lines = page[:-1] + second_page.stdout.splitlines()[1:]
    assert header.split() == [
        "ID", "CREATED", "CHANNEL", "PURPOSE", "RECIPIENT", "ATTEMPTS", "REASON", "LAST", "ERROR"
    ]  # fmt: skip
    assert "more:" not in second_page.stdout
    assert [line.split()[0] for line in lines] == newest_first
    reasons = {line.split()[0]: line.split()[7] for line in lines}
    assert reasons == {
        slow: "max_attempts",
        late: "expired",
        **dict.fromkeys([sms, activation, *welcome], "permanent_error"),
    }
    column = header.index("RECIPIENT")
    assert all(line[column - 2 : column] == "  " for line in page[1:-1])
    sms_line = next(line for line in lines if line.startswith(sms))
    assert sms_line[column:].startswith(PHONE)
    assert " sms " in sms_line and " activation " in sms_line
    assert "SMTP 550" in next(line for line in lines if line.startswith(activation))

    assert ids(as_json(by_channel)) == [sms]
    letters = as_json(by_purpose_and_reason)
    assert ids(letters) == [sms, activation]
    first = letters[1]
    assert first["recipient"] == "ada@example.com" and first["dead_reason"] == "permanent_error"
    assert first["channel"] == "email" and first["purpose"] == "activation"
    assert first["attempts"] == 1 and "550" in first["last_error"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first["created_at"])
    assert ids(as_json(by_recipient)) == [welcome[1]]
    assert ids(as_json(last_day)) == newest_first[:-1]
    assert ids(as_json(since_date)) == newest_first[:-1]
    assert audit(engine) == [], "listing is no action"


# --- dead show --------------------------------------------------------------------------------


def test_dead_show_lists_the_attempts_and_never_the_code_or_password(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    delivery = register(client, email="ada@example.com")
    code = pending_code(engine, delivery)
    kill(relay, smtp, "reply:451")
    with engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    kill(relay, smtp, "reply:550")

    text, detail, missing = here_all(
        env,
        tmp_path,
        ("dead", "show", delivery),
        ("dead", "show", delivery, "--json"),
        ("dead", "show", "no-such-id"),
    )

    for run in (text, detail):
        assert code not in ok(run).stdout + run.stderr
        assert PASSWORD not in run.stdout + run.stderr
    assert re.search(rf"^id: +{delivery}$", text.stdout, re.M)
    assert re.search(r"^status: +dead$", text.stdout, re.M)
    assert re.search(r"^dead reason: +permanent_error$", text.stdout, re.M)
    assert "attempts (2):" in text.stdout
    attempts, events = text.stdout.split("attempts (2):\n")[1].split("\n\n")
    attempt_lines = attempts.splitlines()
    assert attempt_lines[0].split() == ["AT", "OUTCOME", "MS", "ERROR"]
    assert [line.split()[2] for line in attempt_lines[1:]] == ["transient", "permanent"]
    assert "SMTP 451" in attempt_lines[1] and "SMTP 550" in attempt_lines[2]
    assert events == "no provider events\n"

    shown = json.loads(detail.stdout)
    assert shown["id"] == delivery and shown["status"] == "dead" and shown["attempts"] == 2
    assert shown["recipient"] == "ada@example.com" and shown["resolution"] is None
    assert [a["outcome"] for a in shown["history"]] == ["transient", "permanent"]
    assert shown["provider_events"] == []
    assert not {"params", "secret_params", "code", "password"} & set(shown)

    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.strip() == "outbox-relay: no message no-such-id"


# --- dead retry -------------------------------------------------------------------------------


def test_retrying_a_dead_welcome_requeues_it_and_the_relay_then_sends_it(
    relay: Relay, engine: Engine, smtp: SinkServer, env: dict[str, str], tmp_path: Path
) -> None:
    [welcome] = queue_emails(engine, 1, prefix="w")
    kill(relay, smtp)

    run = here(env, tmp_path, "dead", "retry", welcome, "no-such-id")

    assert run.returncode == 1, "an id not found makes the exit code 1"
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["ID", "OUTCOME", "NEW", "DELIVERY"]
    assert lines[1].split() == [welcome, "requeued", "-"]
    assert lines[2].split() == ["no-such-id", "not_found", "-"]
    assert lines[3] == "retried 1 of 2: 1 not_found, 1 requeued"
    row = outbox_row(engine, welcome)
    assert (row["status"], row["attempts"], row["dead_reason"]) == ("pending", 0, None)
    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert mail["To"] == "w0@example.com"
    assert outbox_row(engine, welcome)["status"] == "sent"
    assert audit(engine) == [(ACTOR, "retry", welcome, {"outcome": "requeued"})]


def test_retrying_a_dead_activation_sends_a_fresh_code_that_activates_the_account(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    old = register(client, email="ada@example.com")
    old_code = pending_code(engine, old)
    old_token = outbox_row(engine, old)["token_id"]
    kill(relay, smtp)

    run = ok(here(env, tmp_path, "--actor", "alice", "dead", "retry", old))

    [_, line, summary] = run.stdout.splitlines()
    [shown_id, outcome, new] = line.split()
    assert (shown_id, outcome) == (old, "fresh_code")
    assert summary == "retried 1 of 1: 1 fresh_code"
    old_row, new_row = outbox_row(engine, old), outbox_row(engine, new)
    assert (old_row["status"], old_row["resolution"], old_row["replaced_by"]) == (
        "dead",
        "retried",
        new,
    )
    assert (new_row["status"], new_row["purpose"], new_row["user_id"]) == (
        "pending",
        "activation",
        old_row["user_id"],
    )
    assert new_row["token_id"] not in (None, old_token)
    assert audit(engine) == [("alice", "retry", old, {"outcome": "fresh_code"})]

    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    new_code = code_in(mail)
    assert new_code != old_code
    stale = client.post("/v1/activations", json={"email": "ada@example.com", "code": old_code})
    assert stale.status_code == 400
    fresh = client.post("/v1/activations", json={"email": "ada@example.com", "code": new_code})
    assert (fresh.status_code, fresh.get_json()) == (200, {"status": "active"})


def test_retry_all_retries_only_the_matching_rows_up_to_the_limit(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    welcome = queue_emails(engine, 3, prefix="w")
    activation = register(client, email="ada@example.com")
    kill(relay, smtp)

    run = ok(here(env, tmp_path, "dead", "retry", "--all", "--purpose", "welcome", "--limit", "2"))

    lines = run.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:3]] == [
        [welcome[0], "requeued"],
        [welcome[1], "requeued"],
    ]
    assert lines[3:] == ["retried 2 of 2: 2 requeued", "stopped at 2; run it again for more"]
    assert [outbox_row(engine, i)["status"] for i in welcome] == ["pending", "pending", "dead"]
    assert outbox_row(engine, activation)["status"] == "dead"
    assert outbox_row(engine, activation)["resolution"] is None
    assert [(a, action, target) for a, action, target, _ in audit(engine)] == [
        (ACTOR, "retry", welcome[0]),
        (ACTOR, "retry", welcome[1]),
    ]


# --- dead discard -----------------------------------------------------------------------------


def test_discard_takes_the_row_off_the_dead_list_and_is_audited(
    relay: Relay, engine: Engine, smtp: SinkServer, env: dict[str, str], tmp_path: Path
) -> None:
    kept, discarded = queue_emails(engine, 2, prefix="w")
    kill(relay, smtp)

    run = here(env, tmp_path, "dead", "discard", discarded, "no-such-id")

    assert run.returncode == 1, "an id that is no dead letter makes the exit code 1"
    assert run.stdout.splitlines() == [
        f"{discarded}  discarded",
        "no-such-id  not discarded: not found",
    ]
    assert ids(as_json(here(env, tmp_path, "dead", "list", "--json"))) == [kept]
    row = outbox_row(engine, discarded)
    assert (row["status"], row["resolution"]) == ("dead", "discarded")
    assert row["resolved_at"] is not None
    assert audit(engine) == [
        (ACTOR, "discard", discarded, {"discarded": True}),
        (ACTOR, "discard", "no-such-id", {"discarded": False}),
    ]


def test_discard_takes_a_bounced_message_off_the_dead_list(
    relay: Relay, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    [bounced] = queue_emails(engine, 1, prefix="b")
    relay.drain()
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == bounced)
            .values(status="bounced", last_error="5.1.1 unknown user")
        )
    assert ids(as_json(here(env, tmp_path, "dead", "list", "--json"))) == [bounced]

    run = here(env, tmp_path, "dead", "discard", bounced)

    assert (run.returncode, run.stdout.splitlines()) == (0, [f"{bounced}  discarded"])
    assert as_json(here(env, tmp_path, "dead", "list", "--json")) == []
    assert as_json(here(env, tmp_path, "stats", "--json"))["dead_unresolved"] == 0
    row = outbox_row(engine, bounced)
    assert (row["status"], row["resolution"]) == ("bounced", "discarded")


# --- stats ------------------------------------------------------------------------------------


def test_stats_counts_by_status_and_channel_and_the_last_hour(
    relay: Relay, engine: Engine, smtp: SinkServer, env: dict[str, str], tmp_path: Path
) -> None:
    queue_emails(engine, 2, prefix="sent")
    relay.drain()
    queue_emails(engine, 1, prefix="dead")
    kill(relay, smtp)
    queue_emails(engine, 1, prefix="waiting")

    figures, table = here_all(env, tmp_path, ("stats", "--json"), ("stats",))

    stats = as_json(figures)
    assert stats["by_status"] == {
        "sent": {"email": 2},
        "dead": {"email": 1},
        "pending": {"email": 1},
    }
    assert (stats["sent_last_hour"], stats["failed_last_hour"]) == (2, 1)
    assert (stats["dead_last_hour"], stats["provider_down_last_hour"]) == (1, 0)
    assert stats["dead_unresolved"] == 1
    assert 0 <= stats["oldest_due_age_seconds"] < 60
    lines = ok(table).stdout.splitlines()
    assert lines[0].split() == ["STATUS", "EMAIL", "SMS", "TOTAL"]
    assert lines[1].split() == ["pending", "1", "0", "1"]
    assert lines[2].split() == ["sent", "2", "0", "2"]
    assert lines[3].split() == ["dead", "1", "0", "1"]
    assert "last hour: 2 sent, 1 dead (messages); 1 failed, 0 provider down (attempts)" in lines
    assert "unresolved dead letters: 1" in lines


# --- stranded accounts ------------------------------------------------------------------------


def test_stranded_lists_an_account_whose_activation_died_and_reissue_sends_a_working_code(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    dead = register(client, email="ada@example.com")
    kill(relay, smtp)
    register(client, email="bob@example.com")
    relay.drain()
    smtp.sink.received.clear()
    ada = user_id_of(engine, "ada@example.com")

    listed, table = here_all(env, tmp_path, ("stranded", "--json"), ("stranded",))

    [account] = as_json(listed)
    assert account["user_id"] == ada and account["email"] == "ada@example.com"
    assert (account["delivery"], account["why"]) == (dead, "message dead (permanent_error)")
    lines = ok(table).stdout.splitlines()
    assert lines[0].split() == ["USER", "CREATED", "EMAIL", "PHONE", "DELIVERY", "WHY"]
    assert lines[1].split()[0] == str(ada) and "ada@example.com" in lines[1]
    assert lines[-1] == f"send a fresh code: outbox-relay stranded --reissue {ada}"

    reissued = ok(here(env, tmp_path, "stranded", "--reissue", str(ada)))

    [_, line] = reissued.stdout.splitlines()
    [user, delivery] = line.split()
    assert user == str(ada) and outbox_row(engine, delivery)["status"] == "pending"
    assert audit(engine) == [
        (ACTOR, "reissue_activation", str(ada), {"outcome": "fresh_code", "delivery": delivery})
    ]
    assert relay.drain() == 1
    [mail] = smtp.sink.wait_for(1)
    assert mail["To"] == "ada@example.com"
    answer = client.post(
        "/v1/activations", json={"email": "ada@example.com", "code": code_in(mail)}
    )
    assert (answer.status_code, answer.get_json()) == (200, {"status": "active"})


def test_the_reissue_hint_is_a_whole_command_and_counts_the_rest_in_words(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    for n in range(12):
        register(client, email=f"u{n}@example.com")
    kill(relay, smtp)
    accounts = [str(user_id_of(engine, f"u{n}@example.com")) for n in range(12)]

    first = ok(here(env, tmp_path, "stranded")).stdout.splitlines()

    assert first[-2:] == [
        f"send a fresh code: outbox-relay stranded --reissue {' '.join(accounts[:10])}",
        "and 2 more: run `outbox-relay stranded` again after that command",
    ]
    pasted = shlex.split(first[-2].split(": ", 1)[1])
    ok(here(env, tmp_path, *pasted[1:]))
    second = ok(here(env, tmp_path, "stranded")).stdout.splitlines()
    assert (
        second[-1]
        == f"send a fresh code: outbox-relay stranded --reissue {' '.join(accounts[10:])}"
    )
    assert len(second) == 4, "the header, two accounts, the command"


# --- purge ------------------------------------------------------------------------------------


def test_purge_removes_what_outlived_retention_and_keeps_what_is_younger(
    client: FlaskClient,
    relay: Relay,
    engine: Engine,
    smtp: SinkServer,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    old_sent, young_sent = queue_emails(engine, 2, prefix="sent")
    relay.drain()
    old_dead, young_dead = queue_emails(engine, 2, prefix="dead")
    kill(relay, smtp)
    register(client, email="old@example.com")
    register(client, email="young@example.com")
    relay.drain()
    age(engine, old_sent, created_at=timedelta(days=8), sent_at=timedelta(days=8))
    age(engine, young_sent, created_at=timedelta(days=6), sent_at=timedelta(days=6))
    age(engine, old_dead, created_at=timedelta(days=31))
    age(engine, young_dead, created_at=timedelta(days=29))
    with engine.begin() as connection:
        for email, days in (("old@example.com", 8), ("young@example.com", 6)):
            connection.execute(
                update(users)
                .where(users.c.email == email)
                .values(created_at=utcnow() - timedelta(days=days))
            )

    purged = as_json(here(env, tmp_path, "purge", "--json"))

    assert purged == {
        "sent": 1,
        "dead": 1,
        "cancelled": 0,
        "unactivated_accounts": 1,
        "throttle_events": 0,
        "idempotency_keys": 0,
        "provider_notifications": 0,
        "account_events": 0,
    }
    left = {r["public_id"] for r in rows(engine, "outbox")}
    assert {young_sent, young_dead} <= left and not {old_sent, old_dead} & left
    attempted = {r["outbox_id"] for r in rows(engine, "outbox_attempts")}
    assert attempted == {r["id"] for r in rows(engine, "outbox")}, "attempts go with their rows"
    assert [u["email"] for u in rows(engine, "users")] == ["young@example.com"]
    [(actor, action, target, details)] = audit(engine)
    assert (actor, action, target, details) == (ACTOR, "purge", None, purged)

    again = ok(here(env, tmp_path, "purge")).stdout.splitlines()
    assert again[:2] == ["purged:", "WHAT                    ROWS  WINDOW"]
    assert again[2].split() == ["sent", "0", "sent", "over", "7d", "ago"]


# --- configuration and usage errors -----------------------------------------------------------


def test_a_configuration_error_exits_2_with_one_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'never.db'}"
    no_secret = here({"DATABASE_URL": database, "SECRET_KEY": ""}, tmp_path, "purge")
    bad_url = here({"DATABASE_URL": "mysql://db/x", "SECRET_KEY": SECRET_KEY}, tmp_path, "stats")
    filtered_ids = ("dead", "retry", "--purpose", "welcome", "x")
    bad_usage = here({"DATABASE_URL": database, "SECRET_KEY": SECRET_KEY}, tmp_path, *filtered_ids)

    assert (no_secret.returncode, no_secret.stdout) == (2, "")
    [line] = no_secret.stderr.splitlines()
    assert line.startswith("outbox-relay: configuration error: SECRET_KEY: required")
    assert (bad_url.returncode, bad_url.stdout) == (2, "")
    [line] = bad_url.stderr.splitlines()
    assert line.startswith("outbox-relay: configuration error: DATABASE_URL: ")
    assert (bad_usage.returncode, bad_usage.stdout) == (2, "")
    assert bad_usage.stderr == "outbox-relay: dead retry: filters apply only with --all\n"
    assert not (tmp_path / "never.db").exists(), "usage is checked before the database is opened"


def test_numbers_past_a_row_id_or_a_page_are_usage_errors(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}", "SECRET_KEY": SECRET_KEY}
    past_an_id = str(2**63)
    runs = here_all(
        env,
        tmp_path,
        ("dead", "list", "--before", past_an_id),
        ("dead", "list", "--limit", "501"),
        ("erase", past_an_id),
        ("stranded", "--reissue", past_an_id),
    )
    for run in runs:
        assert (run.returncode, run.stdout) == (2, ""), run.args
        assert "must be from 1 to " in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "never.db").exists(), "usage is checked before the database is opened"


def test_a_since_before_year_1_or_past_9999_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}", "SECRET_KEY": SECRET_KEY}
    runs = here_all(
        env,
        tmp_path,
        ("dead", "list", "--since", "99999999999d"),
        ("dead", "list", "--since", "999999d"),
        ("dead", "retry", "--all", "--since", "99999999d"),
        ("dead", "list", "--since", "0001-01-01T00:00+01:00"),
    )
    for run in runs:
        assert (run.returncode, run.stdout) == (2, ""), run.args
        assert "Traceback" not in run.stderr, run.args
        errors = [line for line in run.stderr.splitlines() if "error:" in line]
        assert errors == [run.stderr.splitlines()[-1]], run.stderr
        assert f"error: argument --since: out of range: '{run.args[-1]}'" in errors[0]
    assert not (tmp_path / "never.db").exists(), "usage is checked before the database is opened"


def test_an_invalid_choice_is_refused_naming_the_choices_as_plain_values(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}", "SECRET_KEY": SECRET_KEY}
    channel, purpose, reason = here_all(
        env,
        tmp_path,
        ("dead", "list", "--channel", "pigeon"),
        ("dead", "retry", "--all", "--purpose", "pigeon"),
        ("dead", "list", "--reason", "bored"),
    )
    for run in (channel, purpose, reason):
        assert (run.returncode, run.stdout) == (2, ""), run.args
        assert "<" not in run.stderr, run.stderr
    assert channel.stderr.endswith(
        "argument --channel: invalid choice: 'pigeon' (choose from 'email', 'sms', 'webhook')\n"
    )
    assert "(choose from 'activation', 'password_reset', " in purpose.stderr
    assert (
        "'no_account', 'address_change', 'address_changed', 'login_code', "
        "'account.registered', " in purpose.stderr
    )
    assert purpose.stderr.endswith(", 'delivery.sent', 'provider.down', 'provider.up')\n")
    assert reason.stderr.endswith(
        "(choose from 'permanent_error', 'max_attempts', 'expired', 'suppressed', 'bounced')\n"
    )


def test_control_characters_in_rows_are_printed_as_visible_escapes(
    client: FlaskClient, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    evil = "\x1b[2J\x07\x7f\x9b\u202e"
    public_id = register(client, email="eve@example.com")
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.public_id == public_id)
            .values(
                status="dead",
                dead_reason="permanent_error",
                last_error=f"550 {evil}",
                recipient=f"eve{evil}@example.com",
            )
        )
        connection.execute(
            update(users).where(users.c.email == "eve@example.com").values(email=f"eve{evil}@x")
        )

    listed, shown, stuck = here_all(
        env, tmp_path, ("dead", "list"), ("dead", "show", public_id), ("stranded",)
    )

    escapes = "\\x1b[2J\\x07\\x7f\\x9b\\u202e"
    for run in (listed, shown, stuck):
        text = ok(run).stdout
        assert not any(char in text for char in "\x1b\x07\x7f\x9b\u202e"), run.args
        assert escapes in text, run.args


def test_read_only_commands_need_no_secret_key(
    client: FlaskClient, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    public_id = register(client, email="ada@example.com")
    keyless = {**env, "SECRET_KEY": ""}
    runs = here_all(
        keyless,
        tmp_path,
        ("stats",),
        ("dead", "list"),
        ("dead", "show", public_id),
        ("stranded",),
        ("purge",),
    )
    for run in runs[:-1]:
        assert ok(run).stderr == "", run.args
    assert runs[-1].returncode == 2
    assert "SECRET_KEY: required" in runs[-1].stderr


def test_commands_that_need_a_key_read_the_one_outpost_up_keeps(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text(SECRET_KEY)
    purged = ok(here({**env, "SECRET_KEY": ""}, tmp_path, "purge"))
    assert purged.stdout.startswith("purged:")


def test_from_another_directory_the_sqlite_default_is_reported_missing_and_not_created(
    tmp_path: Path,
) -> None:
    runs = here_all({"DATABASE_URL": "", "SECRET_KEY": ""}, tmp_path, ("stats",), ("dead", "list"))
    for run in runs:
        assert (run.returncode, run.stdout) == (1, "")
        [line] = run.stderr.splitlines()
        assert line.startswith(f"outbox-relay: no database at {tmp_path / 'var' / 'outpost.db'};")
        assert "DATABASE_URL" in line
    assert not (tmp_path / "var").exists()
