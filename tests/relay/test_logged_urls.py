"""No secret in a log line: a token in the query string (or the credentials) of SMS_URL or
WEBHOOK_URL is in none of the relay's real log lines, httpx's line of each request included
(the red team found it there on every delivery)."""

from __future__ import annotations

from pathlib import Path

from api_service import create_app
from shared.runtime.logs import bare_url
from support import processes
from support.constants import PASSWORD, WEBHOOK_SECRET
from support.sms_gateway import SmsGateway

SMS_TOKEN = "sms-query-token-5f1e"
HOOK_TOKEN = "hook-query-token-9a2c"
HOOK_PASSWORD = "hook-userinfo-secret-3b7d"


def test_bare_url_keeps_the_host_and_path_alone() -> None:
    url = "https://user:secret@api.example:8443/v1/send?token=abc&x=1#part"
    assert bare_url(url) == "https://api.example:8443/v1/send"
    assert bare_url("http://127.0.0.1/hooks") == "http://127.0.0.1/hooks"


def test_a_token_in_a_providers_url_is_in_no_log_line_of_the_relay(
    env: dict[str, str], receiver: SmsGateway, tmp_path: Path
) -> None:
    sms_url = f"{receiver.url}/sms?token={SMS_TOKEN}"
    host = receiver.url.removeprefix("http://")
    hooks = f"http://app:{HOOK_PASSWORD}@{host}/hooks?token={HOOK_TOKEN}"
    env = {
        **env,
        "SMS_URL": sms_url,
        "SMS_ALLOWED_REGIONS": "FR",
        "WEBHOOK_URL": hooks,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    app = create_app(env)
    try:
        body = {"phone": "+33612345678", "password": PASSWORD}
        assert app.test_client().post("/v1/registrations", json=body).status_code == 202
    finally:
        app.extensions["outpost"].engine.dispose()
    relay = processes.relay(env, tmp_path)
    try:
        event, sms = sorted(receiver.wait_for(2, timeout=30), key=lambda r: r.path)
        assert (sms.path, event.path) == (f"/sms?token={SMS_TOKEN}", f"/hooks?token={HOOK_TOKEN}")
    finally:
        assert processes.stop(relay) == 0
    log = (tmp_path / "relay.log").read_text()
    for secret in (SMS_TOKEN, HOOK_TOKEN, HOOK_PASSWORD):
        assert secret not in log
    # httpx wrote its line of each request, the URLs bare.
    requests = [e["message"] for e in processes.json_lines(tmp_path / "relay.log")]
    assert f'HTTP Request: POST {receiver.url}/sms "HTTP/1.1 200 OK"' in requests
    assert f'HTTP Request: POST {receiver.url}/hooks "HTTP/1.1 200 OK"' in requests
