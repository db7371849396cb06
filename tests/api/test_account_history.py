"""An account's own history (SPEC "Support lookup and an account's history"): each event
written by its route in the transaction of what it records, with the client, never a password
or a code; nothing for an unknown address; purged after ACCOUNT_EVENTS_RETENTION_DAYS, erased
with the account; read through GET /v1/admin/accounts/<id>/events and on the dashboard."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api_service import create_app
from shared import operations
from shared.accounts.history import HISTORY_PAGE, AccountEvent, record
from shared.clock import utcnow
from shared.settings.config import Settings
from support.constants import ADMIN_TOKEN, PASSWORD, MakeRelay
from support.dashboard import signed_in
from support.rows import count, forget_throttles, rows
from support.smtp_sink import SinkServer, code_in, the_mail

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ADA, NEW, GRACE = "ada@example.com", "ada@new.example.com", "grace@example.com"
CLIENT = "203.0.113.7"
BY_PASSWORD = {"method": "password"}
CONFIRM_NEW = "Confirm your new Outpost address"


def from_client(client: FlaskClient) -> FlaskClient:
    """`client`, its requests coming from CLIENT."""
    client.environ_base["REMOTE_ADDR"] = CLIENT
    return client


def user_id(engine: Engine, email: str = ADA) -> int:
    """The id of the account at `email`."""
    [found] = [int(r["id"]) for r in rows(engine, "users") if r["email"] == email]
    return found


def history(admin: FlaskClient, account: int) -> list[tuple[str, str | None, Any]]:
    """The account's events through the admin API, newest first: type, client, detail."""
    answer = admin.get(f"/v1/admin/accounts/{account}/events", headers=AUTH)
    assert answer.status_code == 200
    page = answer.get_json()
    assert page["next"] is None
    assert all(set(item) == {"type", "at", "client", "detail"} for item in page["items"])
    return [(item["type"], item["client"], item["detail"]) for item in page["items"]]


def register(client: FlaskClient, email: str = ADA) -> None:
    body = {"email": email, "password": PASSWORD}
    assert client.post("/v1/registrations", json=body).status_code == 202


