"""`outpost deploy-files DIR`: the files a server needs beside the package (systemd units, the
nginx site, Prometheus's scrape example and alert rules), naming the virtualenv it runs from and
following the env file (`--env-file`): its path, the API's address, the relay's metrics port."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings.config import Settings
from shared.settings.processes import OUTPOST_BIND, tcp_address

SHIPPED = Path(__file__).resolve().parent / "deploy"
# Where a shipped file names the virtualenv (the units' ExecStart=); never a source tree.
VENV_MARK = "@VENV@"
# The other marks: the env file (the units' EnvironmentFile=), the API's address as a client on
# its host reaches it (nginx's upstream, Prometheus's target) and the deployment's name (the
# label the alert rules group by; the nginx site's server name and certificate directory). The
# relay's target is a YAML item, quotes included: with RELAY_METRICS_PORT=0 there is none.
ENV_FILE_MARK = "@ENV_FILE@"
API_MARK = "@API@"
RELAY_METRICS_MARK = '"@RELAY_METRICS@"'
DEPLOYMENT_MARK = "@DEPLOYMENT@"
DEFAULT_ENV_FILE = Path("/etc/outpost/outpost.env")
# The deployment's name when PUBLIC_URL gives none.
DEFAULT_DEPLOYMENT = "outpost"
COMMANDS = ("outpost", "outbox-relay")
# Addresses that listen on every interface, and where a client on the same host reaches them.
_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class NotAVirtualenv(Exception):
    """A --venv that holds no installed Outpost: the units would name commands that do not exist."""


def default_venv() -> Path:
    """The virtualenv of the Python running this command."""
    return Path(sys.prefix)


def marks(venv: Path, env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """What each mark stands for, from the virtualenv and the environment the env file gave;
    ConfigError naming a variable that cannot be followed."""
    settings = Settings.from_env(environ, require_secret=False)
    relay = settings.relay_metrics_port
    return {
        VENV_MARK: str(venv),
        ENV_FILE_MARK: str((env_file or DEFAULT_ENV_FILE).absolute()),
        API_MARK: reachable(*OUTPOST_BIND.named(tcp_address, OUTPOST_BIND.raw(environ))),
        RELAY_METRICS_MARK: f'"{reachable(settings.relay_metrics_host, relay)}"' if relay else "",
        DEPLOYMENT_MARK: urlsplit(settings.public_url or "").hostname or DEFAULT_DEPLOYMENT,
    }


def reachable(host: str, port: int) -> str:
    """`host:port` as a client on the same host connects to it ([host]:port for IPv6)."""
    host = _LOOPBACK.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write(
    target: Path, venv: Path, env_file: Path | None, environ: Mapping[str, str]
) -> list[Path]:
    """Write every shipped file under `target`, in its folder (systemd/, nginx/, prometheus/),
    each mark replaced by what it stands for; the files written."""
    venv = venv.absolute()
    missing = [name for name in COMMANDS if not (venv / "bin" / name).is_file()]
    if missing:
        raise NotAVirtualenv(
            f"{venv} has no {' or '.join(f'bin/{name}' for name in missing)}: "
            "pass --venv, the virtualenv Outpost is installed in"
        )
    replaced = marks(venv, env_file, environ)
    written = []
    for source in sorted(path for path in SHIPPED.rglob("*") if path.is_file()):
        text = source.read_text(encoding="utf-8")
        for mark, value in replaced.items():
            text = text.replace(mark, value)
        out = target / source.relative_to(SHIPPED)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        written.append(out)
    return written
