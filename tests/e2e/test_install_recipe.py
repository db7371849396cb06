"""docs/install.md followed line by line as written, on Debian's own python3, so that the recipe
cannot rot: the wheel built from a git checkout of this code and installed into a virtualenv
outside it, the roles and database, the environment file, a Postfix set up as the page says,
`outpost check`, `migrate`, the units as systemd starts them, nginx with TLS, Prometheus on the
merged configuration; a registration delivered through all of it; then the second day: logs, an
upgrade to a later commit, a backup and its restore, a lost SECRET_KEY, and uninstalling."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from support.postfix import Postfix
from support.processes import ROOT
from support.recipe_host import SYSTEM_PATH, Recipe, steps

pytestmark = [pytest.mark.postgresql_only, pytest.mark.timeout(1800)]

INSTALL = ROOT / "docs" / "install.md"
PACKAGES = ("api_service", "outbox_relay", "shared", "outpost", "migrations")
VERSION = "/opt/outpost/venv/bin/outpost --version"


@pytest.fixture
def recipe(database_url: str, tmp_path: Path) -> Iterator[Recipe]:
    server = make_url(database_url).set(drivername="postgresql", database="postgres")
    postfix = Postfix()
    postfix.start()
    host = Recipe(tmp_path, server.render_as_string(hide_password=False), postfix)
    try:
        yield host
    finally:
        host.close()
        postfix.close()


@pytest.mark.long
def test_the_install_recipe_takes_a_clean_host_through_its_first_and_second_day(
    recipe: Recipe,
) -> None:
    began = time.monotonic()
    first_mail: list[float] = []
    later = f"{recipe.postfix.fresh('later')}@{recipe.recipient.split('@')[1]}"
    fresh = f"{recipe.postfix.fresh('fresh')}@{recipe.recipient.split('@')[1]}"

    def delivered() -> None:
        recipe.postfix.wait_for_mail([recipe.recipient])
        first_mail.append(time.monotonic() - began)
        installed_not_checked_out(recipe)
        # Prometheus scrapes each process on its own port; nginx never serves /metrics.
        assert recipe.answers("/metrics", "api") == 200
        assert recipe.answers("/metrics", "metrics") == 200
        assert recipe.answers("/metrics") == 404

    def backed_up() -> None:
        for name in ("outpost.dump", "outpost.env"):
            backup = recipe.base / "var/backups/outpost" / name
            assert backup.stat().st_mode & 0o777 == 0o600, f"{name} is for root alone"
        register(recipe, later)
        recipe.postfix.wait_for_mail([later])

    def restored() -> None:
        assert accounts(recipe) == {recipe.recipient}, "what came after the backup is gone"

    def started_with_a_new_key() -> None:
        register(recipe, fresh)
        recipe.postfix.wait_for_mail([fresh])
        assert accounts(recipe) == {recipe.recipient, fresh}

    recipe.checkpoints = [
        (r"outbox-relay stats", delivered),
        (r"cp /etc/outpost/outpost.env /var/backups/", backed_up),
        (r"systemctl start outpost-api", restored),
        (r"systemctl start outpost-api", started_with_a_new_key),
    ]
    for kind, step in steps(INSTALL.read_text()):
        recipe.run(kind, step)
    assert not recipe.checkpoints, f"the recipe never reached {recipe.checkpoints[0][0]!r}"
    print(f"\nthe recipe: first mail through Postfix {first_mail[0]:.0f} s after its first step")
    wheel_carries_every_tracked_file(recipe)
    upgraded(recipe)
    uninstalled(recipe)


def said(recipe: Recipe, command: str) -> list[str]:
    return [output for step, output in recipe.said if step.replace("sudo ", "") == command]


def installed_not_checked_out(recipe: Recipe) -> None:
    """Every package the units run comes from the virtualenv, none from a checkout."""
    assert recipe.units.keys() == {"outpost-api.service", "outbox-relay.service"}
    venv = recipe.base / "opt" / "outpost" / "venv"
    where = subprocess.run(
        [venv / "bin" / "python", "-c", f"import {', '.join(PACKAGES)}; print(shared.__file__)"],
        capture_output=True,
        text=True,
        cwd=recipe.base,
        env={"PATH": SYSTEM_PATH},
        timeout=60,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr


def wheel_carries_every_tracked_file(recipe: Recipe) -> None:
    [wheel] = (recipe.home / "dist").glob("outpost-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = set(archive.namelist())
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    missing = [name for name in tracked if name not in carried]
    assert not missing, f"the wheel lacks {missing}"


def upgraded(recipe: Recipe) -> None:
    """The later commit's wheel replaced the code, and its migrate had nothing to apply."""
    first, before, after = [output.split()[-1] for output in said(recipe, VERSION)]
    assert first == before != after, (before, after)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=recipe.upstream,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    built = re.search(r"\+(?:.*\.)?g([0-9a-f]{7,})", after)
    assert built and head.startswith(built[1]), (after, head)
    migrate = "/opt/outpost/venv/bin/outpost migrate --env-file /etc/outpost/outpost.env"
    applied, again = said(recipe, migrate)
    assert "applied " in applied and "nothing to apply" in again


def uninstalled(recipe: Recipe) -> None:
    assert not recipe.units and recipe.nginx is None
    for path in ("opt/outpost", "etc/outpost", "var/backups/outpost"):
        assert not (recipe.base / path).exists(), path
    with psycopg.connect(recipe.server_dsn, autocommit=True) as connection:
        roles = connection.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)", (recipe.owner, recipe.app)
        ).fetchone()
        databases = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (recipe.database,)
        ).fetchone()
    assert roles == (0,) and databases == (0,)


def register(recipe: Recipe, address: str) -> None:
    """A registration through the host's nginx, as a client makes it."""
    body = json.dumps({"email": address, "password": "a long passphrase"}).encode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{recipe.ports['https']}/v1/registrations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=recipe.ca_file)
    with urllib.request.urlopen(request, timeout=30, context=context) as answer:
        assert answer.status == 202


def accounts(recipe: Recipe) -> set[str]:
    dsn = make_url(recipe.server_dsn).set(database=recipe.database)
    with psycopg.connect(dsn.render_as_string(hide_password=False)) as connection:
        rows = connection.execute("SELECT email FROM users").fetchall()
    return {re.sub(r"\s", "", str(email)) for (email,) in rows}
