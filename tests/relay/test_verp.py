"""BOUNCE_ADDRESS: each mail goes from `bounces+TOKEN@…`, the token naming its message and
signed with SECRET_KEY, and asks for delivery status notifications (RET=HDRS, ENVID, NOTIFY,
ORCPT in xtext) where the server offers DSN; unset, mail goes from MAIL_FROM with no DSN
parameter."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from outbox_relay.relay import Relay
from shared.reports.bounce_tokens import named_by
from shared.settings.config import Settings
from shared.settings.joint_rules import ConfigError
from support.bulk import queue_emails
from support.constants import SECRET_KEY, MakeRelay
from support.smtp_sink import SinkServer


def test_each_mail_goes_from_its_signed_address_and_asks_for_reports(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    smtp.sink.dsn = True
    ids = queue_emails(engine, 2, prefix="jane+tag=")
    make_relay(bounce_address="bounces@mail.outpost.test").drain()
    smtp.sink.wait_for(2)
    by_id = {}
    for sender, mail_options, rcpt_options in smtp.sink.envelopes:
        local, _, domain = sender.partition("@")
        assert (local.partition("+")[0], domain) == ("bounces", "mail.outpost.test")
        named = named_by(sender, [SECRET_KEY])
        assert named.public_id is not None and not named.forged
        by_id[named.public_id] = (mail_options, rcpt_options)
        assert mail_options == ["RET=HDRS", f"ENVID={named.public_id.upper()}"]
        recipient = f"JANE+2BTAG+3D{ids.index(named.public_id)}@EXAMPLE.COM"
        assert rcpt_options == ["NOTIFY=FAILURE,DELAY", f"ORCPT=RFC822;{recipient}"]
    assert sorted(by_id) == sorted(ids)
    assert named_by(smtp.sink.envelopes[0][0], ["another key" * 3]).forged


def test_a_server_without_dsn_gets_the_address_and_no_parameter(
    engine: Engine, make_relay: MakeRelay, smtp: SinkServer
) -> None:
    [public_id] = queue_emails(engine, 1)
    make_relay(bounce_address="bounces@mail.outpost.test").drain()
    smtp.sink.wait_for(1)
    [(sender, mail_options, rcpt_options)] = smtp.sink.envelopes
    assert named_by(sender, [SECRET_KEY]).public_id == public_id
    assert (mail_options, rcpt_options) == ([], [])


def test_unset_mail_goes_from_mail_from_without_dsn(
    engine: Engine, relay: Relay, smtp: SinkServer
) -> None:
    smtp.sink.dsn = True
    queue_emails(engine, 1)
    relay.drain()
    smtp.sink.wait_for(1)
    assert smtp.sink.envelopes == [("no-reply@outpost.test", [], [])]


@pytest.mark.parametrize("value", ["bounces+x@example.com", "no-at-sign", "a" * 25 + "@ex.com"])
def test_an_address_that_cannot_take_the_token_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SECRET_KEY": SECRET_KEY, "BOUNCE_ADDRESS": value})
    assert str(refused.value).startswith("BOUNCE_ADDRESS: ")
