"""Templates and branding: every template of the package and of an override directory renders
into a mail without defects, and whatever cannot render (or reaches past the values it is given)
stops the processes at start."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from outbox_relay import render
from outbox_relay.render import TemplateError, Templates
from outpost.cli import main
from outpost.preview import preview
from shared.messaging.locales import PACKAGED as LOCALES
from shared.messaging.outbox import CHANNELS, PURPOSES
from shared.settings.config import Settings
from support import processes
from support.commands import outpost
from support.constants import SECRET_KEY

# The sample "no account" notice's unsubscribe link.
UNSUBSCRIBE = render.samples("no_account")["unsubscribe_url"]
BRANDING = {
    "PRODUCT_NAME": "Acme Cloud",
    "APP_URL": "https://app.acme.example/",
    "SUPPORT_EMAIL": "help@acme.example",
    "LOGO_URL": "https://cdn.acme.example/logo.png",
}


def _settings(**env: str) -> Settings:
    return Settings.from_env({"SECRET_KEY": SECRET_KEY, **env})


@pytest.fixture
def override(tmp_path: Path) -> Path:
    """An adopter's directory: its own subject for one message and its own layout."""
    directory = tmp_path / "templates"
    (directory / "activation" / "en").mkdir(parents=True)
    (directory / "activation" / "en" / "subject.txt").write_text(
        "Your {{ product_name }} code: {{ code }}"
    )
    layout = (render.PACKAGED / "_layout.html").read_text()
    (directory / "_layout.html").write_text(layout.replace("#f4f5f7", "#fff0f0"))
    return directory


@pytest.mark.parametrize("with_override", [False, True])
def test_every_template_renders_a_mail_without_defects(override: Path, with_override: bool) -> None:
    settings = _settings(**BRANDING, **({"TEMPLATES_DIR": str(override)} if with_override else {}))
    templates = Templates.checked(settings)
    for purpose in PURPOSES:
        for locale in LOCALES:
            for channel in CHANNELS:
                raw = preview(settings, templates, purpose, locale, channel)
                if channel == "sms":
                    text = raw.decode()
                    assert "Acme Cloud" in text and "Outpost" not in text
                    continue
                mail = email.message_from_bytes(raw, policy=email.policy.default)
                assert [part.defects for part in mail.walk()] == [[], [], []], purpose
                assert mail["From"] == "Acme Cloud <no-reply@localhost>"
                assert "Acme Cloud" in mail["Subject"] and "Outpost" not in str(raw)
                body = mail.get_body(("html",))
                assert body is not None
                html = body.get_content()
                # The logo is the only remote resource; the support address is in the footer;
                # a "no account" notice also links to its unsubscribe page.
                assert 'src="https://cdn.acme.example/logo.png"' in html
                unsubscribe = html.count(UNSUBSCRIBE)
                assert unsubscribe == (purpose == "no_account")
                assert html.count("https://") == html.count("app.acme.example") + 1 + unsubscribe
                assert "mailto:help@acme.example" in html
                assert ("#fff0f0" in html) is with_override
    if with_override:
        subject = preview(settings, templates, "activation", "en", "email")
        assert b"Subject: Your Acme Cloud code: 123456" in subject


def test_links_go_to_app_url_where_one_helps() -> None:
    settings = _settings(**BRANDING)
    templates = Templates.checked(settings)
    for purpose in ("welcome", "account_exists", "password_changed"):
        mail = email.message_from_bytes(
            preview(settings, templates, purpose, "en", "email"), policy=email.policy.default
        )
        text = mail.get_body(("plain",))
        assert text is not None and "https://app.acme.example/" in text.get_content()


def test_without_branding_the_mails_carry_no_link_logo_or_remote_resource() -> None:
    settings = _settings()
    templates = Templates.checked(settings)
    for purpose in PURPOSES:
        html = templates.email(purpose, "en", render.samples(purpose)).html
        # A "no account" notice's unsubscribe link is the API's, whatever the branding.
        html = html.replace(UNSUBSCRIBE, "")
        assert "http" not in html and "<img" not in html


def test_rows_queued_before_a_parameter_existed_still_render() -> None:
    templates = Templates()
    # A "password changed" notice written before it carried the time of the change.
    mail = templates.email("password_changed", "en", {"full_name": None})
    assert "was changed." in mail.text


def test_a_syntax_error_an_unknown_variable_and_a_stray_file_are_named(
    override: Path,
) -> None:
    (override / "welcome" / "fr").mkdir(parents=True)
    (override / "welcome" / "fr" / "body.txt").write_text("Bonjour {{ full_name }\n")
    (override / "welcome" / "en").mkdir(parents=True)
    (override / "welcome" / "en" / "sms.txt").write_text("Hi {{ nickname }}")
    (override / "welcome" / "en" / "body.text").write_text("a typo in the name")
    problems = Templates(None, override).problems()
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{override / 'welcome' / 'en' / 'sms.txt'}: ")
    assert "nickname" in problems[0]
    assert problems[1].startswith(f"{override / 'welcome' / 'fr' / 'body.txt'}:1: ")
    assert problems[2].startswith(f"{override / 'welcome' / 'en' / 'body.text'}: not a template")
    with pytest.raises(TemplateError, match="nickname"):
        Templates.checked(_settings(TEMPLATES_DIR=str(override)))


