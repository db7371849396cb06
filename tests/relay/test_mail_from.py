"""MAIL_FROM: a value no message can be sent from stops the processes at start with one line
naming it; a good one is read into its display name and its address in ASCII."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support import processes
from support.constants import SECRET_KEY

BAD = [
    "x@",
    "no-reply",
    "@example.com",
    "Outpost <>",
    "Outpost <no-reply@example.com",
    "Outpost <no-reply@example.com> trailing",
    "no-reply@example.com, other@example.com",
    "Outpost <ü@example.com>",
    "Outpost <no-reply@exa mple.com>",
    "Out\x01post <no-reply@example.com>",
    "Outpost\r\n <no-reply@example.com>",
]


@pytest.mark.parametrize("value", BAD)
def test_a_value_no_message_can_be_sent_from_is_refused_in_one_line_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "MAIL_FROM": value})
    [line] = str(refused.value).splitlines()
    assert line.startswith("MAIL_FROM: ")


@pytest.mark.parametrize(
    ("value", "name", "address"),
    [
        ("Outpost <no-reply@example.com>", "Outpost", "no-reply@example.com"),
        ("no-reply@example.com", "", "no-reply@example.com"),
        ("<no-reply@example.com>", "", "no-reply@example.com"),
        ('"Outpost, Inc." <No-Reply@Example.COM>', "Outpost, Inc.", "No-Reply@example.com"),
        ("Équipe Outpost <no-reply@outpost.test>", "Équipe Outpost", "no-reply@outpost.test"),
        ("Outpost <no-reply@exämple.com>", "Outpost", "no-reply@xn--exmple-cua.com"),
        ("Outpost <no-reply@localhost>", "Outpost", "no-reply@localhost"),
    ],
)
def test_a_sender_is_read_with_its_domain_in_ascii(value: str, name: str, address: str) -> None:
    sender = Settings.from_env({"SECRET_KEY": SECRET_KEY, "MAIL_FROM": value}).mail_from
    assert (sender.name, sender.address) == (name, address)


def test_unset_it_is_the_product_name_at_localhost() -> None:
    sender = Settings.from_env({"SECRET_KEY": SECRET_KEY, "PRODUCT_NAME": "Acme, Inc."}).mail_from
    assert (sender.name, sender.address) == ("Acme, Inc.", "no-reply@localhost")


def test_the_relay_and_the_api_stop_at_start_with_one_line_naming_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = {**env, "MAIL_FROM": "x@"}
    [line], log = processes.refused_at_start(bad, tmp_path)
    assert line.startswith("outbox-relay: configuration error: MAIL_FROM: ")
    assert "outpost-api: configuration error: MAIL_FROM: " in log
    assert "Traceback" not in log


def test_a_product_name_of_60_characters_starts_with_the_default_mail_from() -> None:
    """The default MAIL_FROM is `$PRODUCT_NAME <no-reply@localhost>`: the space before `<` is
    no part of the name's 60 characters."""
    name = "Éditions Numériques de la Côte d'Émeraude — Espace Adhérents"
    assert len(name) == 60
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, "PRODUCT_NAME": name})
    assert (settings.mail_from.name, settings.branding.product_name) == (name, name)
