"""Static checks of the deployment files: docker-compose.yml, Dockerfile and the systemd units.

No database, no Docker, no systemd: the files are parsed and their wiring is checked.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SYSTEMD_DIR = ROOT / "deploy" / "systemd"
RELAY_UNIT = SYSTEMD_DIR / "outbox-relay.service"
API_UNIT = SYSTEMD_DIR / "outpost-api.service"

SERVICES = ("postgres", "mailpit", "migrate", "api", "relay")
APP_SERVICES = ("migrate", "api", "relay")


# --------------------------------------------------------------------------- helpers


def load_compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def service(name: str) -> dict[str, Any]:
    services = load_compose()["services"]
    assert name in services, f"service {name!r} missing"
    svc = services[name]
    assert isinstance(svc, dict)
    return svc


def environment(svc: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as a dict, whether written as a mapping or a KEY=VALUE list."""
    env = svc.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    result: dict[str, str | None] = {}
    for item in env:
        key, sep, value = str(item).partition("=")
        result[key] = value if sep else None
    return result


def command_words(cmd: str | list[str]) -> list[str]:
    """A compose `command` (exec list or shell string) as a list of words."""
    if isinstance(cmd, str):
        return shlex.split(cmd)
    return [str(word) for word in cmd]


def depends_on(svc: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (the short list form means `service_started`)."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): "service_started" for d in deps}
    return {
        str(name): str((spec or {}).get("condition", "service_started"))
        for name, spec in deps.items()
    }


def healthcheck_text(svc: dict[str, Any]) -> str:
    test = svc["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Parse a systemd unit file; repeated keys keep every value, in order.

    configparser (even with strict=False) keeps only the last value of a repeated key, while
    systemd gives repeated keys meaning (Environment=, ExecStartPre=, reset by an empty value),
    so a small dedicated parser is used: sections, KEY=VALUE, comments, backslash continuations.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line[:1] in ("#", ";"):
            continue  # comments are ignored, even between continuation lines
        if pending:
            line = pending + " " + line
            pending = ""
        elif not line:
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}:{lineno}: setting outside of a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}:{lineno}: not a KEY=VALUE line: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    assert not pending, f"{path.name}: file ends with a line continuation"
    return sections


