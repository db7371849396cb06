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
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLANKS = " \t\r"
_DOUBLE_ESCAPES = '"\\$`'


class EnvFileError(ValueError):
    """A file that is not an environment file: one line naming the file, the line and the
    variable, never the line's text (a pasted secret would be echoed)."""


def read(path: Path) -> dict[str, str]:
    """The variables `path` assigns, in systemd's EnvironmentFile= syntax."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot be read ({type(exc).__name__})") from None
    found: dict[str, str] = {}
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
        found[key] = value
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


def apply(argv: list[str] | None, prog: str) -> list[str]:
    """Take `--env-file FILE` out of the arguments (before or after the subcommand) and put
    its variables into the environment, over what the shell had; the other arguments."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--env-file", type=Path)
    known, rest = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    if known.env_file is not None:
        try:
            os.environ.update(read(known.env_file))
        except EnvFileError as exc:
            print(f"{prog}: --env-file {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return rest


def describe(parser: argparse.ArgumentParser) -> None:
    """List `--env-file` in a command's help (apply() has taken it out already)."""
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="read variables from FILE, in systemd's EnvironmentFile= syntax, over the shell's",
    )
