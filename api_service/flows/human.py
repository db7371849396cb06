"""The human check, when CAPTCHA_URL asks for one: the first step of every flow that sends."""

from __future__ import annotations

from api_service.flows.commands import CodeRequest
from api_service.flows.dependencies import Dependencies


def check_human(deps: Dependencies, request: CodeRequest) -> None:
    """Refuse the request unless its `captcha_token` passes: before any password is hashed,
    any limit counted or anything written, so a bot costs one request, never an argon2 hash."""
    if deps.human_check is not None:
        deps.human_check.verify(request.captcha_token)
