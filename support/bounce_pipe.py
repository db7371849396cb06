"""The pipe service of docs/install.md in the tests' private Postfix: mail to `bounces+TOKEN` of
the bounce domain handed to this checkout's own `outbox-relay bounce` console script.

pipe(8) runs no command as root nor as Postfix's own user, so the command runs as `nobody`; and
the suite's interpreter may lie where no other user reaches (pyenv under /root). So it runs on
Debian's python3 (the suite's minor version: the suite's compiled packages load in it), in a
virtualenv under the instance whose site sees the suite's packages and, through their .pth
files, this checkout: the console script installed in the suite's environment, as it is.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from support.postfix_config import BOUNCES, PIPE_SERVICE

# The pipe's user and group: neither root nor Postfix's own, which pipe(8) refuses.
USER, GROUP = "nobody", "nogroup"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# What docs/install.md sets beside the service: `bounces+TOKEN` finds the transport entry of
# `bounces`, and each run of the command reads one mail.
SETTINGS = {"recipient_delimiter": "+", f"{PIPE_SERVICE}_destination_recipient_limit": "1"}
# The console script the suite's environment installed.
SCRIPT = Path(sysconfig.get_path("scripts")) / "outbox-relay"


def env_file(base: Path) -> Path:
    """The environment file the pipe's command reads (`--env-file`)."""
    return base / "outpost.env"


def interpreter(base: Path) -> Path:
    """The python the pipe runs the console script with."""
    return base / "pipe-python" / "bin" / "python"


def service(base: Path) -> str:
    """The service of docs/install.md as `postconf -M` takes it, with this instance's
    interpreter and environment file."""
    argv = f"{interpreter(base)} {SCRIPT} --env-file {env_file(base)} bounce"
    return (
        f"{PIPE_SERVICE}/unix = {PIPE_SERVICE} unix - n n - - pipe flags=DO "
        f"user={USER}:{GROUP} argv={argv} --recipient ${{recipient}}"
    )


def prepare(base: Path, env: dict[str, str]) -> None:
    """The interpreter made once, and the environment file the command reads written: `env`
    with BOUNCE_ADDRESS, readable by the pipe's group alone, as docs/install.md makes it."""
    blocked = [folder for folder in SCRIPT.parents if not folder.stat().st_mode & 0o001]
    assert not blocked, (
        f"the pipe runs as {USER}, who cannot enter {blocked[-1]}: run the suite from a checkout"
        f" other users can reach (chmod o+x {blocked[-1]})"
    )
    python = interpreter(base)
    if not python.exists():
        _virtualenv(python.parent.parent)
    path = env_file(base)
    path.touch(mode=0o640)
    path.chmod(0o640)
    ours = {**env, "BOUNCE_ADDRESS": BOUNCES}
    path.write_text("".join(f"{key}={value}\n" for key, value in ours.items()))
    subprocess.run(["chgrp", GROUP, str(path)], check=True, timeout=30)


def _virtualenv(path: Path) -> None:
    """Debian's python3 in a virtualenv at `path`, with the suite's site directories added as
    sites (their .pth files run: the editable install of this checkout among them)."""
    version = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert version == str(sys.version_info[:2]), f"Debian's python3 is {version}, the suite's not"
    subprocess.run(
        [DEBIAN_PYTHON, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    own = subprocess.run(
        [path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    sites = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    lines = "".join(f"import site; site.addsitedir({site!r})\n" for site in sites)
    (Path(own) / "suite-sites.pth").write_text(lines)
