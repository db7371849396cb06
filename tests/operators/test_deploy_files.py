"""`outpost deploy-files DIR`: the systemd units, the nginx site and the Prometheus files as a
server gets them, naming the virtualenv the package is installed in and never a source tree, and
following the env file (`--env-file`); the units verified and scored by systemd-analyze, the
site by `nginx -t`, the scrape configuration by `promtool check config`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from outpost.deploy_files import SHIPPED, VENV_MARK
from shared.settings.config import Settings
from shared.settings.env_file import read as env_file_read
from support import nginx
from support.commands import outpost
from support.processes import ROOT
from support.smtp_stages import SmtpCA
from support.units import exec_start, parse_unit, unit_value

SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
UNITS = ("outbox-relay.service", "outpost-api.service")
# `systemd-analyze security` exposure (0 best, 10 worst) of each unit when the files moved into
# the package: hardening may only improve.
EXPOSURE = {"outbox-relay.service": 1.8, "outpost-api.service": 2.0}
PROMTOOL = Path("/usr/bin/promtool")
# What the env file sets that deploy-files follows: the shell's own are left out.
FOLLOWED = ("OUTPOST_BIND", "RELAY_METRICS_PORT", "RELAY_METRICS_HOST", "PUBLIC_URL")


@dataclass(frozen=True)
class Written:
    """The directory `outpost deploy-files` wrote, and the virtualenv it named."""

    out: Path
    venv: Path


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in FOLLOWED}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def deploy_files(out: Path, venv: Path, *options: str | Path) -> subprocess.CompletedProcess[str]:
    """`outpost deploy-files OUT --venv VENV OPTIONS…` in this environment but FOLLOWED."""
    env = {key: value for key, value in os.environ.items() if key not in FOLLOWED}
    arguments = [str(each) for each in (out, "--venv", venv, *options)]
    return outpost(env, Path.cwd(), "deploy-files", *arguments)


def make_venv(base: Path) -> Path:
    """A virtualenv outside the checkout, its commands those of this one."""
    venv = base / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("outpost", "outbox-relay"):
        (venv / "bin" / name).symlink_to(Path(sys.prefix) / "bin" / name)
    return venv


def scrape_targets(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Each job of the written scrape configuration: its static configurations."""
    config = yaml.safe_load((out / "prometheus" / "outpost-prometheus.yml").read_text())
    return {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}


def site_names(out: Path) -> set[str]:
    """What the written nginx site's TLS server is named for: its server_name and the names of
    the certificate directories it reads."""
    site = (out / "nginx" / "outpost.conf").read_text()
    names = re.findall(r"^\s*server_name (\S+);", site, re.M)
    assert names[0] == "_", "plain HTTP redirects whatever the name"
    return {names[1], *re.findall(r"ssl_certificate(?:_key)? /etc/letsencrypt/live/([^/]+)/", site)}


