"""Reports by mail as servers write them, for tests: RFC 3464's example delivery status
notifications (its appendix, "Simple DSN" and "DSN with multiple recipients") and RFC 5965's
example feedback report, their addresses and ids made ours; a qmail bounce (no standard form)
and a vacation auto-reply (RFC 3834)."""

from __future__ import annotations

from dataclasses import dataclass

BOUNDARY = "RAA14128.773615765/CS.UTK.EDU"


@dataclass(frozen=True)
class Recipient:
    """One per-recipient block: the address, RFC 3464's Action and Status, and what the
    remote server said."""

    address: str
    action: str = "failed"
    status: str = "5.1.1"
    diagnostic: str = "smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def _lines(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


def _block(recipient: Recipient) -> str:
    diagnostic = recipient.diagnostic.format(address=recipient.address)
    return (
        f"Original-Recipient: rfc822;{recipient.address}\n"
        f"Final-Recipient: rfc822;{recipient.address}\n"
        f"Action: {recipient.action}\n"
        f"Status: {recipient.status}\n"
        f"Diagnostic-Code: {diagnostic}\n"
        "Last-Attempt-Date: Thu, 7 Jul 1994 17:15:49 -0400\n"
    )


def delivery_status(
    to: str,
    recipients: list[Recipient],
    *,
    envelope_id: str | None = None,
    message_id: str | None = None,
    delivered_to: str | None = None,
) -> bytes:
    """RFC 3464's "Simple DSN" to `to` (the envelope sender it goes back to) about
    `recipients`, quoting the original's headers (RET=HDRS) with `message_id`."""
    envelope = f"Original-Envelope-Id: {envelope_id}\n" if envelope_id else ""
    blocks = "\n".join(_block(recipient) for recipient in recipients)
    delivered = f"Delivered-To: {delivered_to}\n" if delivered_to else ""
    quoted = f"Message-ID: {message_id}\n" if message_id else ""
    return _lines(
        f"""{delivered}Date: Thu, 7 Jul 1994 17:16:05 -0400
From: Mail Delivery Subsystem <MAILER-DAEMON@CS.UTK.EDU>
Message-Id: <199407072116.RAA14128@CS.UTK.EDU>
Subject: Returned mail: Cannot send message for 5 days
To: <{to}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
     boundary="{BOUNDARY}"

--{BOUNDARY}

The original message was received at Sat, 2 Jul 1994 17:10:28 -0400
from root@localhost

   ----- The following addresses had delivery problems -----
<{recipients[0].address}>  (unrecoverable error)

--{BOUNDARY}
content-type: message/delivery-status

Reporting-MTA: dns; cs.utk.edu
{envelope}
{blocks}
--{BOUNDARY}
content-type: text/rfc822-headers

From: Outpost <no-reply@outpost.test>
To: {recipients[0].address}
Subject: Welcome
{quoted}
--{BOUNDARY}--
"""
    )


def feedback_report(to: str, recipient: str, *, message_id: str | None = None) -> bytes:
    """RFC 5965's example abuse report (its appendix B.2), about a mail to `recipient`."""
    quoted = f"Message-ID: {message_id}\n" if message_id else ""
    return _lines(
        f"""From: <abusedesk@example.com>
Date: Thu, 8 Mar 2005 17:40:36 EDT
Subject: FW: Earn money
To: <{to}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.  For more information
about this format please see http://www.mipassoc.org/arf/.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{to}>
Original-Rcpt-To: <{recipient}>
Received-Date: Thu, 8 Mar 2005 14:00:00 EDT
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <no-reply@outpost.test>
Received: from mailserver.example.net (mailserver.example.net
        [192.0.2.1]) by example.com with ESMTP id M63d4137594e46;
        Thu, 08 Mar 2005 14:00:00 -0400
To: <{recipient}>
Subject: Earn money
MIME-Version: 1.0
Content-type: text/plain
{quoted}Date: Thu, 02 Sep 2004 12:31:03 -0500

Spam Spam Spam

--part1_13d.2e68ed54_boundary--
"""
    )


def qmail_bounce(to: str, recipient: str) -> bytes:
    """A bounce in no standard form, as qmail-send writes it."""
    return _lines(
        f"""From: MAILER-DAEMON@mail.example.org
To: {to}
Subject: failure notice

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Subject: Welcome
"""
    )


def vacation(to: str, recipient: str) -> bytes:
    """An auto-reply (RFC 3834) from `recipient`, naming itself as a bounce would."""
    return _lines(
        f"""From: {recipient}
To: {to}
Subject: Out of office: Welcome
Auto-Submitted: auto-replied

I am away until Monday; <{recipient}> is not read meanwhile.
"""
    )
