"""`outpost check`'s SMTP providers: a session opened as the relay opens one, each fault named as
the setting that fixes it rather than as Python's exception, and `--send-test`'s one real mail."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid

from outbox_relay.channels import Email
from outbox_relay.channels.smtp import SmtpChannel
from outbox_relay.failures import DeliveryFailure
from outpost.finding import Finding
from shared.accounts.addresses import Sender
from shared.settings.smtp_url import SmtpSettings, StartTls

# OpenSSL's verify results (X509_V_ERR_*) that name their own fix.
_EXPIRED = 10
_NOT_FOR_THIS_NAME = {62, 64}  # hostname, IP address mismatch
_AUTH_REFUSED = 535


def subject(variable: str, smtp: SmtpSettings) -> str:
    """How a provider is named in check's lines: the variable, user and address, no password."""
    user = f"{smtp.username}@" if smtp.username else ""
    return f"{variable} {user}{smtp.host}:{smtp.port}"


def greeted(variable: str, smtp: SmtpSettings) -> Finding:
    """A session opened as the relay opens one (connect, EHLO, STARTTLS, AUTH), no message
    sent; the step that failed and its fix, within the URL's timeout."""
    try:
        encrypted = SmtpChannel(smtp).greet()
    except DeliveryFailure as failure:
        return Finding.refused(subject(variable, smtp), fault(variable, smtp, failure))
    steps = ["TLS" if smtp.implicit_tls else "connected", "EHLO"]
    if encrypted and not smtp.implicit_tls:
        steps.append("STARTTLS")
    if smtp.username is not None:
        steps.append(f"AUTH as {smtp.username}")
    clear = "" if encrypted else " (no TLS: messages go in clear)"
    if not encrypted and smtp.starttls is StartTls.IF_OFFERED:
        clear = " (STARTTLS not offered: messages go in clear)"
    return Finding(subject(variable, smtp), f"ok, {', '.join(steps)}{clear}; no message sent")


def sent(variable: str, smtp: SmtpSettings, mail_from: Sender, address: str) -> Finding:
    """`--send-test ADDRESS`: one real mail through the provider, as the relay sends one."""
    named = f"{subject(variable, smtp)}: test mail to {address}"
    channel = SmtpChannel(smtp)
    try:
        provider_id = channel.send(_test_mail(smtp, mail_from, address), time.monotonic() + 60)
    except DeliveryFailure as failure:
        return Finding.refused(named, fault(variable, smtp, failure))
    finally:
        channel.close()
    taken = f" (its id: {provider_id})" if provider_id else ""
    return Finding(named, f"ok, the server took it{taken}; see that it arrives")


def fault(variable: str, smtp: SmtpSettings, failure: DeliveryFailure) -> str:
    """What to fix for a session that failed: the setting to change, and what was said."""
    cause = failure.__cause__
    where = f"{smtp.host}:{smtp.port}"
    host_and_port = f"check the host and the port in {variable}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _untrusted(variable, smtp, cause)
    if isinstance(cause, ssl.SSLError):
        return (
            f"TLS failed ({cause.reason or cause}): smtps:// is TLS from the first byte (port "
            f"465), smtp:// starts it with STARTTLS (ports 587, 25); {host_and_port}"
        )
    if isinstance(cause, ConnectionRefusedError):
        return f"nothing listens at {where} (connection refused): {host_and_port}"
    if isinstance(cause, socket.gaierror):
        return f"{smtp.host} is not a name this host can resolve: check the host in {variable}"
    if isinstance(cause, TimeoutError) or "timed out" in str(cause):
        return (
            f"no SMTP answer from {where} within {smtp.timeout:g}s: {host_and_port} (a port "
            "that speaks TLS from the first byte, 465, takes smtps://), and that no firewall "
            "drops the connection"
        )
    if isinstance(cause, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({failure.description}): {host_and_port}"
    if failure.description.startswith(f"SMTP {_AUTH_REFUSED} "):
        return f"the server refused the user and password in {variable}: {failure.description}"
    # smtplib's own errors are OSErrors too: a server's reply is quoted as it said it.
    if isinstance(cause, OSError) and not isinstance(cause, smtplib.SMTPException):
        return f"{cause.strerror or cause} reaching {where}: {host_and_port}"
    return failure.description


def _untrusted(variable: str, smtp: SmtpSettings, cause: ssl.SSLCertVerificationError) -> str:
    """A certificate the relay would refuse, and which setting makes it one it accepts."""
    said = cause.verify_message
    if cause.verify_code in _NOT_FOR_THIS_NAME:
        return (
            f"the server's certificate is not for {smtp.host} ({said}): name in {variable} "
            "the host its certificate is for"
        )
    if cause.verify_code == _EXPIRED:
        return f"the server's certificate has expired ({said}): the server must renew it"
    return (
        f"the server's certificate is not trusted ({said}): set SSL_CERT_FILE to the file of "
        "the CA that signed it (a private CA), or have the server send its whole chain"
    )


def _test_mail(smtp: SmtpSettings, mail_from: Sender, address: str) -> Email:
    """A short plain mail from MAIL_FROM saying where it came through."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((mail_from.name, mail_from.address))
    message["To"] = address
    message["Subject"] = "Outpost test mail"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("outpost-check", mail_from.domain)
    message.set_content(
        f"`outpost check --send-test` sent this mail through {smtp.host}:{smtp.port}, as the "
        "relay sends Outpost's mail: it reached you.\n"
    )
    return Email(
        id="outpost-check",
        sender=mail_from.address,
        recipient=address,
        data=message.as_bytes(),
    )
