"""`--env-file FILE` on every command: systemd's EnvironmentFile= syntax, read as systemd reads
it (systemd.exec(5)), so an operator's command sees what the units see."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings.env_file import EnvFileError, read
from support.commands import outpost, relay

# Blank and padded lines written out, so that no editor trims them.
SAMPLE = "\n".join(
    [
        "# a comment",
        "; another",
        "   ",
        "MAIL_FROM=Outpost <no-reply@example.com>",
        "  SPACED =  padded value  ",
        r"""SINGLE='verbatim $HOME \n "kept"'""",
        r'DOUBLE="a \"b\" \\ \$x \q"',
        'MULTI="line one',
        'line two"',
        "CONTINUED=abc\\",
        "def",
        r"ESCAPED=a\ b\\c",
        "no assignment here",
        "DATABASE_URL=postgresql://u:p@h/db?sslmode=require&application_name=outpost",
        "EMPTY=",
        "",
    ]
)


def test_values_read_as_systemd_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "outpost.env"
    path.write_text(SAMPLE)
    assert read(path) == {
        "MAIL_FROM": "Outpost <no-reply@example.com>",
        "SPACED": "padded value",
        "SINGLE": 'verbatim $HOME \\n "kept"',
        "DOUBLE": 'a "b" \\ $x \\q',
        "MULTI": "line one\nline two",
        "CONTINUED": "abcdef",
        "ESCAPED": "a b\\c",
        "DATABASE_URL": "postgresql://u:p@h/db?sslmode=require&application_name=outpost",
        "EMPTY": "",
    }


# What an operator might paste, and no error may echo.
PASTED = "sk_live_0123456789abcdef"
# Lines the file refuses, each holding the pasted secret, and what the error says of them.
REFUSED = [
    pytest.param(f"1ST={PASTED}\n", "the text before = is not a variable name", id="name"),
    pytest.param(
        f"SMTP_URL smtp://u:{PASTED}@h ?starttls=true\n",
        "the text before = is not a variable name",
        id="no-equals-sign",
    ),
    pytest.param(f'SMTP_URL="smtp://u:{PASTED}@h\n', 'SMTP_URL: no closing "', id="unclosed"),
    pytest.param(
        f"SMTP_URL='smtp://u:{PASTED}@h' {PASTED}\n",
        "SMTP_URL: text after the closing quote",
        id="after-quote",
    ),
    pytest.param(f"SECRET_KEY={PASTED}\0{PASTED}\n", "SECRET_KEY: a NUL character", id="nul"),
]


@pytest.mark.parametrize(("text", "words"), REFUSED)
def test_what_systemd_would_not_take_is_refused_with_its_line(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "outpost.env"
    path.write_text("# first\n" + text)
    with pytest.raises(EnvFileError, match=f"^{path}:2: {words}") as refused:
        read(path)
    assert PASTED not in str(refused.value)


# The environment the units start their commands with: PATH alone.
UNIT_ENV = {"PATH": "/usr/bin:/bin"}
# Each command, its arguments before --env-file, and its name in what it prints.
COMMANDS = ((outpost, ("migrate",)), (relay, ("stats",)))


def test_every_command_takes_the_units_environment_from_the_file(tmp_path: Path) -> None:
    """Before or after the subcommand; a value a shell's `. FILE` would break included."""
    env = tmp_path / "outpost.env"
    env.write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'outpost.db'}\n"
        "MAIL_FROM=Outpost <no-reply@example.com>\n"
        "SECRET_KEY='a secret key of at least 16 characters'\n"
    )
    migrated = outpost(UNIT_ENV, tmp_path, "--env-file", str(env), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database upgraded from an empty database" in migrated.stdout
    listed = relay(UNIT_ENV, tmp_path, "dead", "list", "--env-file", str(env))
    assert listed.returncode == 0, listed.stderr
    stats = relay(UNIT_ENV, tmp_path, "stats", "--json", "--env-file", str(env))
    assert stats.returncode == 0 and stats.stdout.startswith("{"), stats.stderr
    # Without the file, the same command has no database of its own to read.
    assert not (tmp_path / "var").exists()


def test_a_file_that_cannot_be_read_stops_the_command_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.env"
    for command, args in COMMANDS:
        done = command(UNIT_ENV, tmp_path, *args, "--env-file", str(missing))
        assert done.returncode == 2
        [line] = done.stderr.splitlines()
        assert line.endswith(f"--env-file {missing}: cannot be read (FileNotFoundError)")


@pytest.mark.parametrize(("text", "words"), REFUSED)
def test_a_refused_line_stops_every_command_in_one_line_without_its_text(
    tmp_path: Path, text: str, words: str
) -> None:
    """The file, the line and the variable: never the value, never a traceback."""
    env = tmp_path / "outpost.env"
    env.write_text("# first\n" + text)
    for command, args in COMMANDS:
        done = command(UNIT_ENV, tmp_path, *args, "--env-file", str(env))
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.splitlines()
        assert f"--env-file {env}:2: {words}" in line
        assert PASTED not in line
