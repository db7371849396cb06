"""Static checks of docker-compose.yml and the Dockerfile (the systemd units: test_deploy_files.py).

No database, no Docker, no systemd: the files are parsed and their wiring is checked.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from support import processes

ROOT = processes.ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

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


def test_api_command_serves_the_installed_package() -> None:
    assert command_words(service("api")["command"]) == ["outpost", "serve"]


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
    assert [ln for ln in lines if ln.startswith("CMD ")][-1] == 'CMD ["outpost", "serve"]'
    # The wheel, installed into a virtualenv: no source tree in the image that runs.
    final = text[text.rindex("\nFROM ") :]
    assert "COPY . ." not in final and "pip install /dist/*.whl" in final
    assert "OUTPOST_BIND=0.0.0.0:8000" in text
    assert "[dev]" not in text
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", "var", ".git"):
        assert entry in ignore


# --------------------------------------------------------------------------- shared


def test_the_relay_gets_a_smaller_cpu_share_than_the_api() -> None:
    assert int(service("relay")["cpu_shares"]) < int(service("api").get("cpu_shares", 1024))