def test_a_missing_part_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "packaged"
    shutil.copytree(render.PACKAGED, broken)
    (broken / "welcome" / "fr" / "sms.txt").unlink()
    monkeypatch.setattr(render, "PACKAGED", broken)
    assert Templates().problems() == ["welcome/fr/sms.txt: missing"]


def test_preview_refuses_an_unknown_purpose_naming_the_purposes_as_plain_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["templates", "preview", "pigeon"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.endswith(
        "argument purpose: invalid choice: 'pigeon' (choose from 'activation', "
        "'password_reset', 'password_changed', 'welcome', 'account_exists', "
        "'no_account', 'address_change', 'address_changed', 'login_code')\n"
    )


def _escape(marker: Path) -> str:
    """The issue's template: unsandboxed, it ran a command during `outpost templates check`."""
    return f'{{{{ cycler.__init__.__globals__.os.popen("touch {marker}").read() }}}}'


# Ways out of the values a template is given, each refused when the template loads or renders.
ESCAPES = [
    _escape,
    lambda _: "{{ ''.__class__.__mro__ }}",
    lambda _: "{{ lipsum.__globals__ }}",
    lambda _: '{{ lipsum["__globals__"] }}',
    lambda _: "{{ self._TemplateReference__context }}",
    # A branch the sample values do not take is refused all the same.
    lambda marker: f'{{% if full_name == "nobody" %}}{_escape(marker)}{{% endif %}}',
    # Attributes named at run time only, stopped by the sandbox as the template renders.
    lambda _: '{{ "{0.__class__.__mro__}".format(full_name) }}',
    lambda marker: (
        '{{ (cycler|attr("__init__")|attr("__globals__"))["os"]'
        f'.popen("touch {marker}").read() }}}}'
    ),
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_template_reaching_past_its_values_is_refused_and_runs_nothing(
    override: Path, tmp_path: Path, escape: Callable[[Path], str]
) -> None:
    marker = tmp_path / "ran"
    (override / "welcome" / "en").mkdir(parents=True)
    (override / "welcome" / "en" / "body.txt").write_text(escape(marker))
    [problem] = Templates(None, override).problems()
    assert problem.startswith(f"{override / 'welcome' / 'en' / 'body.txt'}:"), problem
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "outbox_relay.cli", "run"],
        ["-m", "outpost.cli", "up"],
        ["-m", "outpost.cli", "templates", "check"],
    ],
)
@pytest.mark.parametrize(
    ("broken", "said"),
    [("syntax", ":1: Expected an expression"), ("escape", ":1: unsafe: attribute '__")],
)
def test_the_processes_stop_at_start_with_one_line(
    override: Path, tmp_path: Path, command: list[str], broken: str, said: str
) -> None:
    marker = tmp_path / "ran"
    (override / "welcome" / "en").mkdir(parents=True)
    (override / "welcome" / "en" / "body.txt").write_text(
        {"syntax": "{% if %}", "escape": _escape(marker)}[broken]
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path}/outpost.db",
        "RELAY_METRICS_PORT": "0",
        "TEMPLATES_DIR": str(override),
    }
    done = subprocess.run(
        [sys.executable, *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (done.stdout + done.stderr).strip().splitlines()
    named = [line for line in output if str(override / "welcome" / "en" / "body.txt") in line]
    assert done.returncode in (1, 2) and len(named) == 1, output
    assert said in named[0]
    assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_preview_that_cannot_be_written_says_so_in_one_line(tmp_path: Path) -> None:
    written = tmp_path / "welcome.eml"
    targets = {
        tmp_path / "missing" / "x.html": "No such file or directory",
        tmp_path: "Is a directory",
        written: None,
    }
    for out, problem in targets.items():
        path = {"PATH": "/usr/bin:/bin"}
        done = outpost(path, tmp_path, "templates", "preview", "welcome", "--out", str(out))
        assert "Traceback" not in done.stderr, done.stderr
        [line] = done.stderr.splitlines()
        if problem is None:
            assert (done.returncode, line) == (0, f"outpost: wrote {out}")
        else:
            assert (done.returncode, line) == (1, f"outpost: cannot write {out}: {problem}")
    assert written.read_bytes().startswith(b"From: ")


def test_a_preview_into_a_file_holds_what_its_extension_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`.html` the HTML part as a browser opens it, `.txt` the text, `.eml` the message."""
    for name in ("mail.html", "mail.txt", "mail.eml"):
        assert main(["templates", "preview", "activation", "--out", str(tmp_path / name)]) == 0
    html = (tmp_path / "mail.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "=3D" not in html
    text = (tmp_path / "mail.txt").read_text()
    assert re.search(r"\b\d{6}\b", text) and "Content-Type" not in text
    assert (tmp_path / "mail.eml").read_bytes().startswith(b"From: ")
    sms = ["templates", "preview", "activation", "--channel", "sms", "--out"]
    assert main([*sms, str(tmp_path / "sms.txt")]) == 0
    assert main([*sms, str(tmp_path / "sms.html")]) == 2
    assert "an SMS has no HTML part: use .txt" in capsys.readouterr().err
    assert not (tmp_path / "sms.html").exists()


def test_no_article_stands_before_the_product_name() -> None:
    """ "an Kimi Escrow account": no article before the name, which may begin with any sound."""
    root = processes.ROOT / "shared" / "templates"
    misfits = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in sorted(root.glob("*/en/*"))
        for line in path.read_text().splitlines()
        if re.search(r"\b(a|an)\s+\{\{\s*product_name", line, re.IGNORECASE)
    ]
    assert misfits == []
