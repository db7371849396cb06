"""Providers' webhooks through the real API: Amazon SES notifications as SNS posts them (the
fixtures follow Amazon's published examples, see tests/fixtures/ses/README.md) and Outpost's
own format, matched to messages the real relay sent through a real SMTP server."""

from __future__ import annotations

import base64
import html
import json
import re
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from api_service import create_app
from outbox_relay.relay import Relay
from shared.reports.provider_events import ProviderEvent, lookup
from shared.secrets.secretbox import SecretBox
from support.bulk import add_rows, queue_emails
from support.commands import as_json, here_all, ok
from support.constants import ADMIN_TOKEN, MakeRelay
from support.dashboard import signed_in
from support.deliveries import but_the_wait
from support.rows import count, forget_throttles, rows
from support.smtp_sink import SinkServer
from support.sns import BEARER, PASSWORD, PROVIDER_ID, TOKEN, post_sns, sent_activation, ses


def test_a_permanent_bounce_found_by_the_providers_id_fails_the_delivery_and_suppresses(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    answer = post_sns(
        api, ses("bounce_permanent", provider_id=PROVIDER_ID, recipient="jane@example.com")
    )
    assert (answer.status_code, answer.get_json()) == (200, {"accepted": 1, "unknown": 0})
    delivery = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (delivery["status"], delivery["reason"]) == ("failed", "address_rejected")
    [event] = rows(engine, "provider_events")
    assert (event["type"], event["permanent"], event["source"]) == ("bounce", True, "ses")
    assert "5.1.1" in event["diagnostic"]
    [entry] = rows(engine, "suppressions")
    assert (entry["address"], entry["reason"], entry["event_id"]) == (
        "jane@example.com",
        "hard_bounce",
        event["id"],
    )
    with engine.connect() as connection:
        dead = connection.exec_driver_sql("SELECT public_id, status FROM outbox_dead_letters").all()
    assert [tuple(d) for d in dead] == [(delivery_id, "bounced")]

    # The next sign-up to that address is answered like any other, and its message ends
    # dead/suppressed without the SMTP server hearing of it.
    before = len(smtp.sink.data_commands), smtp.sink.connections
    forget_throttles(engine)
    again = api.post("/v1/registrations", json={"email": "jane@example.com", "password": PASSWORD})
    assert again.status_code == 202
    relay.drain()
    later = api.get(f"/v1/deliveries/{again.get_json()['delivery']['id']}").get_json()
    assert (later["status"], later["reason"]) == ("failed", "address_rejected")
    assert (len(smtp.sink.data_commands), smtp.sink.connections) == before
    [suppressed] = [r for r in rows(engine, "outbox") if r["dead_reason"] == "suppressed"]
    assert suppressed["attempts"] == 0


def test_a_transient_bounce_and_a_delivery_are_only_recorded(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    started = time.monotonic()
    delivery_id = sent_activation(api, relay, smtp, "mary@example.com")
    before = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert before["status"] == "sent"
    for name in ("bounce_transient", "delivery"):
        answer = post_sns(api, ses(name, provider_id=PROVIDER_ID, recipient="mary@example.com"))
        assert answer.get_json() == {"accepted": 1, "unknown": 0}
    # Its client sees nothing of them (operators do: tests/api/test_delivered.py).
    shown = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    earlier, later = but_the_wait([before, shown], started)
    assert earlier == later
    assert [(e["type"], e["permanent"]) for e in rows(engine, "provider_events")] == [
        ("bounce", False),
        ("delivery", False),
    ]
    assert rows(engine, "suppressions") == []


def test_the_events_show_with_the_messages_attempts_on_every_face_and_erasure_scrubs_them(
    api: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    full = "smtp; 552 5.2.2 <jane@example.com>: mailbox full"
    unknown = "smtp; 550 5.1.1 <jane@example.com>: user unknown"
    for permanent, diagnostic in ((False, full), (True, unknown)):
        event = {"type": "bounce", "delivery_id": delivery_id, "permanent": permanent}
        answer = api.post(
            "/v1/provider-events",
            json={"events": [{**event, "diagnostic": diagnostic}]},
            headers=BEARER,
        )
        assert answer.get_json() == {"accepted": 1, "unknown": 0}
    reported = [("bounce", False, "outpost", full), ("bounce", True, "outpost", unknown)]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    shown = api.get(f"/v1/admin/dead-letters/{delivery_id}", headers=admin).get_json()
    assert (shown["status"], [a["outcome"] for a in shown["history"]]) == ("bounced", ["sent"])
    events = shown["provider_events"]
    assert [(e["type"], e["permanent"], e["source"], e["diagnostic"]) for e in events] == reported
    assert events[0]["at"] <= events[1]["at"]

    text, detail = here_all(
        env, tmp_path, ("dead", "show", delivery_id), ("dead", "show", delivery_id, "--json")
    )
    section = ok(text).stdout.split("provider events (2):\n")[1].splitlines()
    assert section[0].split() == ["AT", "TYPE", "PERMANENT", "SOURCE", "DIAGNOSTIC"]
    assert [line.split()[2:5] for line in section[1:]] == [
        ["bounce", "no", "outpost"],
        ["bounce", "yes", "outpost"],
    ]
    assert section[1].endswith(full) and section[2].endswith(unknown)
    assert as_json(detail)["provider_events"] == events

    signed_in(api)
    listing = api.get("/admin/dead").get_data(as_text=True)
    assert f'href="/admin/dead/{delivery_id}"' in listing
    page = api.get(f"/admin/dead/{delivery_id}").get_data(as_text=True)
    table = page.split('id="provider-events"')[1].split("</table>")[0]
    # A transient bounce reads as a delay (tests/operators/test_dashboard_reports.py).
    assert [re.sub(r"<[^>]+>", " ", row).split()[3:5] for row in table.split("<tr>")[2:]] == [
        ["delay", "outpost"],
        ["bounce", "outpost"],
    ]
    assert html.escape(full) in table and html.escape(unknown) in table
    assert api.get("/admin/dead/00000000-0000-4000-8000-000000000000").status_code == 404

    [user] = rows(engine, "users")
    assert api.delete(f"/v1/admin/users/{user['id']}", headers=admin).status_code == 200
    erased = api.get(f"/v1/admin/dead-letters/{delivery_id}", headers=admin)
    assert [e["diagnostic"] for e in erased.get_json()["provider_events"]] == [None, None]
    assert "jane@example.com" not in erased.get_data(as_text=True)


def test_a_complaint_found_by_our_message_id_in_the_original_headers(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "rick@example.com")
    message_id = f"<{delivery_id.upper()}@outpost.test>"
    answer = post_sns(api, ses("complaint", message_id=message_id, recipient="rick@example.com"))
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["reason"] == "address_rejected"
    [entry] = rows(engine, "suppressions")
    assert (entry["reason"], entry["source"]) == ("complaint", "ses")


def test_a_subscription_confirmation_is_logged_for_the_operator(
    api: FlaskClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    answer = post_sns(api, ses("subscription_confirmation"))
    assert answer.get_json() == {"accepted": 0, "unknown": 0}
    [record] = [r for r in caplog.records if "SubscribeURL" in r.getMessage()]
    assert record.url.startswith("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")  # type: ignore[attr-defined]
    assert count(engine, "provider_events") == 0


def put(document: Any, path: str, value: Any) -> None:
    """Set what `path` (keys and list indexes, `/`-separated) names in `document` to `value`."""
    *parents, last = path.split("/")
    for key in parents:
        document = document[int(key) if isinstance(document, list) else key]
    document[int(last) if isinstance(document, list) else last] = value


# Where in an SES notification a value of the wrong type (or one no database stores) is put.
MALFORMED = [
    ("bounce_permanent", "mail", "x"),
    ("bounce_permanent", "mail/messageId", {"id": PROVIDER_ID}),
    ("bounce_permanent", "mail/messageId", 5),
    ("bounce_permanent", "bounce", ["Permanent"]),
    ("bounce_permanent", "bounce/bouncedRecipients", 3),
    ("bounce_permanent", "bounce/bouncedRecipients/0", "jane@example.com"),
    ("bounce_permanent", "bounce/bouncedRecipients/0/diagnosticCode", 550),
    ("bounce_permanent", "bounce/bouncedRecipients/0/diagnosticCode", "smtp; 550\u0000"),
    ("bounce_transient", "bounce/bounceSubType", {"kind": "MailboxFull"}),
    ("complaint", "mail/commonHeaders", [1]),
    ("complaint", "mail/headers/3/value", ["<x@outpost.test>"]),
    ("complaint", "complaint/complaintFeedbackType", 1),
    ("complaint", "complaint/complainedRecipients", "jane@example.com"),
    ("delivery", "delivery/smtpResponse", ["250 ok"]),
    ("delivery", "delivery/recipients", 3),
]


@pytest.mark.parametrize(("fixture", "path", "value"), MALFORMED)
def test_a_malformed_ses_notification_is_refused_naming_the_field_and_writes_nothing(
    api: FlaskClient,
    relay: Relay,
    smtp: SinkServer,
    engine: Engine,
    fixture: str,
    path: str,
    value: Any,
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    post = ses(
        fixture,
        provider_id=PROVIDER_ID,
        message_id=f"<{delivery_id}@outpost.test>",
        recipient="jane@example.com",
    )
    notification = json.loads(post["Message"])
    put(notification, path, value)
    answer = post_sns(api, {**post, "Message": json.dumps(notification)})
    assert (answer.status_code, answer.mimetype) == (422, "application/problem+json")
    assert [e["pointer"] for e in answer.get_json()["errors"]] == [f"#/Message/{path}"]
    assert count(engine, "provider_events") == count(engine, "suppressions") == 0
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "sent"


@pytest.mark.parametrize("message", [{"notificationType": "Bounce"}, 5, "[" * 100_000])
def test_a_message_that_holds_no_ses_notification_is_refused_naming_it(
    api: FlaskClient, engine: Engine, message: Any
) -> None:
    answer = post_sns(api, {**ses("delivery"), "Message": message})
    assert (answer.status_code, answer.mimetype) == (422, "application/problem+json")
    assert [e["pointer"] for e in answer.get_json()["errors"]] == ["#/Message"]
    assert count(engine, "provider_events") == 0


def test_fields_ses_adds_over_time_are_accepted(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "jane@example.com")
    post = ses("bounce_permanent", provider_id=PROVIDER_ID, recipient="jane@example.com")
    notification = json.loads(post["Message"])
    notification["eventSource"] = {"future": [1, None]}
    notification["mail"]["tags"] = {"ses:configuration-set": ["outpost"]}
    notification["bounce"]["bouncedRecipients"][0]["newDetail"] = 7
    answer = post_sns(api, {**post, "Message": json.dumps(notification), "NewField": 1})
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
    assert api.get(f"/v1/deliveries/{delivery_id}").get_json()["status"] == "failed"


def test_outposts_own_format_matches_message_ids_and_delivery_ids_and_counts_the_rest(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine
) -> None:
    first = sent_activation(api, relay, smtp, "a@example.com")
    second = sent_activation(api, relay, smtp, "b@example.com")
    events = [
        {"type": "bounce", "message_id": f"{first}@outpost.test", "permanent": True},
        {"type": "delivery", "delivery_id": second.upper()},
        {"type": "complaint", "message_id": "<00000000-0000-4000-8000-000000000000@x>"},
        {"type": "bounce", "message_id": "not-ours", "permanent": True},
    ]
    answer = api.post("/v1/provider-events", json={"events": events}, headers=BEARER)
    assert answer.get_json() == {"accepted": 2, "unknown": 2}
    assert api.get(f"/v1/deliveries/{first}").get_json()["status"] == "failed"
    assert api.get(f"/v1/deliveries/{second}").get_json()["status"] == "sent"


def test_a_thousand_events_take_a_few_statements_and_act_once_a_message(
    api: FlaskClient, relay: Relay, smtp: SinkServer, hooks_app: Flask, engine: Engine
) -> None:
    bounced = sent_activation(api, relay, smtp, "a@example.com")
    arrived = sent_activation(api, relay, smtp, "b@example.com")
    events = [
        *[{"type": "bounce", "delivery_id": bounced, "permanent": True}] * 400,
        *[{"type": "delivery", "delivery_id": arrived}] * 400,
        *[{"type": "bounce", "delivery_id": str(uuid.uuid4())} for _ in range(200)],
    ]
    statements: list[str] = []
    api_engine = hooks_app.extensions["outpost"].engine
    listen = partial(event.listen, api_engine, "before_cursor_execute")
    listen(lambda *args: statements.append(args[2]))
    answer = api.post("/v1/provider-events", json={"events": events}, headers=BEARER)
    assert answer.get_json() == {"accepted": 800, "unknown": 200}
    # Not a statement an event: the batch's transaction stays short on a loaded database.
    assert len(statements) < 25, statements
    assert count(engine, "provider_events") == 800
    [entry] = rows(engine, "suppressions")
    assert entry["address"] == "a@example.com"
    assert api.get(f"/v1/deliveries/{bounced}").get_json()["status"] == "failed"
    assert api.get(f"/v1/deliveries/{arrived}").get_json()["status"] == "sent"


def test_an_events_message_is_found_through_the_public_id_index(
    engine: Engine, backend: str
) -> None:
    """The statement `lookup` builds, explained as it is compiled for the database, finds the
    message of an upper-case Message-ID (alone, and beside SES's own id) by an index, not by
    reading the whole outbox, which a 1,000-event post does once an event. On PostgreSQL the
    plan is the planner's own choice among 20,000 rows with fresh statistics (not forced by
    enable_seqscan = off: the test shows what production picks); on SQLite, EXPLAIN QUERY PLAN
    says whether the outbox is searched by an index or scanned. The sent rows carry SES's ids,
    as they do where SES events come from: with statistics saying every provider id is NULL,
    SQLite would read the whole outbox for the `or` of the two ids."""
    [public_id] = queue_emails(engine, 1)
    add_rows(engine, 20_000)
    explain, scan = (
        ("EXPLAIN QUERY PLAN ", "SCAN outbox")
        if backend == "sqlite"
        else ("EXPLAIN ", "Seq Scan on outbox")
    )
    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET provider_message_id = 'ses-' || id"))
        connection.execute(text("ANALYZE outbox"))
        for provider_id in (None, PROVIDER_ID):
            event = ProviderEvent(
                "bounce",
                permanent=True,
                source="ses",
                message_id=f"<{public_id.upper()}@outpost.test>",
                provider_id=provider_id,
            )
            statement = lookup([event])
            assert statement is not None
            assert connection.execute(statement).one().public_id == public_id
            sql = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            plan = "\n".join(str(row[-1]) for row in connection.exec_driver_sql(explain + str(sql)))
            assert scan not in plan and "INDEX" in plan.upper(), plan


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": "Basic " + base64.b64encode(b"sns:wrong").decode()},
        {"Authorization": "Basic %%%"},
    ],
)
def test_without_the_token_the_answer_is_401_and_nothing_is_written(
    api: FlaskClient, engine: Engine, headers: dict[str, str]
) -> None:
    events = {"events": [{"type": "complaint", "delivery_id": "x"}]}
    answer = api.post("/v1/provider-events", json=events, headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert count(engine, "provider_events") == 0


def test_the_routes_answer_404_when_no_token_is_configured(client: FlaskClient) -> None:
    for path in ("/v1/provider-events", "/v1/provider-events/ses"):
        assert client.post(path, json={"events": []}, headers=BEARER).status_code == 404


def test_more_than_a_thousand_events_or_a_megabyte_are_refused(api: FlaskClient) -> None:
    event = {"type": "delivery", "delivery_id": "00000000-0000-4000-8000-000000000000"}
    many = api.post("/v1/provider-events", json={"events": [event] * 1001}, headers=BEARER)
    assert many.status_code == 422
    assert [e["pointer"] for e in many.get_json()["errors"]] == ["#/events"]
    huge = json.dumps({"events": [{**event, "diagnostic": "x" * 1000}] * 1000})
    assert len(huge) > 1024 * 1024
    too_big = api.post(
        "/v1/provider-events",
        data=huge,
        headers={**BEARER, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413


def test_bad_events_are_named_and_nothing_is_written(api: FlaskClient, engine: Engine) -> None:
    bad = {"events": [{"type": "opened", "delivery_id": ""}, {"type": "bounce"}, "x"]}
    answer = api.post("/v1/provider-events", json=bad, headers=BEARER)
    assert answer.status_code == 422
    pointers = {e["pointer"] for e in answer.get_json()["errors"]}
    assert pointers == {
        "#/events/0/type",
        "#/events/0/message_id",
        "#/events/1/message_id",
        "#/events/2",
    }
    assert count(engine, "provider_events") == 0


def test_providers_and_operators_with_their_tokens_are_not_held_to_the_public_per_ip_limit(
    env: dict[str, str], engine: Engine
) -> None:
    """IP_RATE_LIMIT paces the public POSTs of one address; a provider reporting from one
    address, or an operator's script, presents its token instead, and wrong tokens wait."""
    app = create_app(
        {**env, "PROVIDER_EVENTS_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, "IP_RATE_LIMIT": "2"}
    )
    client = app.test_client()
    report = {"events": [{"type": "delivery", "delivery_id": "00000000-0000-4000-8000-0"}]}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
    for _ in range(5):
        assert client.post("/v1/provider-events", json=report, headers=BEARER).status_code == 200
        retry = client.post("/v1/admin/dead-letters/retry", json={}, headers=admin)
        assert retry.status_code == 200
    public = [client.post("/v1/password-resets", json={"email": f"{c}@example.com"}) for c in "abc"]
    assert [r.status_code for r in public] == [202, 202, 429]
    wrong = {"Authorization": "Bearer not-the-token"}
    answers = [client.post("/v1/provider-events", json=report, headers=wrong) for _ in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    app.extensions["outpost"].engine.dispose()


def test_can_resend_waits_for_the_cooldown_and_says_how_long(
    api: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "wait@example.com")
    delivery = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert delivery["can_resend"] is False
    assert 0 < delivery["retry_after"] <= 60
    resend = api.post("/v1/activations/resend", json={"email": "wait@example.com"})
    assert resend.status_code == 429


def test_a_queued_code_can_be_resent_once_the_cooldown_has_passed(
    api: FlaskClient, engine: Engine
) -> None:
    """`can_resend` describes the route issuing a new code, counting the per-address throttle
    only (SPEC): a message still queued after the cooldown (its provider slow or down) may
    be replaced, and the resend route agrees."""
    body = {"email": "slow@example.com", "password": "correct horse battery staple"}
    delivery_id = api.post("/v1/registrations", json=body).get_json()["delivery"]["id"]
    queued = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (queued["status"], queued["can_resend"]) == ("queued", False)
    forget_throttles(engine)
    queued = api.get(f"/v1/deliveries/{delivery_id}").get_json()
    assert (queued["status"], queued["can_resend"], queued["retry_after"]) == ("queued", True, None)
    resend = api.post("/v1/activations/resend", json={"email": "slow@example.com"})
    assert resend.status_code == 202


def test_an_events_row_is_no_delivery(
    make_relay: MakeRelay, api: FlaskClient, engine: Engine
) -> None:
    from shared.clock import utcnow
    from shared.database.models import users
    from shared.messaging.events import emit

    relay = make_relay(webhook_url="http://127.0.0.1:9/hooks", webhook_secret=b"k" * 32)
    with engine.begin() as connection:
        user_id = connection.execute(
            users.insert().values(
                email="e@example.com",
                password_hash="!",
                locale="en",
                status="active",
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        emit(
            connection,
            relay.settings,
            SecretBox(*relay.settings.secret_keys),
            now=utcnow(),
            event="account.activated",
            user_id=user_id,
        )
    [event] = rows(engine, "outbox")
    assert api.get(f"/v1/deliveries/{event['public_id']}").status_code == 404


def test_a_suppressed_address_gets_the_same_answers_as_any_other(
    api: FlaskClient, engine: Engine
) -> None:
    from shared.clock import utcnow
    from shared.messaging.suppressions import Suppressor
    from support.constants import SECRET_KEY

    with engine.begin() as connection:
        Suppressor.under(SECRET_KEY).add(
            connection, "sup@example.com", reason="hard_bounce", source="ses", now=utcnow()
        )

    def answers(email: str) -> list[tuple[int, Any, list[str]]]:
        found = []
        for path, body in (
            ("/v1/registrations", {"email": email, "password": PASSWORD}),
            ("/v1/password-resets", {"email": email}),
        ):
            forget_throttles(engine)
            response = api.post(path, json=body)
            shape = response.get_json()
            if "delivery" in shape:
                shape = {**shape, "delivery": sorted(shape["delivery"])}
            found.append((response.status_code, shape, sorted(response.headers.keys())))
        return found

    assert answers("sup@example.com") == answers("fine@example.com")


@pytest.mark.parametrize("bad", ["diag\u0000nostic", "half \ud83d of a pair"])
def test_strings_no_database_stores_are_refused_naming_where(
    api: FlaskClient, relay: Relay, smtp: SinkServer, engine: Engine, bad: str
) -> None:
    delivery = sent_activation(api, relay, smtp, "a@example.com")
    event = {"type": "bounce", "delivery_id": delivery, "permanent": True, "diagnostic": bad}
    answer = api.post("/v1/provider-events", json={"events": [event]}, headers=BEARER)
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.get_json()["errors"]] == ["#/events/0/diagnostic"]
    assert api.get(f"/v1/deliveries/{delivery}").get_json()["status"] == "sent"
    # A line break in a diagnostic is a provider's, and stored as is.
    event["diagnostic"] = "smtp; 550 5.1.1\nuser unknown"
    answer = api.post("/v1/provider-events", json={"events": [event]}, headers=BEARER)
    assert answer.get_json() == {"accepted": 1, "unknown": 0}