def unit_value(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    """The effective (last) value of a key, as systemd applies it for single-valued settings."""
    assert section in unit, f"section [{section}] missing"
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= missing"
    return values[-1]


# --------------------------------------------------------------------------- compose


def test_compose_has_the_five_services() -> None:
    services = load_compose()["services"]
    for name in SERVICES:
        assert name in services, f"service {name!r} missing"


def test_postgres_healthcheck_uses_pg_isready() -> None:
    pg = service("postgres")
    assert str(pg["image"]).startswith("postgres:15")
    check = healthcheck_text(pg)
    assert "pg_isready" in check
    assert "-U outpost" in check
    assert "-d outpost" in check
    env = environment(pg)
    assert env["POSTGRES_USER"] == "outpost"
    assert env["POSTGRES_PASSWORD"] == "outpost"
    assert env["POSTGRES_DB"] == "outpost"


def test_postgres_data_lives_in_a_named_volume() -> None:
    data = load_compose()
    named = set((data.get("volumes") or {}).keys())
    mounts = service("postgres").get("volumes") or []
    sources = [m.split(":", 1)[0] if isinstance(m, str) else m.get("source") for m in mounts]
    assert any(src in named for src in sources), "postgres data must use a named volume"


def test_mailpit_exposes_web_ui_and_smtp() -> None:
    mp = service("mailpit")
    assert str(mp["image"]).startswith("axllent/mailpit")
    ports = [str(p) for p in mp.get("ports") or []]
    assert any(p.endswith(":8025") for p in ports)
    assert any(p.endswith(":1025") for p in ports)


def test_migrate_is_a_one_shot_after_postgres_is_healthy() -> None:
    mig = service("migrate")
    assert command_words(mig["command"]) == ["outpost", "migrate"]
    assert str(mig.get("restart")) == "no"
    assert depends_on(mig).get("postgres") == "service_healthy"


@pytest.mark.parametrize("name", ["api", "relay"])
def test_app_services_wait_for_migration(name: str) -> None:
    assert depends_on(service(name)).get("migrate") == "service_completed_successfully"


def test_api_waits_for_healthy_postgres() -> None:
    assert depends_on(service("api")).get("postgres") == "service_healthy"


def test_dependencies_name_existing_services() -> None:
    services = load_compose()["services"]
    for name, svc in services.items():
        for dep in depends_on(svc):
            assert dep in services, f"{name} depends on unknown service {dep!r}"


def test_app_services_share_database_url_to_postgres() -> None:
    pg_env = environment(service("postgres"))
    urls = {name: environment(service(name)).get("DATABASE_URL") for name in APP_SERVICES}
    assert len(set(urls.values())) == 1, f"DATABASE_URL differs between services: {urls}"
    url = urls["api"]
    assert url is not None
    parts = urlsplit(url)
    assert parts.scheme in ("postgresql", "postgres", "postgresql+psycopg")
    assert parts.hostname == "postgres", "DATABASE_URL must point at the postgres service"
    assert parts.port in (None, 5432)
    assert parts.path.lstrip("/") == pg_env["POSTGRES_DB"]
    assert parts.username == pg_env["POSTGRES_USER"]
    assert parts.password == pg_env["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secret_key_is_required_from_the_users_environment(name: str) -> None:
    secret = environment(service(name)).get("SECRET_KEY")
    assert secret is not None
    assert secret.startswith("${SECRET_KEY:?"), "SECRET_KEY must be required, with no default"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_admin_token_is_required_too_so_the_dashboard_is_there(name: str) -> None:
    token = environment(service(name)).get("ADMIN_TOKEN")
    assert token is not None and token.startswith("${ADMIN_TOKEN:?"), token


def test_relay_smtp_points_at_mailpit() -> None:
    url = environment(service("relay")).get("SMTP_URL")
    assert url is not None
    parts = urlsplit(url)
    assert parts.scheme == "smtp"
    assert parts.hostname == "mailpit"
    assert parts.port == 1025


def test_api_command_runs_gunicorn_with_the_deploy_config() -> None:
    words = command_words(service("api")["command"])
    assert words[0] == "gunicorn"
    assert "api_service:create_app()" in words
    assert "-c" in words
    assert words[words.index("-c") + 1] == "deploy/gunicorn.conf.py"
    assert (ROOT / "deploy").is_dir()


def test_api_is_published_and_health_checked_without_curl() -> None:
    api = service("api")
    assert "8000:8000" in [str(p) for p in api.get("ports") or []]
    check = healthcheck_text(api)
    assert "/healthz" in check
    assert "urllib" in check
    assert "curl" not in check
    assert environment(api).get("OUTPOST_BIND", "0.0.0.0:8000") == "0.0.0.0:8000"


def test_relay_command() -> None:
    assert command_words(service("relay")["command"]) == ["outbox-relay", "run"]


def test_every_build_context_holds_a_dockerfile() -> None:
    builds = 0
    for name, svc in load_compose()["services"].items():
        build = svc.get("build")
        if build is None:
            continue
        builds += 1
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context = build.get("context", ".")
            dockerfile = build.get("dockerfile", "Dockerfile")
        path = (ROOT / context).resolve() / dockerfile
        assert path.is_file(), f"{name}: build context has no {dockerfile}"
    assert builds >= len(APP_SERVICES)


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_basics() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines[0].startswith("FROM python:3.11-slim")
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in ("root", "0")
    assert "EXPOSE 8000" in lines
    cmd = [ln for ln in lines if ln.startswith("CMD ")][-1]
    assert "gunicorn" in cmd
    assert "api_service:create_app()" in cmd
    assert "deploy/gunicorn.conf.py" in cmd
    assert "OUTPOST_BIND=0.0.0.0:8000" in text
    assert "[dev]" not in text
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", "var", ".git"):
        assert entry in ignore


# --------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("path", [RELAY_UNIT, API_UNIT], ids=lambda p: p.name)
def test_units_parse_and_are_hardened(path: Path) -> None:
    unit = parse_unit(path)
    assert {"Unit", "Service", "Install"} <= set(unit)
    expected = {
        "Type": "notify",
        "EnvironmentFile": "/etc/outpost/outpost.env",
        "DynamicUser": "yes",
        "StateDirectory": "outpost",
        "WorkingDirectory": "/var/lib/outpost",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "RestartSec": "2",
    }
    for key, value in expected.items():
        assert unit_value(unit, "Service", key) == value, f"{path.name}: {key}"
    families = set(unit_value(unit, "Service", "RestrictAddressFamilies").split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert unit_value(unit, "Install", "WantedBy") == "multi-user.target"


def test_relay_unit() -> None:
    unit = parse_unit(RELAY_UNIT)
    assert unit_value(unit, "Service", "Type") == "notify"
    assert unit_value(unit, "Service", "NotifyAccess") == "main"
    watchdog = int(unit_value(unit, "Service", "WatchdogSec"))
    assert watchdog > Settings.from_env({"SECRET_KEY": "x" * 16}).longest_send * 2
    assert int(unit_value(unit, "Service", "CPUWeight")) < 100, "below the API's default weight"
    assert unit_value(unit, "Service", "Restart") == "on-failure"
    assert unit_value(unit, "Service", "DynamicUser") == "yes"
    assert unit_value(unit, "Service", "ProtectSystem") == "strict"
    assert unit_value(unit, "Service", "NoNewPrivileges") == "yes"
    assert unit_value(unit, "Service", "KillSignal") == "SIGTERM"
    assert unit_value(unit, "Service", "TimeoutStopSec") == "90"
    assert unit_value(unit, "Service", "TimeoutStartSec") == "30", "waits extend it"
    exec_start = unit_value(unit, "Service", "ExecStart")
    assert "outbox-relay run" in exec_start
    assert exec_start.startswith("/")


def test_api_unit() -> None:
    unit = parse_unit(API_UNIT)
    exec_start = unit_value(unit, "Service", "ExecStart")
    words = shlex.split(exec_start)
    assert words[0].startswith("/") and words[0].endswith("/gunicorn")
    assert "api_service:create_app()" in words
    assert words[words.index("-c") + 1].endswith("deploy/gunicorn.conf.py")
    assert unit_value(unit, "Service", "NotifyAccess") == "all"
    assert unit_value(unit, "Service", "ExecReload") == "/bin/kill -s HUP $MAINPID"
    assert unit_value(unit, "Service", "KillMode") == "mixed"
    assert unit_value(unit, "Service", "TimeoutStopSec") == "30"


def test_the_relay_gets_a_smaller_cpu_share_than_the_api() -> None:
    assert int(service("relay")["cpu_shares"]) < int(service("api").get("cpu_shares", 1024))
