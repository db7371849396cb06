"""Every public request that names a phone number, for the rules that apply to all of them."""

from __future__ import annotations

from typing import Any

PASSWORD = "correct horse battery staple"


def requests_naming(phone: str) -> list[tuple[str, dict[str, Any]]]:
    """Each public route and a body naming `phone` (a registration twice: alone, with email)."""
    return [
        ("/v1/registrations", {"phone": phone, "password": PASSWORD}),
        ("/v1/registrations", {"email": "ada@example.com", "phone": phone, "password": PASSWORD}),
        ("/v1/activations/resend", {"phone": phone}),
        ("/v1/activations", {"phone": phone, "code": "123456"}),
        ("/v1/password-resets", {"phone": phone}),
        (
            "/v1/password-resets/confirm",
            {"phone": phone, "code": "123456", "new_password": PASSWORD},
        ),
        ("/v1/logins", {"phone": phone, "password": PASSWORD}),
    ]
