"""The bytes the relay hands to SMTP: a standard MIME message whatever the locale or name, every
line ended by CRLF (receivers hardened against SMTP smuggling refuse a bare CR or LF)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header

import pytest

from outbox_relay.channels import Email
from outbox_relay.claims import Claimed
from outbox_relay.compose import compose
from outbox_relay.render import Templates, samples
from shared.accounts.addresses import Sender
from shared.messaging.locales import PACKAGED as LOCALES
from shared.messaging.outbox import PURPOSES
from shared.secrets.secretbox import SecretBox
from shared.settings.config import Settings
from shared.settings.mail_values import mail_from
from support.constants import SECRET_KEY

BOX = SecretBox("a-secret-key-for-mail-format-tests")
# The longest PRODUCT_NAME allowed, accented: its subjects and From header fold.
PRODUCT = "Société Générale des Éditions Numériques à Montréal, Québec!"
BARE_CR_OR_LF = re.compile(rb"(?<!\r)\n|\r(?!\n)")


def row(locale: str, full_name: str, purpose: str = "activation") -> Claimed:
    return Claimed(
        id=1,
        public_id="0b1c2d3e-0000-4000-8000-000000000001",
        channel="email",
        purpose=purpose,
        recipient="zoe@example.com",
        locale=locale,
        template=purpose,
        params={"full_name": full_name, "expires_minutes": 1440},
        secret_params=BOX.seal({"code": "042917"}),
        attempts=0,
        expires_at=None,
        locked_until=datetime.now(UTC),
        claim_token="t",
        user_id=None,
        priority=0,
    )


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_a_mail_parses_without_defects_and_round_trips_its_text(locale: str) -> None:
    sender = "Équipe Outpost <no-reply@outpost.test>"
    composed = compose(row(locale, "Zoé <b>&"), BOX, mail_from(sender), Templates())
    assert isinstance(composed, Email)
    assert (composed.sender, composed.recipient) == ("no-reply@outpost.test", "zoe@example.com")
    raw = composed.data
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    head, _, _ = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert [m.defects for m in message.walk()] == [[], [], []]
    assert message["From"] == sender
    assert message["To"] == "zoe@example.com"
    assert message["Message-ID"] == "<0b1c2d3e-0000-4000-8000-000000000001@outpost.test>"
    assert message["Content-Language"] == locale
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "042917" in text.get_content() and "042917" in html.get_content()
    # An activation goes to an unproven address: the name the client gave is not in it.
    assert "Zoé" not in text.get_content() + html.get_content()
    welcome = compose(row(locale, "Zoé <b>&", "welcome"), BOX, mail_from(sender), Templates())
    assert isinstance(welcome, Email)
    greeted = email.message_from_bytes(welcome.data, policy=email.policy.default)
    assert [m.defects for m in greeted.walk()] == [[], [], []]
    welcome_text, welcome_html = greeted.get_body(("plain",)), greeted.get_body(("html",))
    assert welcome_text is not None and welcome_html is not None
    assert "Zoé <b>&" in welcome_text.get_content()
    assert "Zoé &lt;b&gt;&amp;" in welcome_html.get_content()
    if locale == "fr":
        assert message["Subject"] == "Activez votre compte Outpost"


@pytest.mark.parametrize(
    ("full_name", "encoding"),
    [
        ("Zoe <b>&", "7bit"),
        ("Zoé", "quoted-printable"),
        ("Zoe\fMartin", "quoted-printable"),
        ("Zoe\rMartin", "quoted-printable"),
        ("Z" * 995, "quoted-printable"),
    ],
)
def test_a_part_goes_as_it_is_only_if_printable_ascii_in_lines_of_at_most_998(
    full_name: str, encoding: str
) -> None:
    welcome = compose(row("en", full_name, "welcome"), BOX, mail_from("a@b.test"), Templates())
    assert isinstance(welcome, Email)
    assert BARE_CR_OR_LF.search(welcome.data) is None
    assert max(len(line) for line in welcome.data.split(b"\r\n")) <= 998
    message = email.message_from_bytes(welcome.data, policy=email.policy.default)
    assert [m.defects for m in message.walk()] == [[], [], []]
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    assert [text["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]] == [encoding] * 2
    rendered = Templates().email("welcome", "en", {"full_name": full_name})
    assert text.get_content().splitlines() == rendered.text.splitlines()
    assert html.get_content().splitlines() == rendered.html.splitlines()


def test_an_idna_domain_is_sent_in_ascii_in_the_header_the_envelope_and_the_message_id() -> None:
    composed = compose(
        row("fr", "Zoé"), BOX, mail_from("Équipe <no-reply@exämple.com>"), Templates()
    )
    assert isinstance(composed, Email)
    assert composed.sender == "no-reply@xn--exmple-cua.com"
    message = email.message_from_bytes(composed.data, policy=email.policy.default)
    assert message["From"] == "Équipe <no-reply@xn--exmple-cua.com>"
    assert message["Message-ID"] == "<0b1c2d3e-0000-4000-8000-000000000001@xn--exmple-cua.com>"


def test_a_sixty_character_product_name_is_accepted_with_the_default_mail_from() -> None:
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, "PRODUCT_NAME": PRODUCT})
    assert len(PRODUCT) == 60
    assert settings.mail_from == Sender(name=PRODUCT, address="no-reply@localhost")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_line_of_every_mail_ends_in_crlf_and_the_date_has_a_numeric_zone(
    purpose: str, locale: str
) -> None:
    settings = Settings.from_env({"SECRET_KEY": SECRET_KEY, "PRODUCT_NAME": PRODUCT})
    templates = Templates(settings.branding)
    claimed = dataclasses.replace(row(locale, "Zoé", purpose), params=samples(purpose))
    composed = compose(claimed, BOX, settings.mail_from, templates)
    assert isinstance(composed, Email)
    data = composed.data
    assert BARE_CR_OR_LF.search(data) is None
    head, _, _ = data.partition(b"\r\n\r\n")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    # RFC 2047: an encoded word is at most 75 characters; a line of them, folded, 76.
    assert max(len(word) for word in re.findall(rb"=\?[^ ]*?\?=", head)) <= 75
    assert max(len(line) for line in head.split(b"\r\n") if b"=?" in line) <= 76
    assert re.search(
        rb"^Date: [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} [\d:]{8} \+0000\r$", head, re.M
    )
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert [m.defects for m in message.walk()] == [[], [], []]
    assert message["Subject"] == templates.email(purpose, locale, samples(purpose)).subject
    assert PRODUCT in message["Subject"]
    # Decoded as RFC 2047 says (6.2: the space between two encoded words is no text): the
    # email package's address parser keeps the space of the fold inside the name.
    raw_from = email.message_from_bytes(data, policy=email.policy.compat32)["From"]
    assert str(make_header(decode_header(raw_from))) == f"{PRODUCT} <no-reply@localhost>"
    assert message["From"].addresses[0].addr_spec == "no-reply@localhost"


def test_each_mail_has_a_boundary_of_its_own_across_several_draws() -> None:
    """More mails than one draw of boundaries: 32 random hexadecimal digits each, never two
    alike, and none in the text it separates."""
    sender, templates = mail_from("Outpost <no-reply@outpost.test>"), Templates()
    boundaries = []
    for _ in range(150):
        composed = compose(row("en", "Zoé"), BOX, sender, templates)
        assert isinstance(composed, Email)
        message = email.message_from_bytes(composed.data, policy=email.policy.default)
        boundary = message.get_boundary()
        assert boundary is not None and re.fullmatch(r"=_outpost_[0-9a-f]{32}", boundary)
        # Declared in the header, then two parts opened and the last closed: nowhere else.
        assert composed.data.count(boundary.encode()) == 4
        boundaries.append(boundary)
    assert len(set(boundaries)) == len(boundaries)