def make_active(engine: Engine) -> None:
    """Every pending account active, its email proven, as its activation code would; throttles
    forgotten."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE users SET status = 'active', activated_at = created_at,"
                " email_proven_at = created_at WHERE status = 'pending'"
            )
        )
    forget_throttles(engine)


def no_secret_in_history(engine: Engine, *secrets: str) -> None:
    """No event row holds a password, a code or a hash of one."""
    text_of_rows = json.dumps(rows(engine, "account_events"), default=str)
    hashes = [str(r["password_hash"]) for r in rows(engine, "users")]
    for secret in (PASSWORD, *secrets, *hashes):
        assert secret not in text_of_rows


def test_the_history_shows_registration_activation_a_failed_and_a_good_sign_in(
    admin: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    from_client(admin)
    register(admin)
    make_relay().drain()
    code = code_in(smtp.sink.wait_for(1)[0])
    assert admin.post("/v1/activations", json={"email": ADA, "code": code}).status_code == 200
    wrong = {"email": ADA, "password": "not the password at all"}
    assert admin.post("/v1/logins", json=wrong).status_code == 401
    right = {"email": ADA, "password": PASSWORD}
    assert admin.post("/v1/logins", json=right).status_code == 200

    assert history(admin, user_id(engine)) == [
        (AccountEvent.LOGIN_SUCCEEDED, CLIENT, BY_PASSWORD),
        (AccountEvent.LOGIN_FAILED, CLIENT, BY_PASSWORD),
        (AccountEvent.ACTIVATED, CLIENT, None),
        (AccountEvent.REGISTERED, CLIENT, {"channel": "email"}),
    ]
    no_secret_in_history(engine, code, wrong["password"])


def test_a_registration_naming_a_held_address_is_contested_and_an_unknown_one_has_none(
    admin: FlaskClient, engine: Engine
) -> None:
    from_client(admin)
    register(admin)
    forget_throttles(engine)
    register(admin)
    make_active(engine)
    register(admin)
    unknown = {"email": GRACE, "password": PASSWORD}
    assert admin.post("/v1/logins", json=unknown).status_code == 401
    assert admin.post("/v1/password-resets", json={"email": GRACE}).status_code == 202

    contested = (AccountEvent.REGISTRATION_CONTESTED, CLIENT, {"channel": "email"})
    assert history(admin, user_id(engine)) == [
        contested,
        contested,
        (AccountEvent.REGISTERED, CLIENT, {"channel": "email"}),
    ]
    assert count(engine, "account_events") == 3, "an unknown address has no history"


def test_codes_asked_for_and_a_password_reset_are_recorded(
    admin: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    from_client(admin)
    register(admin)
    forget_throttles(engine)
    assert admin.post("/v1/activations/resend", json={"email": ADA}).status_code == 202
    make_active(engine)
    assert admin.post("/v1/password-resets", json={"email": ADA}).status_code == 202
    mails = smtp.sink.wait_for(make_relay().drain())
    code = code_in(the_mail(mails, ADA, "Reset your Outpost password"))
    new_password = "another horse battery staple"
    confirm = {"email": ADA, "code": code, "new_password": new_password}
    assert admin.post("/v1/password-resets/confirm", json=confirm).status_code == 200
    forget_throttles(engine)
    assert admin.post("/v1/login-codes", json={"email": ADA}).status_code == 202

    assert history(admin, user_id(engine)) == [
        (AccountEvent.LOGIN_CODE_REQUESTED, CLIENT, {"channel": "email"}),
        (AccountEvent.PASSWORD_CHANGED, CLIENT, None),
        (AccountEvent.PASSWORD_RESET_REQUESTED, CLIENT, {"channel": "email"}),
        (AccountEvent.REGISTERED, CLIENT, {"channel": "email"}),
    ], "a resent activation code is no event of its own"
    no_secret_in_history(engine, code, new_password)


def test_an_address_change_records_the_request_the_change_and_a_wrong_password(
    admin: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    from_client(admin)
    register(admin)
    register(admin, GRACE)
    make_active(engine)
    ask = {"email": ADA, "password": PASSWORD}
    wrong = {**ask, "password": "not the password at all", "new_email": NEW}
    assert admin.post("/v1/address-changes", json=wrong).status_code == 202
    assert admin.post("/v1/address-changes", json={**ask, "new_email": GRACE}).status_code == 202
    forget_throttles(engine)
    assert admin.post("/v1/address-changes", json={**ask, "new_email": NEW}).status_code == 202
    make_relay().drain()
    code = code_in(the_mail(smtp.sink.received, NEW, CONFIRM_NEW))
    confirm = {"email": ADA, "code": code, "new_email": NEW}
    assert admin.post("/v1/address-changes/confirm", json=confirm).status_code == 200

    assert history(admin, user_id(engine, NEW)) == [
        (AccountEvent.ADDRESS_CHANGED, CLIENT, {"field": "email", "from": ADA, "to": NEW}),
        (AccountEvent.ADDRESS_CHANGE_REQUESTED, CLIENT, {"field": "email", "to": NEW}),
        (
            AccountEvent.ADDRESS_CHANGE_REQUESTED,
            CLIENT,
            {"field": "email", "refused": "address_taken"},
        ),
        (AccountEvent.LOGIN_FAILED, CLIENT, BY_PASSWORD),
        (AccountEvent.REGISTERED, CLIENT, {"channel": "email"}),
    ]
    assert GRACE not in json.dumps(history(admin, user_id(engine, NEW)))
    no_secret_in_history(engine, code, wrong["password"])


def test_a_pending_account_activated_by_an_address_change_says_so(
    admin: FlaskClient, engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    from_client(admin)
    register(admin)
    ask = {"email": ADA, "password": PASSWORD, "new_email": NEW}
    assert admin.post("/v1/address-changes", json=ask).status_code == 202
    make_relay().drain()
    code = code_in(the_mail(smtp.sink.received, NEW, CONFIRM_NEW))
    confirm = {"email": ADA, "code": code, "new_email": NEW}
    assert admin.post("/v1/address-changes/confirm", json=confirm).status_code == 200

    types = [(kind, detail) for kind, _, detail in history(admin, user_id(engine, NEW))]
    assert types[:2] == [
        (AccountEvent.ADDRESS_CHANGED, {"field": "email", "from": ADA, "to": NEW}),
        (AccountEvent.ACTIVATED, {"method": "address_change"}),
    ]


def test_an_event_is_kept_only_if_what_it_records_is(env: dict[str, str], engine: Engine) -> None:
    """A registration refused by the per-IP limit, which the flow counts last in its
    transaction, rolls its account and its `registered` event back together."""
    app = create_app({**env, "IP_RATE_LIMIT": "2"})
    try:
        client = from_client(app.test_client())
        register(client, "one@example.com")
        register(client, "two@example.com")
        refused = client.post("/v1/registrations", json={"email": ADA, "password": PASSWORD})
        assert refused.status_code == 429
    finally:
        app.extensions["outpost"].engine.dispose()
    assert count(engine, "users") == 2
    assert [r["type"] for r in rows(engine, "account_events")] == [AccountEvent.REGISTERED] * 2


def test_the_admin_route_pages_answers_404_and_wants_the_token(
    admin: FlaskClient, engine: Engine
) -> None:
    register(admin)
    account = user_id(engine)
    start = utcnow()
    with engine.begin() as connection:
        for minute in range(HISTORY_PAGE + 1):
            at = start + timedelta(minutes=minute)
            record(connection, account, AccountEvent.LOGIN_FAILED, now=at, detail=BY_PASSWORD)
    path = f"/v1/admin/accounts/{account}/events"
    first = admin.get(path, headers=AUTH).get_json()
    assert len(first["items"]) == HISTORY_PAGE and first["next"] is not None
    ats = [item["at"] for item in first["items"]]
    assert ats == sorted(ats, reverse=True)
    second = admin.get(path, query_string={"before": first["next"]}, headers=AUTH).get_json()
    assert second["next"] is None
    assert [(i["type"], i["client"]) for i in second["items"]] == [
        (AccountEvent.LOGIN_FAILED, None),
        (AccountEvent.REGISTERED, "127.0.0.1"),
    ]
    assert admin.get(path).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-0123456789abcdef"}
    assert admin.get(path, headers=wrong).status_code == 401
    missing = admin.get(f"/v1/admin/accounts/{account + 1}/events", headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["type"].endswith("not-found")
    bad = admin.get(path, query_string={"before": 0}, headers=AUTH)
    assert bad.status_code == 422


def test_the_purge_removes_events_past_retention_and_erasure_removes_them_all(
    admin: FlaskClient, engine: Engine, settings: Settings
) -> None:
    register(admin)
    register(admin, GRACE)
    make_active(engine)
    ada, grace = user_id(engine), user_id(engine, GRACE)
    now = utcnow()
    kept_days = settings.account_events_retention_days
    with engine.begin() as connection:
        for account in (ada, grace):
            for days in (kept_days + 1, kept_days - 1):
                at = now - timedelta(days=days)
                record(connection, account, AccountEvent.LOGIN_SUCCEEDED, now=at)
    with engine.connect() as connection:
        purged = operations.purge(connection, settings, actor="test", now=now)
    assert purged.account_events == 2
    assert [kind for kind, _, _ in history(admin, ada)] == [
        AccountEvent.LOGIN_SUCCEEDED,
        AccountEvent.REGISTERED,
    ]

    assert admin.delete(f"/v1/admin/users/{ada}", headers=AUTH).status_code == 200
    assert {r["user_id"] for r in rows(engine, "account_events")} == {grace}
    assert admin.get(f"/v1/admin/accounts/{ada}/events", headers=AUTH).status_code == 404


def test_the_dashboard_lookup_shows_the_account_s_history(
    admin: FlaskClient, engine: Engine
) -> None:
    from_client(admin)
    register(admin)
    wrong = {"email": ADA, "password": "not the password at all"}
    assert admin.post("/v1/logins", json=wrong).status_code == 401
    signed_in(admin)
    page = admin.get("/admin/lookup", query_string={"address": ADA}).get_data(as_text=True)
    table = page[page.index('id="history"') : page.index('id="messages"')]
    assert table.index("login_failed") < table.index("registered")
    assert CLIENT in table and "method: password" in table and "channel: email" in table
    assert 'id="older-history"' not in page
    none = admin.get("/admin/lookup", query_string={"address": GRACE}).get_data(as_text=True)
    assert 'id="history"' not in none and "No account holds" in none
