"""A "no account" mail goes to someone who never asked us for anything: it carries RFC 8058
one-click unsubscribe (headers, a link in its text), and following it suppresses the address
(reason `unsubscribed`) without the link ever naming it, nor telling its length or age."""

from __future__ import annotations

import base64
import re
import struct
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask.testing import FlaskClient
from sqlalchemy import Engine

from api_service import create_app
from shared.accounts.unsubscribe import Unsubscribe
from shared.secrets.codes import derive_key
from shared.secrets.secretbox import SecretBox
from support.constants import ADMIN_TOKEN, SECRET_KEY, MakeRelay
from support.rows import forget_throttles, rows
from support.smtp_sink import SinkServer

PUBLIC_URL = "https://api.outpost.test"
STRANGER = "stranger@example.com"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# What the links earlier releases mailed were: Fernet tokens under this label's subkey.
FERNET_LABEL = "outpost/unsubscribe"
# 250 characters, near the longest address there is (254).
LONG = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 49}.example"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The test environment with the API's public URL and an admin token."""
    return {**env, "PUBLIC_URL": PUBLIC_URL, "ADMIN_TOKEN": ADMIN_TOKEN}


@pytest.fixture
def mailed(client: FlaskClient, make_relay: MakeRelay, smtp: SinkServer) -> Iterator[str]:
    """The unsubscribe link of the "no account" mail a reset for STRANGER brought."""
    assert client.post("/v1/password-resets", json={"email": STRANGER}).status_code == 202
    assert make_relay(public_url=PUBLIC_URL).drain() == 1
    [mail] = smtp.sink.wait_for(1)
    header = str(mail["List-Unsubscribe"])
    match = re.fullmatch(r"<(https://api\.outpost\.test/v1/unsubscribe/[A-Za-z0-9_=-]+)>", header)
    assert match is not None, header
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = match.group(1)
    for kind in ("plain", "html"):
        body = mail.get_body((kind,))
        assert body is not None and link in body.get_content()
    yield link


def _path(link: str) -> str:
    return link.removeprefix(PUBLIC_URL)


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_the_link_names_no_address_and_only_its_key_made_it(mailed: str) -> None:
    token = mailed.rsplit("/", 1)[1]
    assert "stranger" not in mailed and "example" not in mailed
    assert b"stranger" not in base64.urlsafe_b64decode(token + "==")
    assert Unsubscribe(SECRET_KEY).address(token) == STRANGER
    assert Unsubscribe("another secret key, 32 chars long").address(token) is None
    # A sealed code (the outbox's own secrets, under the same SECRET_KEY) opens nothing here.
    assert Unsubscribe(SECRET_KEY).address(SecretBox(SECRET_KEY).seal({"code": "1"})) is None


def test_one_click_suppresses_the_address_and_the_next_notice_is_not_sent(
    client: FlaskClient,
    engine: Engine,
    make_relay: MakeRelay,
    smtp: SinkServer,
    mailed: str,
) -> None:
    # Opening the page (or a scanner following the link) changes nothing.
    page = client.get(_path(mailed))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.get_data(as_text=True).count("<button") == 1
    assert rows(engine, "suppressions") == []

    answer = client.post(_path(mailed), data=ONE_CLICK)
    assert (answer.status_code, answer.get_json()) == (200, {"status": "unsubscribed"})
    [entry] = rows(engine, "suppressions")
    assert (entry["address"], entry["reason"], entry["source"]) == (
        STRANGER,
        "unsubscribed",
        "unsubscribe",
    )
    # Twice is as once.
    assert client.post(_path(mailed), data=ONE_CLICK).status_code == 200
    assert len(rows(engine, "suppressions")) == 1

    forget_throttles(engine)
    again = client.post("/v1/password-resets", json={"email": STRANGER})
    assert again.status_code == 202
    assert make_relay(public_url=PUBLIC_URL).drain() == 1
    assert len(smtp.sink.received) == 1
    row = next(
        r for r in rows(engine, "outbox") if r["public_id"] == again.get_json()["delivery"]["id"]
    )
    assert (row["status"], row["dead_reason"]) == ("dead", "suppressed")


