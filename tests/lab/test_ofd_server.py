"""The OFD emulator on its own: hand-built FN messages over TCP, pages over HTTP, e-receipts to the sink.

Documents are built here from the tag tables (ffd-receipt.md §3) so that every expected value is known
by hand; the FN-to-OFD chain with the real FN emulator and driver is in tests/fiscal/test_ofd_drain.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from register.fiscal.ofd_client import OfdClient, OfdRefused
from register.fiscal.ofd_container import OfdMessage, OfdReceipt
from register.fiscal.ofd_links import LinkTemplateError
from register.fiscal.qr import fp_to_1077
from register.fiscal.tlv import (
    byte_tlv,
    bytes_tlv,
    fvln_tlv,
    stlv,
    string_tlv,
    u32_tlv,
    unixtime_tlv,
    vln_tlv,
)
from register.lab.fn_emulator import DEFAULT_KEY
from register.lab.ofd_mailer import DEFAULT_SENDER
from register.lab.ofd_pages import NOT_FOUND_TITLE, TEST_MARK
from register.lab.ofd_server import OfdServer
from register.lab.ofd_store import Channel, DocumentKey, NoticeState
from register.lab.smtp_sink import SmtpSink

FN = "9999078900004312"
OTHER_FN = "9999000000000001"
CLOCK = datetime(2026, 3, 2, 12, 0)
CLOCK_DATE_TIME = bytes([0x1A, 0x03, 0x02, 0x0C, 0x00])  # 2026-03-02 12:00 (fn-protocol.md §4)
SOLD_AT = datetime(2026, 3, 2, 10, 1)
SENDER = "noreply@shop.example"
DEADLINE = 10.0


def item(name: str = "Молоко") -> bytes:
    """89.90 RUB × 2 = 179.80 RUB at VAT 22 % (1199 = 11): VAT 179.80 × 22 / 122 = 32.42 (§4)."""
    return stlv(
        1059,
        [
            string_tlv(1030, name),
            vln_tlv(1079, 8990),
            fvln_tlv(1023, 2, 0),
            vln_tlv(1043, 17980),
            byte_tlv(1199, 11),
            vln_tlv(1200, 3242),
            byte_tlv(1214, 4),
            byte_tlv(1212, 1),
            byte_tlv(2108, 0),
        ],
    )


def receipt_document(
    fd: int,
    fp: int,
    *,
    fn: str = FN,
    contact: str | None = None,
    sender: str | None = SENDER,
    name: str = "Молоко",
    with_fp: bool = True,
) -> bytes:
    parts = [
        string_tlv(1048, "ООО Ромашка"),
        string_tlv(1018, "7701234560"),
        byte_tlv(1054, 1),
        byte_tlv(1055, 1),
        item(name),
        vln_tlv(1020, 17980),
        vln_tlv(1031, 17980),
        vln_tlv(1102, 3242),
        unixtime_tlv(1012, SOLD_AT),
        u32_tlv(1040, fd),
        string_tlv(1041, fn),
    ]
    if contact is not None:
        parts.append(string_tlv(1008, contact))
        if sender is not None:
            parts.append(string_tlv(1117, sender))
    if with_fp:
        parts.append(bytes_tlv(1077, fp_to_1077(fp)))
    return stlv(3, parts)


def registration_document(fd: int, fp: int, *, sender: str | None) -> bytes:
    parts = [string_tlv(1048, "ООО Ромашка"), string_tlv(1037, "0000000001012345"), u32_tlv(1040, fd)]
    if sender is not None:
        parts.append(string_tlv(1117, sender))
    parts += [string_tlv(1041, FN), bytes_tlv(1077, fp_to_1077(fp))]
    return stlv(1, parts)


def message(fd: int, document: bytes, fn: str = FN) -> bytes:
    return OfdMessage(fn, fd, document).encode()


def expected_receipt(fd: int, fn: str = FN) -> bytes:
    """ofd_container's receipt layout, signed by hand with the key shared with the FN emulator."""
    signed = b"OFDR1" + fn.encode() + struct.pack("<I", fd) + CLOCK_DATE_TIME
    return signed + hmac.new(DEFAULT_KEY, signed, hashlib.sha256).digest()[:18]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock(CLOCK)


