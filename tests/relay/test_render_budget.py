"""An operator's template renders under a budget (SPEC, TEMPLATES_DIR: 0.5 s and 256 KiB of
output): one that spins, floods or eats memory for some message kills that message alone, with
its file named, while the relay delivers the others; `outpost templates check` refuses one whose
sample shows it, in one line and in seconds."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from outbox_relay.render import TemplateError, Templates
from outbox_relay.render_budget import RENDER_SECONDS
from shared.database.models import outbox
from support.bulk import queue_emails
from support.constants import SECRET_KEY, MakeRelay
from support.rows import rows
from support.smtp_sink import SinkServer

# Spins for a message whose name is "boom": 10^10 loop turns, no output, no call per turn.
SPIN = (
    '{% if full_name == "boom" %}{% for i in range(100000) %}{% for j in range(100000) %}'
    "{% endfor %}{% endfor %}{% endif %}Welcome to {{ product_name }}"
)
# 300,000 characters of subject for a "boom".
FLOOD = '{% if full_name == "boom" %}{{ "x" * 300000 }}{% endif %}Welcome to {{ product_name }}'
# 10^10 characters asked for in one filter call, for a "boom".
MEMORY = (
    '{% if full_name == "boom" %}{{ ("x" * 100000) | replace("x", "y" * 100000) }}{% endif %}'
    "Welcome to {{ product_name }}"
)
POISONS = {"spin": SPIN, "flood": FLOOD, "memory": MEMORY}
# The layout every HTML body extends, spinning for a "boom" before the body's content.
SPINNING_LAYOUT = SPIN.replace("Welcome to {{ product_name }}", "{% block content %}{% endblock %}")
# A message whose subject and text render at once, and one file of its HTML part spins: that
# file is the one named.
SPINNING_FILES = {
    "html part": ({"welcome/en/body.html": SPIN}, "welcome/en/body.html"),
    "layout": ({"_layout.html": SPINNING_LAYOUT}, "_layout.html"),
}


def _overrides(tmp_path: Path, files: dict[str, str]) -> Path:
    override = tmp_path / "templates"
    for name, text in files.items():
        (override / name).parent.mkdir(parents=True, exist_ok=True)
        (override / name).write_text(text)
    return override


def _override(tmp_path: Path, subject: str) -> Path:
    return _overrides(tmp_path, {"welcome/en/subject.txt": subject})


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_poisoned_template_kills_one_message_and_the_others_arrive(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, tmp_path: Path, poison: str
) -> None:
    override = _override(tmp_path, POISONS[poison])
    ids = queue_emails(engine, 11)
    with engine.begin() as connection:
        connection.execute(
            update(outbox).where(outbox.c.public_id == ids[5]).values(params={"full_name": "boom"})
        )
    relay = make_relay(templates_dir=override, relay_concurrency=4)
    started = time.monotonic()
    assert relay.drain() == 11
    took = time.monotonic() - started
    assert len(smtp.sink.wait_for(10)) == 10
    assert all(str(mail["Subject"]) == "Welcome to Outpost" for mail in smtp.sink.received)
    # Ten mails and one half-second render at most, with room for a loaded machine.
    assert took < 30, took
    [dead] = [r for r in rows(engine, "outbox") if r["status"] != "sent"]
    assert (dead["public_id"], dead["status"], dead["dead_reason"]) == (
        ids[5],
        "dead",
        "permanent_error",
    )
    assert str(override / "welcome" / "en" / "subject.txt") in dead["last_error"] or (
        "welcome/en/subject.txt" in dead["last_error"]
    )


def test_a_spinning_render_is_stopped_at_its_budget_and_the_next_one_renders(
    tmp_path: Path,
) -> None:
    templates = Templates(None, _override(tmp_path, SPIN))
    try:
        started = time.monotonic()
        with pytest.raises(TemplateError, match=r"welcome/en/subject\.txt: takes more than 0\.5 s"):
            templates.email("welcome", "en", {"full_name": "boom"})
        assert time.monotonic() - started >= RENDER_SECONDS
        # A fresh worker takes over; the packaged templates never needed one.
        assert templates.email("welcome", "en", {"full_name": "Ada"}).subject == (
            "Welcome to Outpost"
        )
        assert templates.sms("activation", "en", {"code": "123456", "expires_minutes": 5})
    finally:
        templates.close()


@pytest.mark.parametrize("spinning", sorted(SPINNING_FILES))
def test_a_render_past_its_budget_names_the_file_that_spins(tmp_path: Path, spinning: str) -> None:
    files, named = SPINNING_FILES[spinning]
    templates = Templates(None, _overrides(tmp_path, {**files, "welcome/en/body.txt": "Hello"}))
    try:
        with pytest.raises(TemplateError) as refused:
            templates.email("welcome", "en", {"full_name": "boom"})
        assert templates.email("welcome", "en", {"full_name": "Ada"}).text == "Hello"
    finally:
        templates.close()
    message = str(refused.value)
    assert f"/templates/{named}: takes more than 0.5 s" in message, message
    assert "subject.txt" not in message and "body.txt" not in message


def test_the_dead_rows_last_error_names_the_html_part_that_spins(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer, tmp_path: Path
) -> None:
    override = _overrides(tmp_path, {"welcome/en/body.html": SPIN})
    ids = queue_emails(engine, 2)
    with engine.begin() as connection:
        connection.execute(
            update(outbox).where(outbox.c.public_id == ids[0]).values(params={"full_name": "boom"})
        )
    assert make_relay(templates_dir=override).drain() == 2
    assert len(smtp.sink.wait_for(1)) == 1
    [dead] = [r for r in rows(engine, "outbox") if r["status"] == "dead"]
    assert dead["public_id"] == ids[0]
    assert f"{override / 'welcome' / 'en' / 'body.html'}: takes more than" in dead["last_error"]


def test_templates_check_refuses_a_template_whose_sample_spins_in_one_line(
    tmp_path: Path,
) -> None:
    override = tmp_path / "templates"
    (override / "welcome" / "en").mkdir(parents=True)
    # The sample's name is Ada Lovelace: this one spins for it.
    (override / "welcome" / "en" / "subject.txt").write_text(
        SPIN.replace('full_name == "boom"', "full_name")
    )
    env = {"TEMPLATES_DIR": str(override), "SECRET_KEY": SECRET_KEY, "PATH": "/usr/bin:/bin"}
    # CPU, not time, so that a loaded machine's wait does not count: a spin left running would
    # burn its core to the 60 s timeout; stopped at its budget, the check costs a few seconds.
    before = _children_cpu()
    run = subprocess.run(
        [sys.executable, "-m", "outpost.cli", "templates", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert _children_cpu() - before < 15
    assert run.returncode != 0
    failing = [
        line for line in run.stdout.splitlines() + run.stderr.splitlines() if "0.5 s" in line
    ]
    assert len(failing) == 1, (run.stdout, run.stderr)
    assert "welcome/en/subject.txt" in failing[0]


def _children_cpu() -> float:
    """The CPU seconds of this process's children that have ended."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime
