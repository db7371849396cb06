"""Mail providers' webhooks as each provider signs and posts them (fixtures in
tests/fixtures/<provider>/, shaped on the provider's published examples), and the keys the API
is given to verify them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook
from werkzeug.test import TestResponse

from support.sns import TOKEN, basic

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
_SENDGRID = ec.generate_private_key(ec.SECP256R1())
_FORGER = ec.generate_private_key(ec.SECP256R1())
SENDGRID_KEY = base64.b64encode(
    _SENDGRID.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend's signing secret, 32 bytes").decode()
_WRONG_SECRET = "whsec_" + base64.b64encode(b"someone else's secret, 32 bytes!").decode()
ENV = {
    "PROVIDER_EVENTS_TOKEN": TOKEN,
    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_KEY,
    "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
}


def fixture(provider: str, name: str, **values: str) -> bytes:
    """Fixture `name` of `provider`, its placeholders filled, compact as providers post it."""
    text = (FIXTURES / provider / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return json.dumps(json.loads(text)).encode()


@dataclass(frozen=True)
class Signed:
    """A post as its provider sends it: the body and the headers that sign it."""

    body: bytes
    headers: dict[str, str]


def mailgun(
    body: bytes, *, wrong: bool = False, token: str | None = None, at: float | None = None
) -> Signed:
    """The payload with its `signature` replaced by one under MAILGUN_KEY (or another key)."""
    payload = json.loads(body)
    stamp, token = str(int(time.time() if at is None else at)), token or uuid.uuid4().hex
    key = ("wrong-" if wrong else "") + MAILGUN_KEY
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
    return Signed(json.dumps(payload).encode(), {})


def sendgrid(body: bytes, *, wrong: bool = False) -> Signed:
    """Signed as SendGrid signs: ECDSA P-256 over the timestamp and the body."""
    stamp = str(int(time.time()))
    key = _FORGER if wrong else _SENDGRID
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return Signed(
        body,
        {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )


def postmark(body: bytes, *, wrong: bool = False) -> Signed:
    """With the provider-events token (or another) as the Basic password."""
    return Signed(body, basic("not-the-provider-events-token" if wrong else TOKEN))


def resend(body: bytes, *, wrong: bool = False, at: float | None = None) -> Signed:
    """Signed by the Standard Webhooks reference library, as Svix signs for Resend."""
    when = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    event_id = f"msg_{uuid.uuid4().hex}"
    signer = Webhook(_WRONG_SECRET if wrong else RESEND_SECRET)
    return Signed(
        body,
        {
            "svix-id": event_id,
            "svix-timestamp": str(int(when.timestamp())),
            "svix-signature": signer.sign(event_id, when, body.decode()),
        },
    )


SIGNERS: dict[str, Callable[..., Signed]] = {
    "mailgun": mailgun,
    "sendgrid": sendgrid,
    "postmark": postmark,
    "resend": resend,
}


def post(
    api: FlaskClient, provider: str, signed: Signed, client: str = "127.0.0.1"
) -> TestResponse:
    """Post `signed` to the provider's route, as JSON, from the address `client`."""
    return api.post(
        f"/v1/provider-events/{provider}",
        data=signed.body,
        headers={**signed.headers, "Content-Type": "application/json"},
        environ_base={"REMOTE_ADDR": client},
    )
