"""The demo's own pages, served by `outpost up` beside the API on a loopback host only: the
caught mail (/dev/mail), a reference sign-up page (/dev/signup) using the public API, and the
dashboard's one-click sign-in (/dev/sign-in)."""

from __future__ import annotations

import email
import email.policy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from api_service import create_app
from api_service.dependencies import dependencies
from shared.database.models import outbox
from shared.messaging.outbox import Purpose
from shared.settings.captcha_url import CaptchaKind
from shared.settings.config_values import loopback
from shared.settings.processes import OUTPOST_DEMO_HOST, OUTPOST_DEMO_MAIL_DIR

CODE = re.compile(r"\b\d{6}\b")
NAME = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{4}\Z")
MESSAGE_ID = re.compile(r"^<([^@<>]+)@")
# The sign-up page's fields a mail's code goes into, by the purpose of the mail.
CODE_FIELDS: dict[str, str] = {
    Purpose.ACTIVATION: "code",
    Purpose.PASSWORD_RESET: "reset_code",
    Purpose.ADDRESS_CHANGE: "change_code",
    Purpose.LOGIN_CODE: "login_code",
}

bp = Blueprint(
    "dev",
    __name__,
    url_prefix="/dev",
    template_folder="templates",
    static_folder="static/dev",
    static_url_path="/static",
)


def create_demo_app(config: Mapping[str, str] | None = None) -> Flask:
    """The API with the demo's pages; they answer 404 unless host and client are loopback."""
    environ = {**os.environ, **(config or {})}
    app = create_app(config)
    app.config["DEMO_MAIL_DIR"] = OUTPOST_DEMO_MAIL_DIR.read(environ)
    app.config["DEMO_ON_LOOPBACK"] = loopback(OUTPOST_DEMO_HOST.read(environ))
    app.register_blueprint(bp)
    app.register_blueprint(root)
    return app


@dataclass(frozen=True)
class CaughtMail:
    """One mail the catcher wrote, as the viewer shows it."""

    id: str
    to: str
    subject: str
    received: datetime
    message: EmailMessage
    purpose: Purpose | None = None

    @property
    def text(self) -> str:
        """The plain-text part."""
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        """The HTML part, shown in a sandboxed frame."""
        part = self.message.get_body(("html",))
        return part.get_content() if part is not None else ""

    @property
    def code(self) -> str | None:
        """The six-digit code the mail carries, if any."""
        found = CODE.search(self.text)
        return found.group() if found else None

    @property
    def public_id(self) -> str | None:
        """The outbox row's public id, left of `@` in the Message-ID."""
        found = MESSAGE_ID.match(str(self.message["Message-ID"] or ""))
        return found.group(1) if found else None

    @property
    def code_link(self) -> str | None:
        """The sign-up page with this mail's address and code in the fragment, sent nowhere."""
        field = CODE_FIELDS.get(self.purpose or "")
        if field is None or self.code is None:
            return None
        return "/dev/signup#" + urlencode({"email": self.to, field: self.code})


# `/`, the first address the banner prints: the sign-up page (the API itself has no page there).
root = Blueprint("dev_root", __name__)


@root.get("/")
def to_signup() -> WerkzeugResponse:
    """The demo's front door."""
    return redirect("/dev/signup")


@bp.before_request
@root.before_request
def _loopback_only() -> None:
    """Nowhere but on a loopback host, to a loopback client, by a loopback name: the pages show
    codes, and a page of another site whose name is made to resolve to 127.0.0.1 (DNS
    rebinding) reaches the loopback server from the developer's own browser, but under its
    own name in `Host`."""
    named = urlsplit(f"//{request.host}").hostname or ""
    on_loopback = loopback(request.remote_addr or "") and loopback(named)
    if not current_app.config["DEMO_ON_LOOPBACK"] or not on_loopback:
        abort(404)


@bp.get("/mail")
def mail_list() -> str:
    """The caught mails, newest first."""
    return render_template("dev/mail_list.html", mails=_mails())


@bp.get("/mail/<mail_id>")
def mail_show(mail_id: str) -> str:
    """One caught mail: its HTML in a sandboxed frame, its text with the code marked, headers."""
    if not NAME.match(mail_id):
        abort(404)
    found = [mail for mail in _mails() if mail.id == mail_id]
    if not found:
        abort(404)
    mail = found[0]
    # The text split around its codes, so that the page marks each one.
    pieces = CODE.split(mail.text)
    codes = [*CODE.findall(mail.text), ""]
    return render_template("dev/mail_show.html", mail=mail, pieces=zip(pieces, codes, strict=True))


@bp.get("/sign-in")
def sign_in() -> str:
    """The dashboard's one-click sign-in: a script posts the token from the link's fragment."""
    return render_template("dev/sign_in.html")


# Each provider's widget: its script, and the class of the element it fills in (each
# provider's documented client-side rendering).
WIDGETS = {
    CaptchaKind.TURNSTILE: (
        "https://challenges.cloudflare.com/turnstile/v0/api.js",
        "cf-turnstile",
    ),
    CaptchaKind.HCAPTCHA: ("https://js.hcaptcha.com/1/api.js", "h-captcha"),
    CaptchaKind.RECAPTCHA: ("https://www.google.com/recaptcha/api.js", "g-recaptcha"),
}


@bp.get("/signup")
def signup() -> str:
    """The reference sign-up page: plain HTML and a little JavaScript on the public API, with
    the human check's widget when CAPTCHA_URL and CAPTCHA_SITE_KEY ask for one."""
    settings = current_app.extensions["outpost"].settings
    widget = None
    if settings.captcha is not None and settings.captcha_site_key is not None:
        script, css_class = WIDGETS[settings.captcha.kind]
        widget = {"script": script, "class": css_class, "site_key": settings.captcha_site_key}
    return render_template("dev/signup.html", widget=widget)


def _mails() -> list[CaughtMail]:
    directory: Path = current_app.config["DEMO_MAIL_DIR"]
    mails = [_read(path) for path in directory.glob("*.eml")] if directory.is_dir() else []
    purposes = _purposes({mail.public_id for mail in mails if mail.public_id})
    mails = [replace(mail, purpose=purposes.get(mail.public_id or "")) for mail in mails]
    return sorted(mails, key=lambda mail: (mail.received, mail.id), reverse=True)


def _read(path: Path) -> CaughtMail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return CaughtMail(path.stem, str(message["To"]), str(message["Subject"]), received, message)


def _purposes(public_ids: set[str]) -> dict[str, Purpose]:
    """The purpose of each outbox row named, read from the database the API writes."""
    if not public_ids:
        return {}
    query = select(outbox.c.public_id, outbox.c.purpose).where(outbox.c.public_id.in_(public_ids))
    with dependencies().engine.connect() as connection:
        return {row.public_id: Purpose(row.purpose) for row in connection.execute(query)}
