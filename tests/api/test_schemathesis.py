"""A schemathesis run, every check, over /openapi.json of the API served by gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import processes
from support.forwarding_proxy import ForwardingProxy
from support.mail_reports import ENV as MAIL_REPORT_KEYS
from support.ports import free_port

HERE = Path(__file__).resolve().parent
# The committed OpenAPI document: every operation in it is run.
DOCUMENT = processes.ROOT / "openapi.json"
# Fixed, so that CI is repeatable; change them (or drop --seed) to explore new cases locally.
# One a database: the two runs try different cases, not the same ones twice.
SEEDS = {"sqlite": "20261121", "postgresql": "20261127"}
# Cases a route and run: two runs of 30 try 60 different cases a route, where two of 50 with
# one seed tried the same 50 twice, at 105 s of the suite's time against 60 to 70.
EXAMPLES = "30"
ADMIN_TOKEN = "schemathesis-admin-token-0123456789"


# Its own bound: a run takes 30 to 90 s on a quiet machine and past 300 s at a load of 10 on
# two cores (2026-11-29); the run itself is bounded at 900 s below, to report what it said.
@pytest.mark.long
@pytest.mark.timeout(1020)
def test_schemathesis_finds_no_failure(env: dict[str, str], backend: str, tmp_path: Path) -> None:
    port = free_port()
    # The providers' token is the admin one, so that the header below opens those routes too;
    # Twilio and Vonage configured (never called: the API sends nothing), so that their receipt
    # routes answer.
    tokens = {
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "PROVIDER_EVENTS_TOKEN": ADMIN_TOKEN,
        "SMS_URL": f"twilio://AC{'0' * 32}:twilio-auth-token@127.0.0.1:9?from=%2B15005550006",
        "SMS_FALLBACK_URL": "vonage://a1b2c3d4:vonage-secret@127.0.0.1:9?from=Outpost",
        # Every region, so that the fuzzer's numbers reach the routes' other rules.
        "SMS_ALLOWED_REGIONS": "*",
        "PUBLIC_URL": "https://outpost.example.com",
        # The mail providers' keys, so that their report routes answer.
        **{k: v for k, v in MAIL_REPORT_KEYS.items() if k != "PROVIDER_EVENTS_TOKEN"},
    }
    # Through a proxy giving each request its own client address: schemathesis tries every
    # admin route with a missing and a wrong token, far past the 10 wrong tokens a client
    # may present before 429 (tested in test_dashboard.py).
    api = processes.gunicorn({**env, **tokens, "TRUSTED_PROXIES": "1"}, port, tmp_path)
    try:
        processes.wait_http(f"http://127.0.0.1:{port}/readyz", api)
        with ForwardingProxy(port) as proxy:
            run = _schemathesis(proxy.port, tmp_path, SEEDS[backend])
    finally:
        assert processes.stop(api) == 0
    assert run.returncode == 0, _report(run, tmp_path / "gunicorn.log")
    operations = sum(
        method in ("get", "post", "put", "patch", "delete")
        for path in json.loads(DOCUMENT.read_text())["paths"].values()
        for method in path
    )
    assert f"{operations} passed" in run.stdout
    assert "Runtime Error" not in run.stdout


def _report(run: subprocess.CompletedProcess[str], log: Path) -> str:
    """What a failed run said, each line cut short (a case's body may be 1,000 items long),
    and what the API logged past a warning (an unexpected error's traceback)."""
    said = [line[:400] for line in (run.stdout + run.stderr).splitlines()]
    logged = [line for line in log.read_text().splitlines() if '"level": "ERROR"' in line]
    return "\n".join([*said[-150:], "--- the API's errors:", *logged[-20:]])


def _schemathesis(port: int, tmp_path: Path, seed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            EXAMPLES,
            # One worker: hypothesis's source inspection is not thread-safe on Python 3.11
            # and fails now and then with two.
            "--workers",
            "1",
            "--seed",
            seed,
            # Operators' routes too: schemathesis also tries them without and with a wrong
            # token (ignored_auth, missing_required_header).
            "--header",
            f"Authorization: Bearer {ADMIN_TOKEN}",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(processes.ROOT),
            "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