@pytest.fixture
def ofd(tmp_path: Path, sink: SmtpSink, clock: Clock) -> Iterator[OfdServer]:
    with OfdServer(tmp_path / "ofd", smtp=sink.address, clock=clock) as server:
        yield server


def client(server: OfdServer) -> OfdClient:
    assert server.addresses is not None
    return OfdClient(server.addresses.client_uri, timeout=DEADLINE)


def tcp_connect(server: OfdServer) -> socket.socket:
    assert server.addresses is not None
    host, port = server.addresses.tcp.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=DEADLINE)
    return conn


def read_frame(conn: socket.socket) -> bytes | None:
    header = read_exactly(conn, 4)
    if header is None:
        return None
    body = read_exactly(conn, struct.unpack("<I", header)[0])
    assert body is not None
    return body


def read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def frame(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


# --- the TCP exchange ------------------------------------------------------------------------------


def test_the_answer_is_the_signed_ofd_receipt(ofd: OfdServer) -> None:
    answer = client(ofd).exchange(message(3, receipt_document(3, 123456789)))
    assert answer == expected_receipt(3)
    decoded = OfdReceipt.decode(answer)
    assert (decoded.fn_number, decoded.fd, decoded.when) == (FN, 3, CLOCK)
    assert decoded.sign_is_valid(DEFAULT_KEY)


def test_a_resent_document_is_stored_once_and_answered_as_the_first_time(
    ofd: OfdServer, clock: Clock
) -> None:
    first = client(ofd).exchange(message(3, receipt_document(3, 123456789)))
    clock.now = datetime(2026, 3, 3, 9, 30)
    again = client(ofd).exchange(message(3, receipt_document(3, 123456789)))
    assert again == first
    stored = ofd.store.document(DocumentKey(FN, 3, 123456789))
    assert stored is not None
    assert (stored.times_received, stored.received_at) == (2, CLOCK)
    assert ofd.store.count() == 1


def test_the_same_fd_with_another_fiscal_sign_is_another_document(ofd: OfdServer) -> None:
    """A debug FN reset (60h) numbers FDs from 1 again: FN, FD and FP together name a document."""
    client(ofd).exchange(message(1, receipt_document(1, 111)))
    client(ofd).exchange(message(1, receipt_document(1, 222, name="Кефир")))
    assert ofd.store.count() == 2
    assert httpx.get(ofd.receipt_url(FN, 1, 222)).text.count("Кефир") == 1


def test_one_connection_carries_several_exchanges(ofd: OfdServer) -> None:
    with tcp_connect(ofd) as conn:
        conn.sendall(frame(message(3, receipt_document(3, 1))) + frame(message(4, receipt_document(4, 2))))
        assert read_frame(conn) == expected_receipt(3)
        assert read_frame(conn) == expected_receipt(4)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty message"),
        (b"HELLO", "shorter than its header"),
        (b"XXXXX1" + FN.encode() + bytes(4) + bytes(4), "expected b'FNOFD1'"),
        (message(3, receipt_document(3, 1, with_fp=False)), r"no fiscal sign \(1077\)"),
        (message(3, receipt_document(3, 1, fn=OTHER_FN)), r"says FN \(1041\)"),
        (message(4, receipt_document(3, 1)), r"says FD \(1040\) 3"),
        (message(3, stlv(3, [b"\x01\x00\xff\xff"])), "document TLV unreadable"),
        (message(3, stlv(9999, [])), "not one STLV of a known document form"),
    ],
)
def test_a_message_the_ofd_cannot_read_is_refused_with_a_reason(
    ofd: OfdServer, body: bytes, reason: str
) -> None:
    with tcp_connect(ofd) as conn:
        conn.sendall(frame(body))
        answer = read_frame(conn)
        assert answer is not None and answer.startswith(b"OFDERR")
        assert re.search(reason, answer[6:].decode())
        conn.sendall(frame(message(3, receipt_document(3, 1))))  # the connection is still usable
        assert read_frame(conn) == expected_receipt(3)
    assert ofd.store.count() == 1


def test_a_refusal_reaches_the_client_as_ofd_refused(ofd: OfdServer) -> None:
    with pytest.raises(OfdRefused, match="expected b'FNOFD1'"):
        client(ofd).exchange(b"X" * 40)


