"""systemd unit files read as systemd reads them, for the tests of the shipped units."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
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


def unit_value(unit: Unit, section: str, key: str) -> str:
    """The effective (last) value of a key, as systemd applies it for single-valued settings."""
    assert section in unit, f"section [{section}] missing"
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= missing"
    return values[-1]


def exec_start(unit: Unit, credentials: Path, where: Callable[[str], str] = str) -> list[str]:
    """The unit's ExecStart= as systemd runs it, its LoadCredential= files copied into
    `credentials` (readable by the unit alone), which `%d` names; `where`: the host path of a
    path the unit names."""
    credentials.mkdir(parents=True, exist_ok=True)
    for credential in unit["Service"].get("LoadCredential", []):
        called, _, source = credential.partition(":")
        copied = credentials / called
        copied.unlink(missing_ok=True)
        shutil.copyfile(where(source), copied)
        copied.chmod(0o400)
    return shlex.split(unit_value(unit, "Service", "ExecStart").replace("%d", str(credentials)))
