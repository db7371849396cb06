"""`--env-file FILE`: the variables of a file in systemd's `EnvironmentFile=` syntax, so that an
operator's command runs with exactly the environment the units have.

The syntax (systemd.exec(5)): `KEY=VALUE` lines; empty lines, lines starting with `#` or `;`,
and lines without `=` are ignored. An unquoted value drops its leading and trailing blanks and
keeps its inner ones (`MAIL_FROM=Outpost <no-reply@example.com>` is one value, which a shell's
`set -a; . FILE` would break), a backslash keeps the next character and a trailing one
continues the line; a value in single quotes is taken verbatim, one in double quotes with the
shell's escapes (`\\"`, `\\\\`, `\\$`, `` \\` ``, a backslash-newline); either may span lines.
No `$VARIABLE` is expanded.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings.unknown import described, unknown_names

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLANKS = " \t\r"
_DOUBLE_ESCAPES = '"\\$`'


class EnvFileError(ValueError):
    """A file that is not an environment file: one line naming the file, the line and the
    variable, never the line's text (a pasted secret would be echoed)."""


@dataclass(frozen=True)
class Assignment:
    """One `NAME=value` of a file, and the line it starts on."""

    line: int
    name: str
    value: str = field(repr=False)


def read(path: Path) -> dict[str, str]:
    """The variables `path` assigns, in systemd's EnvironmentFile= syntax."""
    return {assigned.name: assigned.value for assigned in assignments(path)}


def assignments(path: Path) -> list[Assignment]:
    """Each assignment of `path`, in order (a name assigned again: the last one holds)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot be read ({type(exc).__name__})") from None
    found: list[Assignment] = []
    lines = text.split("\n")
    n = 0
    while n < len(lines):
        number, line = n + 1, lines[n].lstrip(_BLANKS)
        n += 1
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, rest = line.partition("=")
        key = key.strip(_BLANKS)
        if not _NAME.match(key):
            raise EnvFileError(f"{path}:{number}: the text before = is not a variable name")
        where = f"{path}:{number}: {key}"
        value, n = _value(rest, lines, n, where)
        if "\0" in value:
            raise EnvFileError(f"{where}: a NUL character, which no environment variable holds")
        found.append(Assignment(number, key, value))
    return found


def _value(rest: str, lines: list[str], n: int, where: str) -> tuple[str, int]:
    """The value starting at `rest`, reading on into `lines` from `n` where it continues."""
    rest = rest.lstrip(_BLANKS)
    if rest[:1] in ("'", '"'):
        return _quoted(rest, lines, n, where)
    out: list[str] = []
    while True:
        escaped = False
        for char in rest:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                out.append(char)
        if not escaped or n >= len(lines):
            return "".join(out).strip(_BLANKS), n
        rest, n = lines[n], n + 1  # a trailing backslash: the line goes on


def _quoted(rest: str, lines: list[str], n: int, where: str) -> tuple[str, int]:
    """A single- or double-quoted value, which may span lines; nothing may follow it."""
    quote, text = rest[0], rest[1:]
    out: list[str] = []
    while True:
        i = 0
        while i < len(text):
            char = text[i]
            if char == quote:
                tail = text[i + 1 :].strip(_BLANKS)
                if tail:
                    raise EnvFileError(f"{where}: text after the closing quote")
                return "".join(out), n
            if quote == '"' and char == "\\" and i + 1 < len(text):
                following = text[i + 1]
                out.append(following if following in _DOUBLE_ESCAPES else char + following)
                i += 2
                continue
            if quote == '"' and char == "\\":  # a backslash-newline: joined, nothing kept
                i += 1
                break
            out.append(char)
            i += 1
        else:
            out.append("\n")
        if n >= len(lines):
            raise EnvFileError(f"{where}: no closing {quote}")
        text, n = lines[n], n + 1


def named(argv: list[str] | None) -> tuple[Path | None, list[str]]:
    """The FILE of `--env-file FILE` among the arguments (before or after the subcommand), if
    any, and the other arguments."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--env-file", type=Path)
    known, rest = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.env_file, rest


def apply(argv: list[str] | None, prog: str, *, warn: bool = True) -> list[str]:
    """Take `--env-file FILE` out of the arguments and put its variables into the environment,
    over what the shell had, warning (`warn`) of each name no setting reads; the other
    arguments."""
    path, rest = named(argv)
    if path is not None:
        try:
            assigned = assignments(path)
        except EnvFileError as exc:
            print(f"{prog}: --env-file {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        os.environ.update({each.name: each.value for each in assigned})
        for warning in unknown_name_warnings(path, assigned) if warn else ():
            print(f"{prog}: {warning}", file=sys.stderr)
    return rest


def unknown_name_warnings(path: Path, assigned: Sequence[Assignment] | None = None) -> list[str]:
    """A line for each name `path` assigns that no setting reads, with the closest one that
    does: `PATH line 7: SMTP_URLL is not a setting Outpost reads (did you mean SMTP_URL?)`.
    EnvFileError when the file cannot be read (`assigned`: what it assigns, read already)."""
    assigned = assignments(path) if assigned is None else assigned
    first = {each.name: each.line for each in reversed(assigned)}
    values = {each.name: each.value for each in assigned}
    return [
        f"{path} line {first[name]}: {described(name, closest)}"
        for name, closest in unknown_names(values)
    ]


def describe(parser: argparse.ArgumentParser) -> None:
    """List `--env-file` in a command's help (apply() has taken it out already)."""
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="read variables from FILE, in systemd's EnvironmentFile= syntax, over the shell's",
    )