def test_other_content_under_a_stored_key_is_refused(ofd: OfdServer) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 1)))
    with pytest.raises(OfdRefused, match=f"FN {FN} FD 3 FP 1 was received before with other content"):
        client(ofd).exchange(message(3, receipt_document(3, 1, name="Кефир")))


def test_a_length_over_the_limit_gets_an_error_frame_and_a_closed_connection(ofd: OfdServer) -> None:
    with tcp_connect(ofd) as conn:
        conn.sendall(struct.pack("<I", 0x10000))
        answer = read_frame(conn)
        assert answer is not None
        assert answer == b"OFDERR" + b"frame length 65536 is over the 65535-byte limit"
        assert conn.recv(1) == b""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=64))
def test_arbitrary_bytes_never_break_the_server(ofd: OfdServer, garbage: bytes) -> None:
    with tcp_connect(ofd) as conn:
        conn.sendall(garbage)
    assert client(ofd).exchange(message(3, receipt_document(3, 1))) == expected_receipt(3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_any_request_body_gets_an_answer_frame(ofd: OfdServer, body: bytes) -> None:
    answer = ofd.answer(body)
    (length,) = struct.unpack_from("<I", answer)
    assert len(answer) == 4 + length
    assert answer[4:].startswith(b"OFDERR")  # random bytes are never a valid FN message


# --- pages -----------------------------------------------------------------------------------------


def test_the_receipt_page_shows_items_totals_vat_and_fiscal_data(ofd: OfdServer) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 3098173039, contact="buyer@example.com")))
    url = ofd.receipt_url(FN, 3, 3098173039)
    assert ofd.addresses is not None
    assert url == f"{ofd.addresses.http}/rec/{FN}/3/3098173039"
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    text = page.text
    for expected in (
        TEST_MARK,
        "КАССОВЫЙ ЧЕК",
        "ООО Ромашка",
        "Молоко",
        "89.90",
        "2 шт",
        "179.80",  # the item total and ИТОГ
        "НДС 22%",
        "32.42",
        "ПОЛНЫЙ РАСЧЕТ",
        "НАЛИЧНЫМИ",
        "02.03.2026 10:01",
        FN,
        "3098173039",
        "buyer@example.com",
        f"t=20260302T1001&amp;s=179.80&amp;fn={FN}&amp;i=3&amp;fp=3098173039&amp;n=1",
    ):
        assert expected in text, expected


def test_page_text_is_escaped(ofd: OfdServer) -> None:
    name = '<script>alert("x")</script> & Co'
    client(ofd).exchange(message(3, receipt_document(3, 7, name=name)))
    text = httpx.get(ofd.receipt_url(FN, 3, 7)).text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in text
    assert "<script>" not in text


def test_a_document_not_received_is_404(ofd: OfdServer) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 7)))
    missing = httpx.get(ofd.receipt_url(FN, 4, 7))
    assert missing.status_code == 404
    assert NOT_FOUND_TITLE in missing.text
    assert "ФД 4" in missing.text


def test_a_fiscal_sign_that_does_not_match_is_404(ofd: OfdServer) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 7)))
    wrong = httpx.get(ofd.receipt_url(FN, 3, 8))
    assert wrong.status_code == 404
    assert NOT_FOUND_TITLE in wrong.text


@pytest.mark.parametrize("path", ["/rec/123/3/7", "/rec/9999078900004312/x/7", "/favicon.ico", "/rec/a/b"])
def test_paths_that_are_no_receipt_link_are_404(ofd: OfdServer, path: str) -> None:
    assert ofd.addresses is not None
    assert httpx.get(ofd.addresses.http + path).status_code == 404


def test_head_and_the_index(ofd: OfdServer) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 7)))
    head = httpx.head(ofd.receipt_url(FN, 3, 7))
    assert (head.status_code, head.content) == (200, b"")
    assert ofd.addresses is not None
    index = httpx.get(ofd.addresses.http + "/")
    assert index.status_code == 200
    assert f'href="{ofd.receipt_url(FN, 3, 7)}"' in index.text
    assert "179.80 руб." in index.text


