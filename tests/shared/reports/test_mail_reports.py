"""Reading reports by mail: what no mail is (parts nested without end too), and a mail a bounce
detector misreads, each read without an error escaping."""

from __future__ import annotations

import pytest

from shared.reports.mail_reports import NotAMail, ReportKind, read_mail
from support.bounce_reports import Recipient, delivery_status


@pytest.mark.parametrize("raw", [b"", b"not a mail\r\n", b"\x00\x01\x02", b"\r\n\r\nbody"])
def test_what_holds_no_header_is_no_mail(raw: bytes) -> None:
    with pytest.raises(NotAMail):
        read_mail(raw)


def test_a_mail_a_detector_misreads_is_other_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """flufl.bounce's Yale detector raises IndexError on an empty From:."""
    raw = b"From:\r\nTo: bounces@example.com\r\nSubject: hm\r\n\r\nA line.\r\n"
    assert read_mail(raw).kind == ReportKind.OTHER
    assert caplog.records == []


def test_parts_nested_without_end_are_no_mail() -> None:
    parts = b"".join(
        f"--b{n}\r\nContent-Type: multipart/mixed; boundary=b{n + 1}\r\n\r\n".encode()
        for n in range(3000)
    )
    raw = b"Content-Type: multipart/mixed; boundary=b0\r\nSubject: deep\r\n\r\n" + parts
    with pytest.raises(NotAMail, match="nested too deeply"):
        read_mail(raw)


def test_an_mbox_from_line_before_the_headers_is_skipped() -> None:
    report = delivery_status("bounces@example.com", [Recipient("jane@example.com")])
    read = read_mail(b"From MAILER-DAEMON Thu Jul  7 17:16:05 1994\n" + report)
    assert read.kind == ReportKind.DELIVERY_STATUS
    assert [finding.recipient for finding in read.findings] == ["jane@example.com"]
