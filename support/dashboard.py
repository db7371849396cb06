"""Signing in to the operators' dashboard through the Flask test client."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from support.constants import ADMIN_TOKEN


def sign_in(client: FlaskClient, token: str = ADMIN_TOKEN, **form: str) -> TestResponse:
    """Post the sign-in form."""
    return client.post("/admin/sign-in", data={"token": token, **form})


def csrf_of(client: FlaskClient, path: str = "/admin") -> str:
    """The CSRF token the forms of a page carry."""
    page = client.get(path)
    assert page.status_code == 200
    found = set(re.findall(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)))
    assert len(found) == 1
    return str(found.pop())


def signed_in(client: FlaskClient) -> str:
    """Sign in; the session's CSRF token."""
    assert sign_in(client).status_code == 303
    return csrf_of(client)