def test_a_configured_query_template(tmp_path: Path) -> None:
    template = "http://{http}/v01/show?fp={fp}&fn={fn}&fd={fd}"  # Такском's layout (§10)
    with OfdServer(tmp_path / "ofd", link_template=template, clock=Clock(CLOCK)) as server:
        client(server).exchange(message(3, receipt_document(3, 7)))
        assert server.addresses is not None
        url = server.receipt_url(FN, 3, 7)
        assert url == f"{server.addresses.http}/v01/show?fp=7&fn={FN}&fd=3"
        assert httpx.get(f"{server.addresses.http}/v01/show?fd=3&fn={FN}&fp=7").status_code == 200
        assert httpx.get(f"{server.addresses.http}/v01/show?fd=3&fn={FN}&fp=8").status_code == 404
        assert httpx.get(f"{server.addresses.http}/rec/{FN}/3/7").status_code == 404


def test_a_template_on_the_root_path_keeps_the_index(tmp_path: Path) -> None:
    template = "http://{http}/?fnSerialNumber={fn}&fiscalDocumentNumber={fd}&fiscalSignature={fp}"  # Контур
    with OfdServer(tmp_path / "ofd", link_template=template, clock=Clock(CLOCK)) as server:
        client(server).exchange(message(3, receipt_document(3, 7)))
        assert server.addresses is not None
        page = httpx.get(server.receipt_url(FN, 3, 7))
        assert (page.status_code, "КАССОВЫЙ ЧЕК" in page.text) == (200, True)
        index = httpx.get(server.addresses.http + "/")
        assert (index.status_code, "Эмулятор ОФД" in index.text) == (200, True)


def test_a_qr_string_template(tmp_path: Path) -> None:
    with OfdServer(tmp_path / "ofd", link_template="http://{http}/v1?{qr}", clock=Clock(CLOCK)) as server:
        client(server).exchange(message(3, receipt_document(3, 7)))
        assert server.addresses is not None
        url = server.receipt_url(FN, 3, 7)
        assert url == f"{server.addresses.http}/v1?t=20260302T1001&s=179.80&fn={FN}&i=3&fp=7&n=1"
        assert httpx.get(url).status_code == 200
        with pytest.raises(LinkTemplateError, match="needs qr"):
            server.receipt_url(FN, 4, 7)  # the QR string of a document not received is unknown


def test_a_template_that_cannot_name_a_document_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LinkTemplateError, match=r"must name the document"):
        OfdServer(tmp_path / "ofd", link_template="ofd-ya")


def test_documents_and_pages_survive_a_restart(tmp_path: Path) -> None:
    with OfdServer(tmp_path / "ofd", clock=Clock(CLOCK)) as first:
        answer = client(first).exchange(message(3, receipt_document(3, 7)))
    with OfdServer(tmp_path / "ofd", clock=Clock(datetime(2026, 4, 1, 8, 0))) as second:
        assert httpx.get(second.receipt_url(FN, 3, 7)).status_code == 200
        assert client(second).exchange(message(3, receipt_document(3, 7))) == answer


# --- e-receipts ("OFD sends") ----------------------------------------------------------------------


def test_an_email_receipt_is_sent_once_even_when_the_document_comes_twice(
    ofd: OfdServer, sink: SmtpSink
) -> None:
    for _ in range(2):
        client(ofd).exchange(message(3, receipt_document(3, 7, contact="buyer@example.com")))
    assert ofd.wait_notifications(DEADLINE)
    (mail,) = sink.messages()
    assert (mail["From"], mail["To"], mail["X-Envelope-To"]) == (
        SENDER,
        "buyer@example.com",
        "buyer@example.com",
    )
    assert "179.80" in mail["Subject"]
    assert (mail["X-OFD-FN"], mail["X-OFD-FD"], mail["X-OFD-FP"]) == (FN, "3", "7")
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert TEST_MARK in text
    assert "ИТОГ: 179.80" in text
    assert ofd.receipt_url(FN, 3, 7) in text
    notice = ofd.store.notice(DocumentKey(FN, 3, 7))
    assert notice is not None and (notice.channel, notice.state, notice.attempts) == (
        Channel.EMAIL,
        NoticeState.SENT,
        1,
    )


