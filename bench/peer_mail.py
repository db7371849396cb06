"""The activation mail of the peers' workers and the bare loop: Outpost's rendering, over smtplib.

A job queue plus one's own code would render the mail in its task; here that code is Outpost's
own compose() (the same template, layout and size as the relay's), so that the peers differ
from Outpost in how a job reaches the sender, not in what it sends.
"""

from __future__ import annotations

import json
import smtplib
import threading
from datetime import UTC, datetime, timedelta

from outbox_relay.channels import Email
from outbox_relay.claims import Claimed
from outbox_relay.compose import compose
from outbox_relay.render import Templates
from shared.messaging.outbox import Channel, Purpose
from shared.secrets.secretbox import SecretBox
from shared.settings.mail_values import mail_from
from support.constants import SECRET_KEY

_TEMPLATES = Templates()
_BOX = SecretBox(SECRET_KEY)


def payload(key: str, recipient: str, code: str) -> bytes:
    """A job's payload: the message's key (its Message-ID's local part), recipient and code."""
    return json.dumps({"key": key, "to": recipient, "code": code}).encode()


def activation(job: bytes, domain: str) -> Email:
    """The activation mail of a job's payload, from no-reply@`domain`."""
    fields = json.loads(job)
    row = Claimed(
        id=0,
        public_id=fields["key"],
        channel=Channel.EMAIL,
        purpose=Purpose.ACTIVATION,
        recipient=fields["to"],
        locale="en",
        template="activation",
        params={"expires_minutes": 60, "code": fields["code"]},
        secret_params=None,
        attempts=0,
        expires_at=None,
        locked_until=datetime.now(UTC) + timedelta(minutes=5),
        claim_token="",
        user_id=None,
        priority=0,
    )
    message = compose(row, _BOX, mail_from(f"Outpost <no-reply@{domain}>"), _TEMPLATES)
    assert isinstance(message, Email)
    return message


class Mailer:
    """Sends jobs' activation mails, each thread over an SMTP session of its own that it
    keeps open (as the relay keeps its sessions)."""

    def __init__(self, port: int, domain: str) -> None:
        self._port = port
        self._domain = domain
        self._local = threading.local()

    def send(self, job: bytes) -> None:
        """Render and send one job's mail."""
        email = activation(job, self._domain)
        session: smtplib.SMTP | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = smtplib.SMTP("127.0.0.1", self._port)
        session.sendmail(email.sender, [email.recipient], email.data)