def test_operators_see_and_lift_an_unsubscription(
    client: FlaskClient, engine: Engine, mailed: str
) -> None:
    assert client.post(_path(mailed), data=ONE_CLICK).status_code == 200
    listed = client.get("/v1/admin/suppressions", headers=AUTH).get_json()["items"]
    assert [(i["address"], i["reason"]) for i in listed] == [(STRANGER, "unsubscribed")]
    lifted = client.post(
        "/v1/admin/suppressions/remove", headers=AUTH, json={"addresses": [STRANGER]}
    )
    assert lifted.status_code == 200
    assert rows(engine, "suppressions") == []


def test_the_pages_button_answers_a_browser_with_a_page(
    client: FlaskClient, engine: Engine, mailed: str
) -> None:
    answer = client.post(_path(mailed), data=ONE_CLICK, headers={"Accept": "text/html"})
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "You are unsubscribed" in answer.get_data(as_text=True)
    assert len(rows(engine, "suppressions")) == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_token_no_key_of_ours_made_is_not_found_and_writes_nothing(
    client: FlaskClient, engine: Engine, method: str
) -> None:
    forged = Unsubscribe("another secret key, 32 chars long").url("", STRANGER)
    for path in (forged, "/v1/unsubscribe/not-a-token"):
        answer = getattr(client, method)(path, data=ONE_CLICK)
        assert answer.status_code == 404
        assert answer.mimetype == "application/problem+json"
    assert rows(engine, "suppressions") == []


def test_a_link_made_before_a_key_rotation_still_works(
    env: dict[str, str], engine: Engine, mailed: str
) -> None:
    rotated = create_app(
        {**env, "SECRET_KEY": "a brand new secret key for 2027", "SECRET_KEY_FALLBACKS": SECRET_KEY}
    )
    try:
        answer = rotated.test_client().post(_path(mailed), data=ONE_CLICK)
    finally:
        rotated.extensions["outpost"].engine.dispose()
    assert answer.status_code == 200
    assert [r["reason"] for r in rows(engine, "suppressions")] == ["unsubscribed"]


def test_tokens_are_of_one_length_whatever_the_address() -> None:
    links = Unsubscribe(SECRET_KEY)
    short, long = (_token(links.url(PUBLIC_URL, address)) for address in ("a@b.co", LONG))
    assert len(short) == len(long)
    assert (links.address(short), links.address(long)) == ("a@b.co", LONG)


def test_a_token_tells_not_when_it_was_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tokens of one address made years apart: both open, and neither holds its time as a
    Fernet token does (under the very key the Fernet tokens were made with)."""
    links = Unsubscribe(SECRET_KEY)
    made = {}
    for when in (1_700_000_000, 1_900_000_000):
        monkeypatch.setattr(time, "time", lambda when=when: float(when))
        made[when] = _token(links.url(PUBLIC_URL, STRANGER))
    monkeypatch.undo()
    fernet = Fernet(base64.urlsafe_b64encode(derive_key(SECRET_KEY, FERNET_LABEL)))
    assert len(set(made.values())) == 2
    for when, token in made.items():
        assert links.address(token) == STRANGER
        assert struct.pack(">Q", when) not in base64.urlsafe_b64decode(token)
        with pytest.raises(InvalidToken):
            fernet.extract_timestamp(token.encode())


def test_a_link_mailed_in_the_fernet_format_still_unsubscribes(
    client: FlaskClient, engine: Engine
) -> None:
    mailed = SecretBox(SECRET_KEY, label=FERNET_LABEL).seal({"address": STRANGER})
    answer = client.post(f"/v1/unsubscribe/{mailed}", data=ONE_CLICK)
    assert (answer.status_code, answer.get_json()) == (200, {"status": "unsubscribed"})
    assert [(r["address"], r["reason"]) for r in rows(engine, "suppressions")] == [
        (STRANGER, "unsubscribed")
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_not_found_and_writes_nothing(
    client: FlaskClient, engine: Engine, mailed: str, method: str
) -> None:
    token = _token(mailed)
    middle = len(token) // 2
    tampered = token[:middle] + ("B" if token[middle] == "A" else "A") + token[middle + 1 :]
    answer = getattr(client, method)(f"/v1/unsubscribe/{tampered}", data=ONE_CLICK)
    assert answer.status_code == 404
    assert rows(engine, "suppressions") == []