def test_a_phone_gets_one_sms_line(ofd: OfdServer, sink: SmtpSink) -> None:
    for _ in range(2):
        client(ofd).exchange(message(4, receipt_document(4, 9, contact="+79161234567")))
    assert ofd.wait_notifications(DEADLINE)
    lines = ofd.sms_outbox.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    sms = json.loads(lines[0])
    assert (sms["to"], sms["fn"], sms["fd"], sms["fp"]) == ("+79161234567", FN, 4, 9)
    assert ofd.receipt_url(FN, 4, 9) in sms["text"]
    assert "179.80" in sms["text"]
    assert sink.messages() == []


def test_the_sender_falls_back_to_the_registration_report_then_to_the_emulator(
    ofd: OfdServer, sink: SmtpSink
) -> None:
    client(ofd).exchange(message(5, receipt_document(5, 1, contact="a@example.com", sender=None)))
    assert ofd.wait_notifications(DEADLINE)
    client(ofd).exchange(message(1, registration_document(1, 2, sender="kkt@shop.example")))
    client(ofd).exchange(message(6, receipt_document(6, 3, contact="b@example.com", sender=None)))
    assert ofd.wait_notifications(DEADLINE)
    assert [(m["To"], m["From"]) for m in sink.messages()] == [
        ("a@example.com", DEFAULT_SENDER),
        ("b@example.com", "kkt@shop.example"),
    ]


def test_register_sends_mode_sends_nothing(tmp_path: Path, sink: SmtpSink) -> None:
    with OfdServer(tmp_path / "ofd", smtp=sink.address, mode_sends=False) as server:
        client(server).exchange(message(3, receipt_document(3, 7, contact="buyer@example.com")))
        client(server).exchange(message(4, receipt_document(4, 8, contact="+79161234567")))
        assert server.wait_notifications(DEADLINE)
        assert server.store.notices() == []
        assert not server.sms_outbox.exists()
    assert sink.messages() == []


def test_without_smtp_an_email_notice_fails_with_the_reason(tmp_path: Path) -> None:
    with OfdServer(tmp_path / "ofd", smtp=None) as server:
        client(server).exchange(message(3, receipt_document(3, 7, contact="buyer@example.com")))
        assert server.wait_notifications(DEADLINE)
        notice = server.store.notice(DocumentKey(FN, 3, 7))
        assert notice is not None
        assert (notice.state, notice.last_error) == (
            NoticeState.FAILED,
            "no SMTP server configured for the OFD emulator",
        )


def test_a_contact_that_is_neither_email_nor_phone_is_recorded_as_failed(
    ofd: OfdServer, sink: SmtpSink
) -> None:
    client(ofd).exchange(message(3, receipt_document(3, 7, contact="спросить у кассира")))
    assert ofd.wait_notifications(DEADLINE)
    notice = ofd.store.notice(DocumentKey(FN, 3, 7))
    assert notice is not None and notice.state is NoticeState.FAILED
    assert (
        notice.last_error is not None and "neither an e-mail address nor a phone number" in notice.last_error
    )
    assert sink.messages() == []


# --- serve_ofd as a process ------------------------------------------------------------------------


def test_serve_ofd_prints_its_addresses_serves_and_exits_cleanly(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "register.lab.ofd_server", "--data", str(tmp_path / "ofd")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            words = process.stdout.readline().split()
            assert words[:2] == ["ofd:", "tcp"] and words[3] == "http"
            assert words[2].startswith("127.0.0.1:") and words[4].startswith("http://127.0.0.1:")
            answer = OfdClient(f"tcp:{words[2]}", timeout=DEADLINE).exchange(
                message(3, receipt_document(3, 7))
            )
            assert OfdReceipt.decode(answer).sign_is_valid(DEFAULT_KEY)
            assert httpx.get(f"{words[4]}/rec/{FN}/3/7").status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=DEADLINE) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_serve_ofd_reports_a_bad_address() -> None:
    command = [sys.executable, "-m", "register.lab.ofd_server", "--data", "x", "--tcp", "nowhere"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE * 3)
    assert result.returncode == 2
    assert "ofd: error: TCP address 'nowhere' is not HOST:PORT" in result.stderr