def upstream(out: Path) -> str:
    """The server of the written nginx site's upstream."""
    [server] = re.findall(
        r"upstream outpost_api \{\s*server ([^;]+);", (out / "nginx" / "outpost.conf").read_text()
    )
    return server


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The deploy files written by the command, for a virtualenv outside the checkout."""
    base = tmp_path_factory.mktemp("deploy")
    venv = make_venv(base)
    done = deploy_files(base / "out", venv)
    assert done.returncode == 0, done.stderr
    return Written(base / "out", venv)


def test_every_shipped_file_is_written_naming_the_venv_and_no_checkout(written: Written) -> None:
    shipped = sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file())
    out = written.out
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == shipped
    assert {str(p.parent) for p in shipped} == {"nginx", "prometheus", "systemd"}
    for relative in shipped:
        text = (out / relative).read_text()
        assert VENV_MARK not in text and str(ROOT) not in text and "/opt/outpost" not in text
        assert not re.search(r"@[A-Z_]+@", text), f"{relative}: a mark left"


def test_without_an_env_file_the_files_name_the_defaults(written: Written) -> None:
    assert upstream(written.out) == "127.0.0.1:8000"
    assert site_names(written.out) == {"outpost"}
    assert scrape_targets(written.out) == {
        "outpost-api": [{"targets": ["127.0.0.1:8000"], "labels": {"deployment": "outpost"}}],
        "outbox-relay": [{"targets": ["127.0.0.1:9109"], "labels": {"deployment": "outpost"}}],
    }


def test_the_files_follow_the_env_file(tmp_path: Path) -> None:
    api, relay = 18731, 19447
    env_file = tmp_path / "etc" / "outpost.env"
    env_file.parent.mkdir()
    env_file.write_text(
        f"OUTPOST_BIND=0.0.0.0:{api}\n"
        f"RELAY_METRICS_PORT={relay}\n"
        "RELAY_METRICS_HOST=127.0.0.2\n"
        "PUBLIC_URL=https://Auth.Shop.example/outpost\n"
    )
    out = tmp_path / "out"
    done = deploy_files(out, make_venv(tmp_path), "--env-file", env_file)
    assert done.returncode == 0, done.stderr

    # Listening on every interface: reached on loopback, by nginx and by Prometheus alike.
    assert upstream(out) == f"127.0.0.1:{api}"
    # The site is PUBLIC_URL's, its certificate certbot's for that name: nothing to edit by hand.
    assert site_names(out) == {"auth.shop.example"}
    labels = {"deployment": "auth.shop.example"}
    assert scrape_targets(out) == {
        "outpost-api": [{"targets": [f"127.0.0.1:{api}"], "labels": labels}],
        "outbox-relay": [{"targets": [f"127.0.0.2:{relay}"], "labels": labels}],
    }
    for name in UNITS:
        unit = parse_unit(out / "systemd" / name)
        assert unit_value(unit, "Service", "EnvironmentFile") == str(env_file)
        assert unit_value(unit, "Service", "LoadCredential") == f"outpost.env:{env_file}"
    assert PROMTOOL.exists(), f"{PROMTOOL} missing: apt install prometheus"
    checked = run(PROMTOOL, "check", "config", out / "prometheus" / "outpost-prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert nginx.available(), "`nginx -t` needs `apt-get install nginx-light`"
    (tmp_path / "nginx").mkdir()
    # `nginx -t` listens on nothing: any ports do.
    conf = nginx.configure(
        tmp_path / "nginx",
        http=8080,
        https=8443,
        api=api,
        ca=SmtpCA.make(),
        site=out / "nginx" / "outpost.conf",
    )
    checked = nginx.check(conf)
    assert checked.returncode == 0, checked.stderr


def test_ipv6_and_no_relay_metrics(tmp_path: Path) -> None:
    env_file = tmp_path / "outpost.env"
    env_file.write_text("OUTPOST_BIND=[::]:8443\nRELAY_METRICS_PORT=0\n")
    out = tmp_path / "out"
    done = deploy_files(out, make_venv(tmp_path), "--env-file", env_file)
    assert done.returncode == 0, done.stderr
    assert upstream(out) == "[::1]:8443"
    jobs = scrape_targets(out)
    assert jobs["outpost-api"][0]["targets"] == ["[::1]:8443"]
    assert jobs["outbox-relay"][0]["targets"] == [], "RELAY_METRICS_PORT=0 serves none"


def test_a_bind_nginx_and_prometheus_cannot_reach_is_refused_in_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / "outpost.env"
    env_file.write_text("OUTPOST_BIND=unix:/run/outpost-api/api.sock\n")
    done = deploy_files(tmp_path / "out", make_venv(tmp_path), "--env-file", env_file)
    assert (done.returncode, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()
    assert line.startswith("outpost: configuration error: OUTPOST_BIND: HOST:PORT or [IPv6]:PORT")
    assert not (tmp_path / "out").exists()


def test_a_directory_without_outpost_is_refused_in_one_line(tmp_path: Path) -> None:
    done = deploy_files(tmp_path / "out", tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"outpost: {tmp_path} has no bin/outpost or bin/outbox-relay: "
        "pass --venv, the virtualenv Outpost is installed in"
    ]
    assert not (tmp_path / "out").exists()


def test_systemd_analyze_verifies_the_units_and_scores_them_no_worse(written: Written) -> None:
    assert SYSTEMD_ANALYZE.exists(), f"{SYSTEMD_ANALYZE} missing (Debian's systemd)"
    done = run(SYSTEMD_ANALYZE, "verify", *(written.out / "systemd" / name for name in UNITS))
    assert done.returncode == 0, done.stdout + done.stderr
    for name, exposure in EXPOSURE.items():
        threshold = f"--threshold={round(exposure * 10)}"
        unit = written.out / "systemd" / name
        done = run(SYSTEMD_ANALYZE, "security", "--offline=true", threshold, unit)
        assert done.returncode == 0, f"{name}: {done.stdout.splitlines()[-1:]}"


@pytest.mark.parametrize("name", UNITS)
def test_units_parse_and_are_hardened(written: Written, name: str) -> None:
    path = written.out / "systemd" / name
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
        "RestartPreventExitStatus": "2",
    }
    for key, value in expected.items():
        assert unit_value(unit, "Service", key) == value, f"{path.name}: {key}"
    families = set(unit_value(unit, "Service", "RestrictAddressFamilies").split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert unit_value(unit, "Install", "WantedBy") == "multi-user.target"


def test_relay_unit(written: Written) -> None:
    unit = parse_unit(written.out / "systemd" / "outbox-relay.service")
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
    assert unit_value(unit, "Service", "ExecStart") == (
        f"{written.venv}/bin/outbox-relay run --env-file %d/outpost.env"
    )


def test_api_unit(written: Written) -> None:
    unit = parse_unit(written.out / "systemd" / "outpost-api.service")
    assert unit_value(unit, "Service", "ExecStart") == (
        f"{written.venv}/bin/outpost serve --env-file %d/outpost.env"
    )
    assert unit_value(unit, "Service", "NotifyAccess") == "all"
    assert unit_value(unit, "Service", "ExecReload") == "/bin/kill -s USR2 $MAINPID"
    assert unit_value(unit, "Service", "KillMode") == "mixed"
    assert unit_value(unit, "Service", "TimeoutStopSec") == "30"


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_warns_of_a_name_no_setting_reads(name: str, tmp_path: Path) -> None:
    """`SMTP_URLL=` would leave SMTP_URL at its default unsaid: the units' commands read their
    env file themselves (`--env-file`, the file systemd hands over as a credential) and say so
    in the journal before anything else. No SECRET_KEY here: each then stops at once."""
    env_file = tmp_path / "outpost.env"
    env_file.write_text("DATABASE_URL=sqlite:////nonexistent/outpost.db\nSMTP_URLL=smtp://mx\n")
    out = tmp_path / "out"
    assert deploy_files(out, make_venv(tmp_path), "--env-file", env_file).returncode == 0
    unit = parse_unit(out / "systemd" / name)
    credentials = tmp_path / "credentials"
    argv = exec_start(unit, credentials)
    environ = {"PATH": "/usr/bin:/bin", **env_file_read(env_file)}
    # Run where systemd would, not in the checkout: the demo's var/secret_key there (`outpost
    # up` keeps one) would give the relay the key this file lacks, and it would wait for the
    # missing database instead of stopping.
    done = subprocess.run(
        argv, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    warning, *_ = done.stderr.splitlines()
    assert warning.endswith(
        f"{credentials}/outpost.env line 2: SMTP_URLL is not a setting Outpost reads (did you "
        "mean SMTP_URL?)"
    )
    assert done.returncode == 2, done.stderr
