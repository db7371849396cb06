"""A client is an IPv4 address or an IPv6 /64, everywhere a limit counts clients (issue 46,
item 5): one host holds a whole /64 and rotates its addresses within it at will. The red team
sent 591 requests in 15 s from addresses of one /64 behind the documented proxy and met no
429; and a short ADMIN_TOKEN is refused at start."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api_service import create_app
from api_service.clients import client_of
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY
from support.ports import free_port


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("198.51.100.7:50123", "198.51.100.7"),
        ("[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::1]", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address: str | None, client: str) -> None:
    assert client_of(address) == client


_FRESH = count()


@pytest.fixture
def proxied(env: dict[str, str]) -> FlaskClient:
    """The API behind one trusted proxy, as the shipped nginx site puts it, at 30 POSTs a minute."""
    app = create_app({**env, "TRUSTED_PROXIES": "1", "IP_RATE_LIMIT": "30"})
    return app.test_client()


def _post_from(api: FlaskClient, forwarded: str) -> int:
    """A reset for a fresh address (so no address's own throttle answers), from `forwarded`."""
    body = {"email": f"reader{next(_FRESH)}@example.com"}
    headers = {"X-Forwarded-For": forwarded}
    return api.post("/v1/password-resets", json=body, headers=headers).status_code


def test_rotating_addresses_of_one_64_are_one_client_and_another_64_is_not(
    proxied: FlaskClient,
) -> None:
    answers = [_post_from(proxied, f"2001:db8:1:2::{n:x}") for n in range(1, 41)]
    assert answers.count(429) == 10, answers
    assert 429 not in answers[:30]
    # A neighbour in the next /64, and an IPv4 client, still pass.
    assert _post_from(proxied, "2001:db8:1:3::1") != 429
    assert _post_from(proxied, "198.51.100.7") != 429
    # An IPv4 client seen as an IPv4-mapped IPv6 address is the same client.
    for _ in range(29):
        _post_from(proxied, "198.51.100.7")
    assert _post_from(proxied, "::ffff:198.51.100.7") == 429


def test_an_address_forwarded_with_a_port_is_one_client_whatever_the_port(
    proxied: FlaskClient,
) -> None:
    """A proxy that writes `a.b.c.d:p` (or `[v6]:p`) made each source port a client of its
    own: the limit counts the address, so the ports' sum reaches it."""
    answers = [_post_from(proxied, f"198.51.100.9:{port}") for port in (40001, 40002) * 15]
    assert 429 not in answers, answers
    assert _post_from(proxied, "198.51.100.9:40003") == 429
    assert _post_from(proxied, "198.51.100.9") == 429
    for port in (40001, 40002) * 15:
        _post_from(proxied, f"[2001:db8:5:6::1]:{port}")
    assert _post_from(proxied, "[2001:db8:5:6::2]:443") == 429


@pytest.mark.parametrize("token", ["changeme-changeme", "x" * 31])
def test_an_admin_token_shorter_than_32_characters_is_refused(token: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "ADMIN_TOKEN": token})
    assert str(refused.value).startswith("ADMIN_TOKEN: at least 32 characters")
    assert Settings.from_env({"SECRET_KEY": SECRET_KEY, "ADMIN_TOKEN": "x" * 32}).admin_token


def test_the_api_stops_at_start_on_a_short_admin_token_with_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    api = processes.gunicorn({**env, "ADMIN_TOKEN": "changeme-changeme"}, free_port(), tmp_path)
    try:
        assert api.wait(30) != 0
    finally:
        processes.stop(api)
    log = (tmp_path / "gunicorn.log").read_text()
    assert "outpost-api: configuration error: ADMIN_TOKEN: at least 32 characters" in log
    assert "Traceback" not in log
