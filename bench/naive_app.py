"""The peer: hash, user and code in one transaction, and the email sent after the answer.

What seed 000 settled for, which bench/register.py sets Outpost against under the same
gunicorn settings: a Flask app that hashes the password (argon2id, the same parameters),
inserts the user and an HMAC of its activation code in one transaction, answers 202, and hands
the email to a background thread of its worker (FastAPI's BackgroundTasks, in Flask): one SMTP
connection a message, to the port in `SMTP_PORT`. Nothing survives that thread's death, no
throttle, no idempotency, no validation beyond the two fields: what Outpost adds is the price
of never losing a message.
"""

from __future__ import annotations

import os
import smtplib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from functools import cache

from flask import Flask, Response, jsonify, request
from sqlalchemy import Engine, insert

from api_service.flows.passwords import make_hasher
from shared.clock import utcnow
from shared.database.db import create_engine_for
from shared.database.models import users, verification_tokens
from shared.secrets.codes import code_hmac, new_code
from shared.vocabulary import Purpose

ACTIVATION_TTL = timedelta(days=1)
_INSERT_USER = insert(users).returning(users.c.id)
_INSERT_TOKEN = insert(verification_tokens)

app = Flask(__name__)
_hasher = make_hasher()


@cache
def _engine() -> Engine:
    # Made in the worker, after gunicorn forked it.
    return create_engine_for(os.environ["DATABASE_URL"])


@cache
def _background() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(4, thread_name_prefix="mail")


@app.get("/readyz")
def ready() -> Response:
    """Up (the bench waits for this)."""
    return jsonify(status="ready")


@app.post("/v1/registrations")
def register() -> tuple[Response, int]:
    """Hash, insert the user and its code, answer; the mail goes after the answer."""
    body = request.get_json()
    email, password = str(body["email"]), str(body["password"])
    password_hash = _hasher.hash(password)
    code, now = new_code(), utcnow()
    with _engine().begin() as connection:
        user_id = connection.execute(
            _INSERT_USER,
            {
                "email": email,
                "password_hash": password_hash,
                "locale": "en",
                "status": "pending",
                "created_at": now,
            },
        ).scalar_one()
        connection.execute(
            _INSERT_TOKEN,
            {
                "user_id": user_id,
                "purpose": "activation",
                "code_hmac": code_hmac(os.environ["SECRET_KEY"], user_id, Purpose.ACTIVATION, code),
                "status": "active",
                "failed_attempts": 0,
                "created_at": now,
                "expires_at": now + ACTIVATION_TTL,
            },
        )
    _background().submit(_send, email, code)
    return jsonify(status="pending_activation"), 202


def _send(to: str, code: str) -> None:
    """The activation email, over a connection of its own."""
    message = EmailMessage()
    message["From"] = "Naive <no-reply@naive.test>"
    message["To"] = to
    message["Subject"] = "Your activation code"
    message.set_content(f"Your activation code is {code}. It expires in 24 hours.\n")
    with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=30) as smtp:
        smtp.send_message(message)
