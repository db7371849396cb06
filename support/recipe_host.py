"""The host docs/install.md is followed on: its paths under a prefix, its database server, a
private Postfix, the checkout the wheel is built from, and what only a real host does (apt,
systemd, journald, reloads) standing for its effect there."""

from __future__ import annotations

import grp
import json
import os
import pty
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import psycopg
from sqlalchemy import make_url

from shared.settings import env_file
from support import main_pid, nginx, processes
from support.main_pid import Running
from support.ports import free_port
from support.postfix import Postfix
from support.postfix_config import API_DOMAIN
from support.processes import ROOT
from support.smtp_stages import SmtpCA
from support.units import exec_start, parse_unit, unit_value

# The host's paths the recipe names, each moved under the test's prefix (/etc/postfix is the
# private Postfix's own configuration directory).
MOVED = (
    "/opt/outpost",
    "/etc/outpost",
    "/etc/systemd/system",
    "/etc/nginx",
    "/etc/prometheus",
    "/etc/letsencrypt",
    "/var/backups",
    "/run/outpost-api",
)
# What systemd gives a unit's processes besides the unit's own environment, and the operator's
# shell: Debian's own python3 first (PEP 668), never the suite's.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNITS = ("outpost-api.service", "outbox-relay.service")
# Building and installing from the package registry: generous, they are not what is measured.
SLOW = 900
PROMETHEUS = Path("/usr/bin/prometheus")
# PUBLIC_URL's host on the test's host (`outpost.example.com` in the recipe): the nginx site's
# name, for which the host holds a certificate where certbot keeps it.
SITE_HOST = "127.0.0.1"
# The system user (and its group) `adduser --system --group` makes for Postfix's pipe: an
# existing one with a group of its own stands for it, so that the host's users stay as they are.
SYSTEM_USERS = {"outpost-bounce": ("nobody", "nogroup")}
# A module of the commit the recipe first builds, which the later commit deletes: the wheel
# built after it must not carry it (a stale `build/` would).
DELETED = "shared/deleted_by_the_next_commit.py"


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
        self.home = base / "home"
        self.server_dsn = server_dsn
        self.postfix = postfix
        tag = secrets.token_hex(4)
        self.owner, self.app, self.database = (f"outpost_{n}_{tag}" for n in ("owner", "app", "db"))
        names = ("api", "https", "http", "metrics", "submission", "prometheus")
        self.ports = {name: free_port() for name in names}
        self.recipient = f"{postfix.fresh('recipe')}@{API_DOMAIN}"
        self.ca = SmtpCA.make()
        self.ca_file = base / "ca.pem"
        self.ca.ca.cert_pem.write_to_path(str(self.ca_file))
        # systemd's notify sockets: short paths (AF_UNIX allows 108 bytes).
        self.sockets = Path(tempfile.mkdtemp(prefix="outpost-notify-"))
        self.secrets: list[str] = []
        self.units: dict[str, Running] = {}
        self.said: list[tuple[str, str]] = []
        # How long each step took, in order: where a run's time goes.
        self.took: list[tuple[float, str]] = []
        self.nginx: subprocess.Popen[bytes] | None = None
        # What the test checks after a step, in order: the first waits for its step, and so on.
        self.checkpoints: list[tuple[str, Callable[[], None]]] = []
        server = make_url(server_dsn)
        self.server_address = f"{server.host}:{server.port or 5432}"
        self.superuser = {
            "PGHOST": str(server.host),
            "PGPORT": str(server.port or 5432),
            "PGUSER": str(server.username or "postgres"),
        }
        self._host()

    def _host(self) -> None:
        """What Debian's packages leave on a clean host, under the prefix; the checkout."""
        for path in ("etc/systemd/system", "etc/nginx/conf.d", "etc/nginx/sites-enabled"):
            (self.base / path).mkdir(parents=True)
        (self.base / "etc/prometheus").mkdir()
        # Debian's file as it is but for its global scrape interval: a second where it says 15 s,
        # so that the reload's check sees both jobs scraped within one (a first scrape comes up
        # to an interval after the start); the merge is what is checked, not the interval.
        debian = Path("/etc/prometheus/prometheus.yml").read_text()
        hurried = re.sub(r"^(  scrape_interval: +)15s", r"\g<1>1s", debian, count=1, flags=re.M)
        assert hurried != debian, "Debian's prometheus.yml names no 15 s global scrape interval"
        (self.base / "etc/prometheus/prometheus.yml").write_text(hurried)
        for name in ("localhost", SITE_HOST):
            live = self.base / "etc/letsencrypt/live" / name
            live.mkdir(parents=True)
            self.ca.leaf.private_key_pem.write_to_path(str(live / "privkey.pem"))
            self.ca.leaf.cert_chain_pems[0].write_to_path(str(live / "fullchain.pem"))
        self.home.mkdir()
        self.upstream = self.base / "upstream"
        _working_tree_as_commit(self.upstream)
        _git(self.base, "clone", "--quiet", str(self.upstream), str(self.home / "outpost"))

    def here(self, text: str) -> str:
        """The recipe's text with the host's names made this test's."""
        base = str(self.base)
        for path in MOVED:
            text = re.sub(rf"(?<!{re.escape(base)}){re.escape(path)}", f"{base}{path}", text)
        text = text.replace("/etc/postfix", str(self.postfix.conf))
        for name, ours in {"outpost_owner": self.owner, "outpost_app": self.app}.items():
            text = re.sub(rf"\b{name}\b", ours, text)
        text = text.replace("DATABASE outpost ", f"DATABASE {self.database} ")
        text = text.replace("--dbname=outpost", f"--dbname={self.database}")
        text = re.sub(r"\bdropdb (--if-exists )?outpost\b", rf"dropdb \g<1>{self.database}", text)
        text = text.replace("127.0.0.1:5432/outpost", f"{self.server_address}/{self.database}")
        text = text.replace("outpost.example.com", f"{SITE_HOST}:{self.ports['https']}")
        submission = f"127.0.0.1:{self.ports['submission']}"
        text = text.replace("mail.example.com:587", f"localhost:{self.ports['submission']}")
        text = text.replace("submission/inet", f"{submission}/inet")
        text = text.replace("submission inet", f"{submission} inet")
        text = text.replace("you@example.com", self.recipient)
        for name, (user, group) in SYSTEM_USERS.items():
            text = re.sub(rf"\buser={re.escape(name)}(?=\s)", f"user={user}:{group}", text)
            text = re.sub(rf"\bchgrp {re.escape(name)} ", f"chgrp {group} ", text)
        return text.replace("mail.example.com", "localhost")

    # ----------------------------------------------------------------- the recipe's steps

    def run(self, kind: str, step: str) -> None:
        began = time.monotonic()
        if kind == "sql":
            self.sql(step)
        elif kind == "ini":
            self.environment_file(step)
        else:
            self.command(step)
        self.took.append((time.monotonic() - began, step.splitlines()[0][:80]))
        if self.checkpoints and re.search(self.checkpoints[0][0], step):
            self.checkpoints.pop(0)[1]()

    def command(self, step: str) -> None:
        superuser = "sudo -u postgres " in step
        command = step.replace("sudo -u postgres ", "").replace("sudo ", "")
        for pattern, handler in self.handlers():
            if re.fullmatch(pattern, command):
                handler(command)
                return
        self.shell(command, superuser=superuser)

    def handlers(self) -> list[tuple[str, Callable[[str], None]]]:
        """What only a real host does, each standing for its effect there."""
        units = r"((?:outpost-api|outbox-relay)\.service ?)+"
        return [
            (r"apt-get install -y (.+)", self.packages),
            (r"python3 -c 'import secrets; print\(secrets.token_urlsafe\(32\)\)'", self.secret),
            (r"saslpasswd2 .*", self.saslpasswd),
            (r"adduser --system --group --no-create-home --home /nonexistent (\S+)", self.adduser),
            (r"git -C ~/outpost pull --ff-only", self.pull),
            (r"systemctl daemon-reload", lambda _: None),
            (rf"systemctl (enable --now|start) {units}", self.start),
            (rf"systemctl (stop|disable --now) {units}", self.stop),
            (rf"systemctl restart {units}", self.restart),
            (r"systemctl reload outpost-api\.service", self.reload),
            (r"systemctl restart postfix", self.restart_postfix),
            (r"systemctl reload prometheus", self.prometheus),
            (r"nginx -t && systemctl reload nginx", self.serve_site),
            (r"journalctl ((?:-u \S+ )+)-o cat --since -1h (\|.*)", self.journal),
        ]

    def shell(
        self, command: str, *, superuser: bool = False, typed: list[str] | None = None
    ) -> str:
        """A command as the operator's shell runs it, on this test's paths, with the lines
        `typed` at a terminal's prompts; what it said."""
        here = self.here(command)
        unmoved = [path for path in MOVED if here.count(path) > here.count(f"{self.base}{path}")]
        assert not unmoved and "/etc/postfix" not in here, f"{command} touches the host's {unmoved}"
        env = {**os.environ, "PATH": SYSTEM_PATH, "HOME": str(self.home)}
        env.update({"CURL_CA_BUNDLE": str(self.ca_file), "MAIL_CONFIG": str(self.postfix.conf)})
        if superuser:
            env.update(self.superuser)
        argv = ["bash", "-euo", "pipefail", "-c", here]
        if typed is not None:
            code, out, err = _at_a_terminal(argv, env, self.home, typed)
        else:
            done = subprocess.run(
                argv, cwd=self.home, env=env, capture_output=True, text=True, timeout=SLOW
            )
            code, out, err = done.returncode, done.stdout, done.stderr
        assert code == 0, f"{command}\n{out}\n{err}"
        self.said.append((command, out + err))
        return out

    def packages(self, command: str) -> None:
        for package in command.split("-y", 1)[1].split():
            installed = subprocess.run(["dpkg", "-s", package], capture_output=True, timeout=60)
            assert installed.returncode == 0, f"Debian package {package} is not installed"

    def secret(self, command: str) -> None:
        """One secret per variable that takes one: the command run once for each."""
        for _ in ("SECRET_KEY", "ADMIN_TOKEN"):
            self.secrets.append(self.shell(command).strip())

    def sql(self, block: str) -> None:
        """The first block as the superuser; those after it in the new database once it exists,
        as `\\c` does."""
        dsn = self.server_dsn
        with psycopg.connect(dsn, autocommit=True) as connection:
            made = connection.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
        if made == (1,):
            dsn = make_url(dsn).set(database=self.database).render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as connection:
            for statement in filter(str.strip, self.here(block).split(";")):
                connection.execute(statement)

    @property
    def env_file(self) -> Path:
        return Path(self.here("/etc/outpost/outpost.env"))

    def environment_file(self, sample: str) -> None:
        """The documented file, each line as written but for what this host has in its place:
        the database server, secrets, ports; and the test CA (SSL_CERT_FILE) that stands for
        the public CAs that signed a real host's certificates."""
        assert self.env_file.stat().st_mode & 0o777 == 0o600, "made 0600 first"
        ours = {
            "SECRET_KEY": self.secrets[-2],
            "ADMIN_TOKEN": self.secrets[-1],
            "OUTPOST_BIND": f"127.0.0.1:{self.ports['api']}",
            "RELAY_METRICS_PORT": str(self.ports["metrics"]),
        }
        lines = self.here(sample).splitlines()
        keys = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
        assert set(ours) <= set(keys), f"the sample lacks {set(ours) - set(keys)}"
        for key, value in ours.items():
            lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
        lines.append(f"SSL_CERT_FILE={self.ca_file}")
        self.env_file.write_text("\n".join(lines) + "\n")

    def adduser(self, command: str) -> None:
        """The system user stands as the existing one of SYSTEM_USERS, which must exist."""
        user, group = SYSTEM_USERS[command.split()[-1]]
        assert pwd.getpwnam(user).pw_gid == grp.getgrnam(group).gr_gid, (user, group)

    def saslpasswd(self, command: str) -> None:
        """saslpasswd2 as run by hand: the password of the file's SMTP_URL, typed twice."""
        password = unquote(make_url(self.environment()["SMTP_URL"]).password or "")
        assert password, "SMTP_URL names a password"
        self.shell(command, typed=[password, password])

    def environment(self) -> dict[str, str]:
        return env_file.read(self.env_file)

    def pull(self, command: str) -> None:
        """A later commit upstream, as a release brings (the first deletes a module); then the
        pull as written."""
        if (self.upstream / DELETED).exists():
            _git(self.upstream, "rm", "--quiet", DELETED)
        _git(self.upstream, "commit", "--quiet", "--allow-empty", "-m", "a later commit")
        self.shell(command)

    def start(self, command: str) -> None:
        """Each unit's ExecStart= with the unit's environment alone, in its working directory,
        as systemd starts it; back once each said READY=1 (Type=notify)."""
        for name in re.findall(r"\S+\.service", command):
            unit = parse_unit(self.base / "etc/systemd/system" / name)
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
            notify = self.notify_socket(name)
            env["NOTIFY_SOCKET"] = str(self.sockets / name)
            argv = exec_start(unit, self.base / "run/credentials" / name, self.here)
            assert argv[0].startswith(str(self.base)), "the unit runs the installed venv"
            log = self.base / f"{name}.log"
            self.units[name] = processes.start(argv, env, workdir, log, inherit=False, append=True)
            with notify:
                self.ready(notify, name)

    def notify_socket(self, name: str) -> socket.socket:
        """The socket systemd listens on for the unit's READY=1 and MAINPID=."""
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        (self.sockets / name).unlink(missing_ok=True)
        notify.bind(str(self.sockets / name))
        return notify

    def reload(self, command: str) -> None:
        """ExecReload= (SIGUSR2 to the main process), the unit then followed to the process
        that says MAINPID=, as systemd follows it (NotifyAccess=all)."""
        for name in re.findall(r"\S+\.service", command):
            unit = parse_unit(self.base / "etc/systemd/system" / name)
            reload = unit_value(unit, "Service", "ExecReload")
            sent = re.fullmatch(r"/bin/kill -s (\w+) \$MAINPID", reload)
            assert sent, "ExecReload= signals the main process"
            sig = signal.Signals[f"SIG{sent[1]}"]
            with self.notify_socket(name) as notify:
                self.units[name] = main_pid.handed_over(self.units[name], sig, notify, 120)

    def ready(self, notify: socket.socket, name: str) -> None:
        deadline = time.monotonic() + 120
        said = ""
        while "READY=1" not in said.split("\n"):
            assert self.units[name].poll() is None, self.log(name)
            assert time.monotonic() < deadline, f"{name} never said READY=1"
            notify.settimeout(1)
            try:
                said += notify.recv(4096).decode() + "\n"
            except TimeoutError:
                continue

    def log(self, name: str) -> str:
        return (self.base / f"{name}.log").read_text()[-3000:]

    def stop(self, command: str) -> None:
        """SIGTERM, as systemd stops a unit; each exits 0."""
        for name in re.findall(r"\S+\.service", command):
            process = self.units.pop(name)
            assert processes.stop(process, signal.SIGTERM) == 0, self.log(name)

    def restart(self, command: str) -> None:
        self.stop(command)
        self.start(command)

    def restart_postfix(self, _: str) -> None:
        self.postfix.stop()
        self.postfix.start()

    def prometheus(self, _: str) -> None:
        """Debian's Prometheus on the merged configuration: its rules loaded, and both jobs'
        targets scraped and up."""
        data = self.base / "prometheus-data"
        address = f"127.0.0.1:{self.ports['prometheus']}"
        command = [
            str(PROMETHEUS),
            f"--config.file={self.base}/etc/prometheus/prometheus.yml",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={address}",
        ]
        server = processes.start(command, {}, self.base, self.base / "prometheus.log")
        try:
            processes.eventually(lambda: bool(self._asked(address, "rules")), 60, "rules loaded")
            groups = self._asked(address, "rules")["groups"]
            assert any(group["rules"] for group in groups), groups
            processes.eventually(lambda: self._jobs_up(address), 90, "both jobs scraped and up")
        finally:
            processes.stop(server)

    def _asked(self, address: str, what: str) -> dict[str, list[dict[str, object]]]:
        try:
            with urllib.request.urlopen(f"http://{address}/api/v1/{what}", timeout=5) as answer:
                data: dict[str, list[dict[str, object]]] = json.load(answer)["data"]
                return data
        except OSError:
            return {}

    def _jobs_up(self, address: str) -> bool:
        targets = self._asked(address, "targets").get("activeTargets", [])
        up = {target["scrapePool"] for target in targets if target["health"] == "up"}
        return {"outpost-api", "outbox-relay"} <= up

    def serve_site(self, _: str) -> None:
        """Debian's nginx on the site as copied (the test's certificate in place of the host's),
        or, once the site is removed, none."""
        site = self.base / "etc/nginx/conf.d/outpost.conf"
        if self.nginx is not None:
            processes.stop(self.nginx)
            self.nginx = None
        if not site.exists():
            return
        written = site.read_text()
        assert re.findall(r"server_name (\S+);", written)[1] == SITE_HOST, "PUBLIC_URL's host"
        for path in re.findall(r"ssl_certificate(?:_key)? (\S+);", written):
            assert Path(self.here(path)).is_file(), f"the site reads {path}, where certbot has none"
        prefix = self.base / "nginx"
        prefix.mkdir(exist_ok=True)
        ports = {name: self.ports[name] for name in ("http", "https", "api")}
        conf = nginx.configure(prefix, **ports, ca=self.ca, site=site)
        checked = nginx.check(conf)
        assert checked.returncode == 0, checked.stderr
        self.nginx = nginx.start(conf)
        processes.eventually(lambda: self.answers("/readyz") == 200, 30, "nginx up")

    def journal(self, command: str) -> None:
        """journald's lines of the units: what each process wrote, in order."""
        match = re.fullmatch(r"journalctl ((?:-u \S+ )+)-o cat --since -1h (\|.*)", command)
        assert match
        logs = [str(self.base / f"{name}.log") for name in match[1].split()[1::2]]
        self.shell(f"cat {' '.join(logs)} {match[2]}")

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
        shutil.rmtree(self.sockets, ignore_errors=True)
        with psycopg.connect(self.server_dsn, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            for role in (self.app, self.owner):
                connection.execute(f"DROP ROLE IF EXISTS {role}")


def _at_a_terminal(
    argv: list[str], env: dict[str, str], cwd: Path, typed: list[str]
) -> tuple[int, str, str]:
    """Run a command on a terminal of its own, typing each line at a prompt once the command
    has turned echo off (a line typed before would be flushed); its exit code and output."""
    pid, terminal = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    said, pending = b"", list(typed)
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"{argv} waits: {said!r}"
        if not select.select([terminal], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(terminal, 4096)
        except OSError:
            break
        if not chunk:
            break
        said += chunk
        if pending and said.endswith(b": "):
            while termios.tcgetattr(terminal)[3] & termios.ECHO:
                time.sleep(0.01)
            os.write(terminal, pending.pop(0).encode() + b"\n")
    os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), said.decode(errors="replace"), ""


def _git(where: Path, *args: str) -> str:
    identity = ["-c", "user.name=Outpost tests", "-c", "user.email=tests@outpost.invalid"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=where, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _working_tree_as_commit(upstream: Path) -> None:
    """A repository whose newest commit is this checkout's working tree, tags and all: what
    the recipe builds is the code under test, committed or not."""
    _git(ROOT, "clone", "--quiet", "--no-checkout", str(ROOT), str(upstream))
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = upstream / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (upstream / DELETED).write_text('"""A module the later commit deletes."""\n')
    _git(upstream, "add", "--all")
    _git(upstream, "commit", "--quiet", "--allow-empty", "-m", "the working tree under test")
