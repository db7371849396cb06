"""What `outpost up` prints once the stack answers: where everything is, and how to sign in."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from outpost.catcher import LATER_SECONDS
from outpost.kept_secrets import ADMIN_TOKEN_FILE

SIGN_IN_PAGE = "/dev/sign-in"


@dataclass(frozen=True)
class Stack:
    """What the banner describes: the API's base URL and how mail, SMS and the token are set."""

    base: str
    mail: str
    sms: str
    catching: bool
    token_generated: bool
    # Whether the output is the operator's own screen (a terminal), not a log file.
    on_terminal: bool
    on_loopback: bool


def sign_in_link(base: str, token: str) -> str:
    """The demo's one-click sign-in: the token in the fragment, which no browser sends anywhere."""
    return f"{base}{SIGN_IN_PAGE}#token={quote(token, safe='')}"


def banner(stack: Stack, token: str) -> str:
    """The lines printed once the stack is up; the token only on a terminal, in a fragment."""
    base = stack.base
    lines = [
        f"outpost: up. API {base}, {stack.mail}, {stack.sms}. Ctrl-C stops everything.",
        f"  sign up in a browser: {base}/dev/signup; caught mail: {base}/dev/mail",
        f"  operators' dashboard: {_dashboard(stack, token)}",
    ]
    if stack.catching:
        lines.append(
            "  every path: the catcher refuses the first mail to addresses starting 'bounce' "
            "with 550 5.1.1 (dead letter, suppression, stranded account: lift and reissue, and "
            "it arrives), answers those starting 'later' with "
            f"451 4.7.1 (retried) for {LATER_SECONDS:.0f} s after their first try, and takes "
            "those starting 'bounce-later' with 250, then reports them undeliverable by DSN "
            "(sent, then failed, as through a smarthost)"
        )
    lines.append(
        "  try: curl -si -H 'Content-Type: application/json' "
        '-d \'{"email":"you@example.com","password":"a long passphrase"}\' '
        f"{base}/v1/registrations"
    )
    return "\n".join(lines)


def _dashboard(stack: Stack, token: str) -> str:
    """How to reach the dashboard: one click when the token may be shown, else where it is kept."""
    page = f"{stack.base}/admin/sign-in"
    if not stack.token_generated:
        return f"{page}, with your ADMIN_TOKEN"
    if stack.on_terminal and stack.on_loopback:
        return f"{sign_in_link(stack.base, token)} (one click signs you in)"
    return f"{page}, with the token kept in {ADMIN_TOKEN_FILE} (not printed outside a terminal)"
