"""/v1/admin/webhook-endpoints: an endpoint added shows its secret once, is listed without it,
removed with its queued events; every change audited, never with the secret or the URL's query
string; bad bodies are 422 naming the field."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.clock import utcnow
from shared.messaging.events import emit
from shared.secrets.secretbox import SecretBox
from support.constants import ADMIN_TOKEN, SECRET_KEY
from support.rows import rows
from support.webhooks import a_user

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Operator": "alice"}
ENDPOINTS = "/v1/admin/webhook-endpoints"
URL = "https://crm.example.com/hooks?token=s3cr3t"


def test_added_shown_once_listed_without_secret_removed_with_its_queued_events(
    admin: FlaskClient, engine: Engine
) -> None:
    body = {"url": URL, "events": ["account.activated", "delivery.sent", "account.activated"]}
    added = admin.post(ENDPOINTS, json=body, headers=AUTH)
    assert added.status_code == 201
    endpoint = added.get_json()
    assert endpoint["events"] == ["account.activated", "delivery.sent"]
    assert endpoint["url"] == "https://crm.example.com/hooks"
    secret = endpoint.pop("secret")
    assert secret.startswith("whsec_")

    [listed] = admin.get(ENDPOINTS, headers=AUTH).get_json()["items"]
    assert listed == endpoint
    [stored] = rows(engine, "webhook_endpoints")
    assert secret not in json.dumps(stored, default=str) and "s3cr3t" not in stored["url"]
    user_id = a_user(engine)
    with engine.begin() as connection:
        settings = admin.application.extensions["outpost"].settings
        emit(
            connection,
            settings,
            SecretBox(SECRET_KEY),
            now=utcnow(),
            event="account.activated",
            user_id=user_id,
        )
    [queued] = rows(engine, "outbox")
    assert (queued["recipient"], queued["status"]) == (endpoint["id"], "pending")
    assert secret not in json.dumps(queued, default=str)

    assert admin.delete(f"{ENDPOINTS}/{endpoint['id']}", headers=AUTH).status_code == 204
    assert admin.get(ENDPOINTS, headers=AUTH).get_json() == {"items": []}
    [cancelled] = rows(engine, "outbox")
    assert (cancelled["status"], cancelled["secret_params"]) == ("cancelled", None)
    again = admin.delete(f"{ENDPOINTS}/{endpoint['id']}", headers=AUTH)
    assert again.status_code == 404

    audit = admin.get("/v1/admin/audit", headers=AUTH).get_json()["items"]
    assert [(e["action"], e["target"], e["actor"]) for e in audit] == [
        ("remove_webhook_endpoint", endpoint["id"], "alice@127.0.0.1"),
        ("add_webhook_endpoint", endpoint["id"], "alice@127.0.0.1"),
    ]
    assert audit[1]["summary"] == (
        "https://crm.example.com/hooks for account.activated, delivery.sent"
    )
    assert secret not in json.dumps(audit) and "s3cr3t" not in json.dumps(audit)


def test_a_bad_body_is_422_naming_the_field_and_no_token_is_401(
    admin: FlaskClient, engine: Engine
) -> None:
    bad = [
        ({"url": "ftp://crm.example.com/", "events": ["account.activated"]}, "url"),
        ({"url": "https://crm.example.com/a b", "events": ["account.activated"]}, "url"),
        ({"url": "http://[crm/", "events": ["account.activated"]}, "url"),
        ({"url": "http://crm.example.com:99999/", "events": ["account.activated"]}, "url"),
        ({"url": "https:///hooks", "events": ["account.activated"]}, "url"),
        ({"url": URL, "events": ["account.nope"]}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL}, "events"),
        ({"url": URL, "events": ["account.activated"], "secret": "whsec_x"}, "secret"),
    ]
    for body, field in bad:
        answer = admin.post(ENDPOINTS, json=body, headers=AUTH)
        assert answer.status_code == 422, body
        assert field in json.dumps(answer.get_json()), (body, answer.get_json())
    assert (
        admin.post(ENDPOINTS, json={"url": URL, "events": ["account.activated"]}).status_code == 401
    )
    assert admin.get(ENDPOINTS).status_code == 401
    assert rows(engine, "webhook_endpoints") == []
    assert admin.delete(f"{ENDPOINTS}/not-a-uuid", headers=AUTH).status_code == 404
