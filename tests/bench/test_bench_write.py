"""The write bench's three loops leave the same rows, so their rates compare like with like."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import Engine, make_url

from api_service import create_app
from bench.write import HASH, PlainWriter, Prehashed, outpost_signups
from shared.secrets.secretbox import SecretBox
from support.constants import SECRET_KEY
from support.rows import rows


@pytest.mark.postgresql_only
def test_the_three_loops_leave_the_same_rows(database_url: str, engine: Engine) -> None:
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY})
    deps = dataclasses.replace(
        app.extensions["outpost"], passwords=Prehashed(beside_transaction=False)
    )
    plain = PlainWriter(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        outpost_signups(deps, "o", 2)
        plain.signups("p", 2)
        plain.outpost_statements("s", 2)
    finally:
        deps.engine.dispose()
        plain.close()

    box = SecretBox(SECRET_KEY)
    users = {u["id"]: u for u in rows(engine, "users")}
    tokens = {t["id"]: t for t in rows(engine, "verification_tokens")}
    shapes: dict[str, list[Any]] = {"o": [], "p": [], "s": []}
    for message in rows(engine, "outbox"):
        user, token = users[message["user_id"]], tokens[message["token_id"]]
        code = box.open(message["secret_params"])["code"]
        shapes[message["recipient"][0]].append(
            (
                user["email"] == message["recipient"],
                user["password_hash"] == HASH,
                (user["status"], user["locale"]),
                (token["user_id"] == user["id"], token["purpose"], token["status"]),
                len(code) == 6 and code.isdigit(),
                (message["status"], message["purpose"], message["template"], message["params"]),
                message["expires_at"] == token["expires_at"],
            )
        )
    assert shapes["o"] == shapes["p"] == shapes["s"]
    assert len(shapes["o"]) == 2 and all(all(part for part in shape) for shape in shapes["o"])
    assert len(rows(engine, "throttle_events")) == 6
