"""`outpost deploy-files DIR`: the systemd units, the nginx site and the Prometheus files as a
server gets them, naming the virtualenv the package is installed in and never a source tree;
the units verified and scored by systemd-analyze."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from outpost.deploy_files import SHIPPED, VENV_MARK
from shared.config import Settings
from support.processes import ROOT
from support.units import parse_unit, unit_value

SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
UNITS = ("outbox-relay.service", "outpost-api.service")
# `systemd-analyze security` exposure (0 best, 10 worst) of each unit when the files moved into
# the package: hardening may only improve.
EXPOSURE = {"outbox-relay.service": 1.8, "outpost-api.service": 2.0}


@dataclass(frozen=True)
class Written:
    """The directory `outpost deploy-files` wrote, and the virtualenv it named."""

    out: Path
    venv: Path


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def deploy_files(out: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "outpost.cli", "deploy-files", out, "--venv", venv)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The deploy files written by the command, for a virtualenv outside the checkout."""
    base = tmp_path_factory.mktemp("deploy")
    venv = base / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("outpost", "outbox-relay"):
        (venv / "bin" / name).symlink_to(Path(sys.prefix) / "bin" / name)
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
    assert unit_value(unit, "Service", "ExecStart") == f"{written.venv}/bin/outbox-relay run"


def test_api_unit(written: Written) -> None:
    unit = parse_unit(written.out / "systemd" / "outpost-api.service")
    assert unit_value(unit, "Service", "ExecStart") == f"{written.venv}/bin/outpost serve"
    assert unit_value(unit, "Service", "NotifyAccess") == "all"
    assert unit_value(unit, "Service", "ExecReload") == "/bin/kill -s HUP $MAINPID"
    assert unit_value(unit, "Service", "KillMode") == "mixed"
    assert unit_value(unit, "Service", "TimeoutStopSec") == "30"
