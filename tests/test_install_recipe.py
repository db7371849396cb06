"""docs/install.md followed step by step, so that the recipe cannot rot: the wheel built from
this checkout and installed into a fresh virtualenv outside it, the documented roles and
database, the documented environment file, `outpost migrate`, the units `outpost deploy-files`
writes started as systemd starts them, the nginx site in front with TLS, and a registration
made through it delivered by a private Postfix with STARTTLS and AUTH; then the upgrade steps."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from shared import env_file
from support import nginx, processes
from support.postfix import Postfix
from support.postfix_config import API_DOMAIN
from support.processes import ROOT
from support.smtp_sink import free_port
from support.smtp_stages import SmtpCA
from support.units import parse_unit, unit_value

pytestmark = pytest.mark.postgresql_only

INSTALL = ROOT / "docs" / "install.md"
# The host's paths the recipe names, each moved under the test's prefix.
MOVED = ("/opt/outpost", "/etc/outpost", "/var/lib/outpost", "/run/outpost-api")
# What systemd gives a unit's processes besides the unit's own environment.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PACKAGES = ("api_service", "outbox_relay", "shared", "outpost", "migrations")
# Building and installing from the package registry: generous, they are not what is measured.
SLOW = 600


def steps(text: str) -> Iterator[tuple[str, str]]:
    """The recipe in order: each command of its `sh` blocks (continuations joined, comments
    dropped), and each `sql` and `ini` block whole; other blocks are illustrations."""
    for kind, body in re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S):
        if kind == "sh":
            for command in body.replace("\\\n", " ").splitlines():
                if command.strip() and not command.lstrip().startswith("#"):
                    yield kind, command.strip()
        elif kind in ("sql", "ini"):
            yield kind, body


class Recipe:
    """The host the recipe runs on: its prefix, database server, mail server and processes."""

    def __init__(self, base: Path, server_dsn: str, postfix: Postfix) -> None:
        self.base = base
        self.server_dsn = server_dsn
        self.postfix = postfix
        tag = secrets.token_hex(4)
        self.owner, self.app, self.database = (f"outpost_{n}_{tag}" for n in ("owner", "app", "db"))
        self.ports = {name: free_port() for name in ("api", "https", "http", "metrics")}
        self.recipient = f"{postfix.fresh('recipe')}@{API_DOMAIN}"
        self.ca = SmtpCA.make()
        self.ca_file = base / "ca.pem"
        self.ca.ca.cert_pem.write_to_path(str(self.ca_file))
        # systemd's notify sockets: short paths (AF_UNIX allows 108 bytes).
        self.sockets = Path(tempfile.mkdtemp(prefix="outpost-notify-"))
        self.secrets: list[str] = []
        self.installed: dict[str, Path] = {}
        self.units: dict[str, subprocess.Popen[bytes]] = {}
        self.said: list[tuple[str, str]] = []
        self.database_made = False
        self.nginx: subprocess.Popen[bytes] | None = None
        server = make_url(server_dsn)
        self.server_address = f"{server.host}:{server.port or 5432}"

    def here(self, text: str) -> str:
        """The recipe's text with the host's names made this test's."""
        for path in MOVED:
            text = text.replace(path, f"{self.base}{path}")
        names = {"outpost_owner": self.owner, "outpost_app": self.app}
        for name, ours in names.items():
            text = re.sub(rf"\b{name}\b", ours, text)
        text = text.replace("DATABASE outpost ", f"DATABASE {self.database} ")
        text = text.replace("127.0.0.1:5432/outpost", f"{self.server_address}/{self.database}")
        text = text.replace(
            "https://outpost.example.com", f"https://127.0.0.1:{self.ports['https']}"
        )
        return text.replace("you@example.com", self.recipient)

    # ----------------------------------------------------------------- the recipe's steps

    def run(self, kind: str, step: str) -> None:
        if kind == "sql":
            self.sql(step)
        elif kind == "ini":
            self.environment_file(step)
        else:
            command = step.replace("sudo ", "")
            for pattern, handler in self.handlers():
                if re.fullmatch(pattern, command):
                    handler(command)
                    return
            self.shell(command)

    def handlers(self) -> list[tuple[str, Callable[[str], None]]]:
        """What only a real host does, each standing for its effect there."""
        return [
            (r"apt-get install -y (.+)", self.packages),
            (r"python3 -m pip install build && python3 -m build", self.build),
            (r"python3 -c 'import secrets; print\(secrets.token_urlsafe\(32\)\)'", self.secret),
            (r"cp (\S+) /etc/(systemd/system|nginx/conf\.d|prometheus)/\S*", self.install),
            (r"rm -f /etc/nginx/sites-enabled/default", lambda _: None),
            (r"systemctl daemon-reload", lambda _: None),
            (r"systemctl enable --now outpost-api.service outbox-relay.service", self.start),
            (r"systemctl restart outbox-relay.service outpost-api.service", self.restart),
            (r"nginx -t && systemctl reload nginx", self.serve_site),
        ]

    def shell(self, command: str) -> None:
        """A command as the operator's shell runs it, on this test's paths."""
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.here(command)],
            cwd=self.base,
            env={**os.environ, "CURL_CA_BUNDLE": str(self.ca_file)},
            capture_output=True,
            text=True,
            timeout=SLOW,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        self.said.append((command, done.stdout + done.stderr))

    def packages(self, command: str) -> None:
        for package in command.split("-y", 1)[1].split():
            installed = subprocess.run(["dpkg", "-s", package], capture_output=True, timeout=60)
            assert installed.returncode == 0, f"Debian package {package} is not installed"

    def build(self, _: str) -> None:
        """`python3 -m build` in this checkout: its sdist, and the wheel built from that."""
        done = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(self.base / "dist"), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=SLOW,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        [wheel] = (self.base / "dist").glob("outpost-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            carried = set(archive.namelist())
        tracked = subprocess.run(
            ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        missing = [name for name in tracked if name not in carried]
        assert not missing, f"the wheel lacks {missing}"

    def secret(self, command: str) -> None:
        """One secret per variable that takes one: the command run once for each."""
        for _ in ("SECRET_KEY", "ADMIN_TOKEN"):
            self.shell(command)
            self.secrets.append(self.said[-1][1].strip())

    def sql(self, block: str) -> None:
        """The first block as the superuser; those after it in the new database, as `\\c` does."""
        dsn = self.server_dsn
        if self.database_made:
            dsn = make_url(dsn).set(database=self.database).render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as connection:
            for statement in filter(str.strip, self.here(block).split(";")):
                connection.execute(statement)
        self.database_made = True

    def environment_file(self, sample: str) -> None:
        """The documented file, each line as written but for what this host has in its place:
        the database server, secrets, ports, the Postfix; and its test CA (SSL_CERT_FILE)."""
        path = Path(self.here("/etc/outpost/outpost.env"))
        assert path.stat().st_mode & 0o777 == 0o600, "made by `install -m 0600` first"
        ours = {
            "SECRET_KEY": self.secrets[0],
            "ADMIN_TOKEN": self.secrets[1],
            "OUTPOST_BIND": f"127.0.0.1:{self.ports['api']}",
            "SMTP_URL": self.postfix.url("starttls_auth"),
            "RELAY_METRICS_PORT": str(self.ports["metrics"]),
        }
        lines = self.here(sample).splitlines()
        keys = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
        assert set(ours) <= set(keys), f"the sample lacks {set(ours) - set(keys)}"
        for key, value in ours.items():
            lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
        lines.append(f"SSL_CERT_FILE={self.postfix.ca_file}")
        path.write_text("\n".join(lines) + "\n")
        assert env_file.read(path)["MAIL_FROM"] == "Example <no-reply@example.com>"

    def install(self, command: str) -> None:
        """A copy into the host's configuration: what it copies, for the steps that use it."""
        source = Path(self.here(command.split()[1]))
        sources = [source] if "*" not in source.name else sorted(source.parent.glob(source.name))
        assert sources and all(path.is_file() for path in sources), command
        for path in sources:
            self.installed[path.name] = path

    def start(self, _: str = "") -> None:
        """Each unit's ExecStart= with the unit's environment alone, in its working directory,
        as systemd starts it; back once each said READY=1 (Type=notify)."""
        for name in ("outpost-api.service", "outbox-relay.service"):
            unit = parse_unit(self.installed[name])
            env = {"PATH": SYSTEM_PATH}
            env.update(
                env_file.read(Path(self.here(unit_value(unit, "Service", "EnvironmentFile"))))
            )
            for assignment in unit["Service"].get("Environment", []):
                key, _, value = self.here(assignment).partition("=")
                env[key] = value
            workdir = Path(self.here(unit_value(unit, "Service", "WorkingDirectory")))
            workdir.mkdir(parents=True, exist_ok=True)
            runtime = unit["Service"].get("RuntimeDirectory")
            if runtime:
                Path(self.here(f"/run/{runtime[-1]}")).mkdir(parents=True, exist_ok=True)
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(str(self.sockets / name))
            env["NOTIFY_SOCKET"] = str(self.sockets / name)
            command = shlex.split(unit_value(unit, "Service", "ExecStart"))
            assert command[0].startswith(str(self.base)), "the unit runs the installed venv"
            self.units[name] = processes.start(
                command, env, workdir, self.base / f"{name}.log", inherit=False
            )
            with notify:
                self.ready(notify, name)

    def ready(self, notify: socket.socket, name: str) -> None:
        deadline = time.monotonic() + 60
        said = ""
        while "READY=1" not in said.split("\n"):
            assert self.units[name].poll() is None, (self.base / f"{name}.log").read_text()
            assert time.monotonic() < deadline, f"{name} never said READY=1"
            notify.settimeout(1)
            try:
                said += notify.recv(4096).decode() + "\n"
            except TimeoutError:
                continue

    def restart(self, _: str) -> None:
        for name, process in self.units.items():
            code = processes.stop(process, signal.SIGTERM)
            assert code == 0, (self.base / f"{name}.log").read_text()[-3000:]
            (self.sockets / name).unlink()
        self.start()

    def serve_site(self, _: str) -> None:
        """Debian's nginx on the site as copied, the test's certificate in place of the host's."""
        prefix = self.base / "nginx"
        prefix.mkdir()
        conf = nginx.configure(
            prefix,
            http=self.ports["http"],
            https=self.ports["https"],
            api=self.ports["api"],
            ca=self.ca,
            site=self.installed["outpost.conf"],
        )
        checked = nginx.check(conf)
        assert checked.returncode == 0, checked.stderr
        self.nginx = nginx.start(conf)
        processes.eventually(lambda: self.answers("/readyz") == 200, 30, "nginx up")

    def answers(self, path: str, port: str = "https") -> int:
        scheme = "https" if port == "https" else "http"
        context = ssl.create_default_context(cafile=self.ca_file) if port == "https" else None
        try:
            with urllib.request.urlopen(
                f"{scheme}://127.0.0.1:{self.ports[port]}{path}", timeout=5, context=context
            ) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code
        except OSError:
            return 0

    def close(self) -> None:
        for process in [*self.units.values(), *filter(None, [self.nginx])]:
            if process.poll() is None:
                processes.stop(process, signal.SIGTERM)
        with psycopg.connect(self.server_dsn, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            for role in (self.app, self.owner):
                connection.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def recipe(database_url: str, postfix: Postfix, tmp_path: Path) -> Iterator[Recipe]:
    server = make_url(database_url).set(drivername="postgresql", database="postgres")
    host = Recipe(tmp_path, server.render_as_string(hide_password=False), postfix)
    try:
        yield host
    finally:
        host.close()


def test_the_install_recipe_takes_a_clean_host_to_a_delivered_registration(
    recipe: Recipe, postfix: Postfix
) -> None:
    for kind, step in steps(INSTALL.read_text()):
        recipe.run(kind, step)
    assert recipe.units.keys() == {"outpost-api.service", "outbox-relay.service"}
    # Installed, not checked out: every package the units run comes from the virtualenv.
    venv = recipe.base / "opt" / "outpost" / "venv"
    where = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            f"import {', '.join(PACKAGES)}; print({PACKAGES[0]}.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=recipe.base,
        env={"PATH": SYSTEM_PATH},
        timeout=60,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    # The registration made through nginx, delivered by Postfix; once through the upgrade.
    [[message_id]] = postfix.wait_for_mail([recipe.recipient])
    assert message_id
    first, again = [said for command, said in recipe.said if " migrate " in command]
    assert "applied " in first and "database upgraded from an empty database" in first
    # The upgrade's migrate (the same wheel again) has nothing to apply.
    assert "nothing to apply" in again
    # Prometheus scrapes each process on its own port; nginx never serves /metrics.
    assert recipe.answers("/metrics", "api") == 200
    assert recipe.answers("/metrics", "metrics") == 200
    assert recipe.answers("/metrics") == 404
