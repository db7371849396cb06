"""docs/install.md followed line by line as written, on Debian's own python3, so that the recipe
cannot rot: the wheel built from a git checkout of this code and installed into a virtualenv
outside it, the roles and database, the environment file, a Postfix set up as the page says,
`outpost check`, `migrate`, the units as systemd starts them, nginx with TLS, Prometheus on the
merged configuration; a registration delivered through all of it, and a report about it sent
to its envelope sender piped back to its row by that Postfix; then the second day: logs,
traces' extra, an upgrade to a later commit and its rollback, a backup and its restore, a lost
SECRET_KEY, and uninstalling. The whole page runs twice in a row on the same host, to the same
end: every step converges (the Prometheus merge, the site, the wheel built from a clean
checkout)."""

from __future__ import annotations

import json
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from support.bounce_reports import Recipient, delivery_status
from support.postfix import Postfix
from support.processes import ROOT, eventually, json_lines
from support.recipe_host import DELETED, SYSTEM_PATH, Recipe, steps

# The page runs twice, each run building two wheels and installing from the package registry:
# 617 and 629 s beside a loaded suite (load 15 on 2 cores), 1,194 s for one at load 20.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.timeout(3600)]

INSTALL = ROOT / "docs" / "install.md"
PACKAGES = ("api_service", "outbox_relay", "shared", "outpost", "migrations")
VERSION = "/opt/outpost/venv/bin/outpost --version"
MIGRATE = "/opt/outpost/venv/bin/outpost migrate --env-file /etc/outpost/outpost.env"


@pytest.fixture
def recipe(database_url: str) -> Iterator[Recipe]:
    server = make_url(database_url).set(drivername="postgresql", database="postgres")
    # Not under the suite's private temporary directory: Postfix's pipe runs the installed
    # virtualenv as another user, who must reach it.
    base = Path(tempfile.mkdtemp(prefix="outpost-recipe-"))
    base.chmod(0o711)
    postfix = Postfix()
    postfix.start()
    host = Recipe(base, server.render_as_string(hide_password=False), postfix)
    try:
        yield host
    finally:
        host.close()
        postfix.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.long
def test_the_install_recipe_takes_a_clean_host_through_its_first_and_second_day_twice(
    recipe: Recipe,
) -> None:
    for run in ("first", "second"):
        began, steps_before = time.monotonic(), len(recipe.took)
        followed(recipe)
        slowest = sorted(recipe.took[steps_before:], reverse=True)[:6]
        print(f"\nthe recipe's {run} run: {time.monotonic() - began:.0f} s; its slowest steps:")
        print("\n".join(f"  {seconds:5.1f} s  {step}" for seconds, step in slowest))


def followed(recipe: Recipe) -> None:
    """The page once, on the host as the last run left it, checked at its milestones."""
    began, start = time.monotonic(), len(recipe.said)
    first_mail: list[float] = []
    recipe.recipient = f"{recipe.postfix.fresh('recipe')}@{recipe.recipient.split('@')[1]}"
    later = f"{recipe.postfix.fresh('later')}@{recipe.recipient.split('@')[1]}"
    fresh = f"{recipe.postfix.fresh('fresh')}@{recipe.recipient.split('@')[1]}"

    def delivered() -> None:
        recipe.postfix.wait_for_mail([recipe.recipient])
        first_mail.append(time.monotonic() - began)
        installed_not_checked_out(recipe)
        reported(recipe)
        # Prometheus scrapes each process on its own port; nginx never serves /metrics.
        assert recipe.answers("/metrics", "api") == 200
        assert recipe.answers("/metrics", "metrics") == 200
        assert recipe.answers("/metrics") == 404

    def traced() -> None:
        """The extra of the version installed joined it, which stayed."""
        assert venv_python(recipe, "import opentelemetry.sdk; import shared.runtime.version as v")
        first, again = said(recipe, VERSION, start)[0], venv_python(recipe, VERSIONED)
        assert first.split()[-1] == again, (first, again)

    def reloaded() -> None:
        """The API took the upgrade by a reload: the arbiter it handed over to runs the version
        just installed, and answers."""
        installed = said(recipe, VERSION, start)[-1].split()[-1]
        log = recipe.base / "outpost-api.service.log"
        readies = [line for line in json_lines(log) if line.get("message") == "api ready"]
        assert readies[-1]["version"] == installed, (readies[-1], installed)
        assert recipe.answers("/readyz") == 200

    def rolled_back() -> None:
        assert recipe.answers("/readyz") == 200

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
        (r"outpost\[traces\]", traced),
        (r"systemctl reload outpost-api", reloaded),
        (r"systemctl start outpost-api", rolled_back),
        (r"install -m 0600 /etc/outpost/outpost.env /var/backups/", backed_up),
        (r"systemctl start outpost-api", restored),
        (r"systemctl start outpost-api", started_with_a_new_key),
    ]
    for kind, step in steps(INSTALL.read_text()):
        recipe.run(kind, step)
    assert not recipe.checkpoints, f"the recipe never reached {recipe.checkpoints[0][0]!r}"
    print(f"\nthe recipe: first mail through Postfix {first_mail[0]:.0f} s after its first step")
    wheel_holds_the_checkout_alone(recipe)
    upgraded_and_rolled_back(recipe, start)
    uninstalled(recipe)


