"""The dashboard's page of a message shows what providers reported about it after they took it:
each report's kind (a transient bounce reads as a delay, never as a failure), time, source and
status text as the provider wrote it, escaped."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from outbox_relay.relay import Relay
from support.dashboard import signed_in
from support.smtp_sink import SinkServer
from support.sns import BEARER, sent_activation

# Each report, in the order posted: Outpost's own format, and the kind the page names it by.
REPORTS = [
    ("delivery", False, "smtp; 250 2.0.0 <ann@example.com> taken as <b>ok</b>", "delivery"),
    ("bounce", False, "smtp; 451 4.2.0 <ann@example.com>: mailbox busy", "delay"),
    ("bounce", True, "smtp; 550 5.1.1 <ann@example.com> <script>alert(1)</script>", "bounce"),
    ("complaint", True, "abuse & <i>spam</i>", "complaint"),
]
# Each row of the reports' table: its time, its kind's classes and name, source, status text.
ROW = re.compile(
    r'<td data-label="At">([^<]+)</td>\s*<td data-label="Report"><span class="([^"]+)">([^<]+)'
    r'</span></td>\s*<td data-label="Source">([^<]+)</td><td class="said" data-label="Status">'
    r"(.*?)</td>",
    re.S,
)


def test_the_page_of_a_message_shows_each_report_a_delay_as_a_delay(
    api: FlaskClient, relay: Relay, smtp: SinkServer
) -> None:
    delivery_id = sent_activation(api, relay, smtp, "ann@example.com")
    signed_in(api)
    empty = api.get(f"/admin/dead/{delivery_id}").get_data(as_text=True)
    assert 'id="no-provider-events"' in empty and 'id="provider-events"' not in empty
    for kind, permanent, diagnostic, _ in REPORTS:
        event = {"type": kind, "delivery_id": delivery_id, "permanent": permanent}
        answer = api.post(
            "/v1/provider-events",
            json={"events": [{**event, "diagnostic": diagnostic}]},
            headers=BEARER,
        )
        assert answer.get_json() == {"accepted": 1, "unknown": 0}

    page = api.get(f"/admin/dead/{delivery_id}").get_data(as_text=True)
    table = page.split('id="provider-events"')[1].split("</table>")[0]
    shown = [(classes, name, source, said) for _, classes, name, source, said in ROW.findall(table)]
    assert shown == [
        ("report delivery", "delivery", "outpost", html.escape(REPORTS[0][2])),
        ("report delay", "delay", "outpost", html.escape(REPORTS[1][2])),
        ("report bounce failed", "bounce", "outpost", html.escape(REPORTS[2][2])),
        ("report complaint failed", "complaint", "outpost", html.escape(REPORTS[3][2])),
    ]
    times = [at for at, *_ in ROW.findall(table)]
    assert times == sorted(times) and all(at.endswith("UTC") for at in times), times
    assert "<script>" not in page and "<b>ok" not in page
