"""`--env-file FILE` on every command: systemd's EnvironmentFile= syntax, read as systemd reads
it (systemd.exec(5)), so an operator's command sees what the units see."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from outbox_relay.cli import main as relay_main
from outpost.cli import main as outpost_main
from shared.settings.env_file import EnvFileError, read
from support import in_process

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


# Each command's module, its main and its name.
MAINS = {"outpost.cli": (outpost_main, "outpost"), "outbox_relay.cli": (relay_main, "outbox-relay")}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS…` with PATH alone in its environment, as the units start it, run
    in this process as its own would run it (support.in_process)."""
    main, prog = MAINS[command[0]]
    return in_process.run(main, prog, command[1:], {"PATH": "/usr/bin:/bin"}, cwd, alone=True)


def test_every_command_takes_the_units_environment_from_the_file(tmp_path: Path) -> None:
    """Before or after the subcommand; a value a shell's `. FILE` would break included."""
    env = tmp_path / "outpost.env"
    env.write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'outpost.db'}\n"
        "MAIL_FROM=Outpost <no-reply@example.com>\n"
        "SECRET_KEY='a secret key of at least 16 characters'\n"
    )
    migrated = run(["outpost.cli", "--env-file", str(env), "migrate"], tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database upgraded from an empty database" in migrated.stdout
    listed = run(["outbox_relay.cli", "dead", "list", "--env-file", str(env)], tmp_path)
    assert listed.returncode == 0, listed.stderr
    stats = run(["outbox_relay.cli", "stats", "--json", "--env-file", str(env)], tmp_path)
    assert stats.returncode == 0 and stats.stdout.startswith("{"), stats.stderr
    # Without the file, the same command has no database of its own to read.
    assert not (tmp_path / "var").exists()


def test_a_file_that_cannot_be_read_stops_the_command_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.env"
    for command in (["outpost.cli", "migrate"], ["outbox_relay.cli", "stats"]):
        done = run([*command, "--env-file", str(missing)], tmp_path)
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
    for command in (["outpost.cli", "migrate"], ["outbox_relay.cli", "stats"]):
        done = run([*command, "--env-file", str(env)], tmp_path)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.splitlines()
        assert f"--env-file {env}:2: {words}" in line
        assert PASTED not in line