# What the installed package says its version is, as `outpost --version` prints it.
VERSIONED = "from shared.runtime.version import version; print(version())"


def said(recipe: Recipe, command: str, since: int) -> list[str]:
    """What each run of `command` said since the `since`th step."""
    ran = recipe.said[since:]
    return [output for step, output in ran if step.replace("sudo ", "") == command]


def venv_python(recipe: Recipe, code: str) -> str:
    """What the installed virtualenv's python prints running `code`, out of any checkout."""
    venv = recipe.base / "opt" / "outpost" / "venv"
    done = subprocess.run(
        [venv / "bin" / "python", "-c", code],
        capture_output=True,
        text=True,
        cwd=recipe.base,
        env={"PATH": SYSTEM_PATH},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() or "ran"


def installed_not_checked_out(recipe: Recipe) -> None:
    """Every package the units run comes from the virtualenv, none from a checkout."""
    assert recipe.units.keys() == {"outpost-api.service", "outbox-relay.service"}
    venv = recipe.base / "opt" / "outpost" / "venv"
    where = venv_python(recipe, f"import {', '.join(PACKAGES)}; print(shared.__file__)")
    assert where.startswith(str(venv)), where


def reported(recipe: Recipe) -> None:
    """A delay report about the first mail, sent to its envelope sender (its VERP address,
    under BOUNCE_ADDRESS) through Postfix, reaches its row through section 5's pipe service:
    read (exit 0) and recorded, nothing else changed."""
    [mail] = recipe.postfix.mailbox(recipe.recipient)
    sender = str(mail["Return-Path"]).strip("<>")
    assert sender.startswith("bounces+"), sender
    since = recipe.postfix.mark()
    delayed = Recipient(recipe.recipient, action="delayed", status="4.4.7")
    report = delivery_status(sender, [delayed], message_id=str(mail["Message-ID"]))
    with smtplib.SMTP("127.0.0.1", recipe.postfix.ports["strict"], timeout=30) as session:
        session.sendmail("", [sender], report)
    eventually(lambda: bool(recipe.postfix.piped(since)), 120, "the report piped")
    [line] = recipe.postfix.piped(since)
    assert "status=sent (delivered via outpost-bounce service" in line, line
    dsn = make_url(recipe.server_dsn).set(database=recipe.database)
    with psycopg.connect(dsn.render_as_string(hide_password=False)) as connection:
        events = connection.execute("SELECT source, type, diagnostic FROM provider_events")
        [(source, kind, diagnostic)] = events.fetchall()
    assert (source, kind) == ("mail", "bounce") and diagnostic.startswith("delayed 4.4.7")


def wheel_holds_the_checkout_alone(recipe: Recipe) -> None:
    """The last wheel built (the upgrade's) holds exactly the checkout's files of its commit:
    nothing of the commit built before it in the same checkout, the module it deleted above
    all."""
    [wheel] = (recipe.home / "dist").glob("outpost-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = {name for name in archive.namelist() if name.split("/")[0] in PACKAGES}
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES],
        cwd=recipe.home / "outpost",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert DELETED not in tracked
    assert carried == set(tracked), (sorted(carried - set(tracked)), sorted(set(tracked) - carried))


def upgraded_and_rolled_back(recipe: Recipe, start: int) -> None:
    """The later commit's wheel replaced the code, its migrate had nothing to apply, and the
    rollback put the previous wheel back."""
    first, before, after, rolled_back = [
        output.split()[-1] for output in said(recipe, VERSION, start)
    ]
    assert first == before == rolled_back != after, (before, after, rolled_back)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=recipe.upstream,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    built = re.search(r"\+(?:.*\.)?g([0-9a-f]{7,})", after)
    assert built and head.startswith(built[1]), (after, head)
    applied, again = said(recipe, MIGRATE, start)
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
