"""Reports by mail as an attacker forges them (tests/api/test_attacker_machine.py): each kind a
server writes (support/bounce_reports.py), sent to the bounce address he picks, about the
recipient and the message he picks, with the Delivered-To the receiving server writes."""

from __future__ import annotations

from dataclasses import dataclass

from shared.reports.bounce_tokens import token, verp_address
from support.bounce_reports import (
    Recipient,
    delivery_status,
    feedback_report,
    qmail_bounce,
    vacation,
)

BOUNCES = "bounces@mail.outpost.test"
# A key that is not SECRET_KEY: what a forger signs a token with.
FORGERS_KEY = "the forger's own key, not SECRET_KEY"
# What a report can be: RFC 3464, RFC 5965, a bounce in no standard form, an RFC 3834 reply.
KINDS = ("delivery_status", "feedback", "bounce", "auto_reply")
# The kinds that quote the original's Message-ID (the others name no message but by the token).
QUOTING = ("delivery_status", "feedback")
# Which bounce address, recipient and message a forged report names (see `Forgery.naming`).
NAMINGS = (
    "made_up_token",
    "her_address_as_verp",
    "her_id_his_signature",
    "his_token_her_recipient",
    "his_token_her_message",
    "no_token",
    "his_own",
)


@dataclass(frozen=True)
class Mail:
    """A mail that reached someone: its envelope sender (its bounce address) and Message-ID."""

    sender: str
    message_id: str


@dataclass(frozen=True)
class Forgery:
    """What the attacker holds: a mail he received and its recipient (his address), and what
    he knows of hers (her address, the delivery id of a message to her)."""

    his: Mail
    his_address: str
    her_address: str
    her_id: str

    def naming(self, naming: str) -> tuple[str, str, str]:
        """The bounce address a report goes to, the recipient it reports and the Message-ID
        it quotes: a token signed with another key; her address in the classic VERP form; his
        token's signature under her message's id; his token about her address; his token
        quoting her message; no token at all; and his own mail, as its real report would."""
        local, _, domain = self.his.sender.rpartition("@")
        base, _, his_token = local.partition("+")
        hers = self.his.message_id.replace(_public_id(self.his.message_id), self.her_id)
        her_local, _, her_domain = self.her_address.partition("@")
        spliced = f"{base}+{token(self.her_id, FORGERS_KEY)[:26]}{his_token[26:]}@{domain}"
        return {
            "made_up_token": (
                verp_address(BOUNCES, self.her_id, FORGERS_KEY),
                self.her_address,
                hers,
            ),
            "her_address_as_verp": (
                f"{base}+{her_local}={her_domain}@{domain}",
                self.her_address,
                hers,
            ),
            "her_id_his_signature": (spliced, self.her_address, hers),
            "his_token_her_recipient": (self.his.sender, self.her_address, self.his.message_id),
            "his_token_her_message": (self.his.sender, self.his_address, hers),
            "no_token": (BOUNCES, self.her_address, hers),
            "his_own": (self.his.sender, self.his_address, self.his.message_id),
        }[naming]


def _public_id(message_id: str) -> str:
    """The delivery id in an Outpost Message-ID (`<id@domain>`)."""
    return message_id.strip("<>").partition("@")[0]


def report(kind: str, to: str, recipient: str, message_id: str) -> bytes:
    """A report of `kind` that came to `to`, about a mail to `recipient` quoting `message_id`
    (an auto-reply comes from `recipient` and quotes nothing)."""
    if kind == "delivery_status":
        envelope_id = _public_id(message_id)
        raw = delivery_status(
            to, [Recipient(recipient)], envelope_id=envelope_id, message_id=message_id
        )
    elif kind == "feedback":
        raw = feedback_report(to, recipient, message_id=message_id)
    elif kind == "bounce":
        raw = qmail_bounce(to, recipient)
    else:
        raw = vacation(to, recipient)
    return f"Delivered-To: {to}\r\n".encode() + raw
