"""The OFD emulator: takes the FN's messages over TCP, answers with signed OFD receipts, serves receipt pages.

- TCP: the lab's frame protocol (``register.fiscal.ofd_client`` documents it). Each message is checked
  (container, document STLV, FN / FD / fiscal sign present and consistent), stored, and answered with an
  OFD receipt signed with the key shared with the FN emulator (``register.fiscal.ofd_container``). A
  resent document gets its first answer again.
- HTTP: the receipt page at the emulator's link (``/rec/{fn}/{fd}/{fp}`` by default, the path and query of
  the link template), 404 "Чек не найден / receipt not found" for a document not received or a fiscal
  sign that does not match; ``/`` lists the latest documents.
- "OFD sends" mode: a received document carrying a buyer contact (1008) is e-mailed over SMTP or
  appended to the SMS outbox, once per document (``ofd_mailer``). ``mode_sends`` decides per document
  (``mode_sends(key, contact)``): the lab asks the loyalty backend whether it sends that receipt itself.

``register ofd serve`` runs ``serve_ofd``, which prints ``ofd: tcp HOST:PORT http http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from register.domain.money import format_rub
from register.fiscal.ofd_client import MAX_BODY, encode_frame, error_frame
from register.fiscal.ofd_container import OfdContainerError, OfdMessage, make_ofd_receipt
from register.fiscal.ofd_links import (
    LAB_TEMPLATE,
    LinkTemplateError,
    match_link,
    receipt_link,
    resolve_template,
    template_fields,
)
from register.fiscal.qr import QrError, parse_qr
from register.lab.fn_emulator import DEFAULT_KEY
from register.lab.fn_server import parse_host_port
from register.lab.ofd_mailer import DEFAULT_SENDER, Notifier, plan_notice
from register.lab.ofd_pages import (
    REGISTRATION_FORMS,
    DocumentView,
    OfdDocumentError,
    index_page,
    not_found_page,
    receipt_page,
)
from register.lab.ofd_store import DocumentKey, OfdStore, OfdStoreError
from register.lab.serving import serve_until_signalled

log = logging.getLogger(__name__)

SMS_OUTBOX_NAME = "sms-outbox.jsonl"
IDLE_TIMEOUT = 60.0  # a register connection silent this long is dropped
POLL_INTERVAL = 0.1  # how often the serving threads look for a stop request
_LENGTH = struct.Struct("<I")


class OfdServerError(RuntimeError):
    """The OFD emulator could not start or was used before it started."""


class OfdRequestError(ValueError):
    """A message the OFD refuses; the text goes back in an error frame."""


@dataclass(frozen=True, slots=True)
class OfdAddresses:
    tcp: str  # HOST:PORT of the register-facing TCP port
    http: str  # http://HOST:PORT, base URL of the receipt pages

    @property
    def client_uri(self) -> str:
        """The address for ``OfdClient``: ``tcp:HOST:PORT``."""
        return f"tcp:{self.tcp}"


class OfdServer:
    """The OFD emulator's TCP and HTTP servers and its notifier, each in background threads."""

    def __init__(
        self,
        data_dir: Path,
        *,
        tcp: str = "127.0.0.1:0",
        http: str = "127.0.0.1:0",
        key: bytes = DEFAULT_KEY,
        link_template: str = LAB_TEMPLATE,
        mode_sends: bool | Callable[[DocumentKey, str], bool] = True,
        smtp: tuple[str, int] | None = None,
        sms_outbox: Path | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._tcp_bind = parse_host_port(tcp)
        self._http_bind = parse_host_port(http)
        self.key = key
        self.link_template = resolve_template(link_template)
        fields = template_fields(self.link_template)
        if "qr" not in fields and not {"fn", "fd", "fp"} <= fields:
            raise LinkTemplateError(
                f"OFD link template {self.link_template!r} must name the document: "
                "{fn}, {fd} and {fp}, or {qr}"
            )
        self.mode_sends = mode_sends
        self.smtp = smtp
        self.sms_outbox = Path(sms_outbox) if sms_outbox is not None else self.data_dir / SMS_OUTBOX_NAME
        self._clock = clock
        self._store: OfdStore | None = None
        self._notifier: Notifier | None = None
        self._tcp_server: _OfdTcpServer | None = None
        self._http_server: _OfdHttpServer | None = None
        self._threads: list[threading.Thread] = []
        self.addresses: OfdAddresses | None = None

    # --- life -------------------------------------------------------------------------------------

    def start(self) -> OfdAddresses:
        if self._store is not None:
            raise OfdServerError("OFD emulator already started")
        self._store = OfdStore.open(self.data_dir)
        try:
            self._tcp_server = _OfdTcpServer(self._tcp_bind, self)
            self._http_server = _OfdHttpServer(self._http_bind, self)
        except OSError as exc:
            self.stop()
            raise OfdServerError(f"OFD emulator cannot listen: {exc}") from exc
        tcp_host, tcp_port = self._tcp_server.server_address[:2]
        http_host, http_port = self._http_server.server_address[:2]
        self.addresses = OfdAddresses(f"{tcp_host}:{tcp_port}", f"http://{_netloc(http_host, http_port)}")
        self._notifier = Notifier(
            self._store,
            describe=self._describe_for_notice,
            smtp=self.smtp,
            sms_outbox=self.sms_outbox,
            clock=self._clock,
        )
        self._notifier.start()
        for name, server in (("ofd-tcp", self._tcp_server), ("ofd-http", self._http_server)):
            thread = threading.Thread(
                target=server.serve_forever, args=(POLL_INTERVAL,), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self.addresses

    def stop(self) -> None:
        """Stop serving, finish the connections, close the store. Safe to call twice."""
        for server in (self._tcp_server, self._http_server):
            if server is not None and self._threads:
                server.shutdown()
        if self._tcp_server is not None:
            self._tcp_server.close_connections()
            self._tcp_server.server_close()
            self._tcp_server = None
        if self._http_server is not None:
            self._http_server.server_close()
            self._http_server = None
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> OfdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def store(self) -> OfdStore:
        if self._store is None:
            raise OfdServerError("OFD emulator not started")
        return self._store

    def wait_notifications(self, timeout: float = 30.0) -> bool:
        """Block until every notification is sent or failed for good; False if still pending at timeout."""
        if self._notifier is None:
            raise OfdServerError("OFD emulator not started")
        return self._notifier.wait_idle(timeout)

    # --- the OFD's work ---------------------------------------------------------------------------

    def answer(self, request: bytes) -> bytes:
        """The answer frame for one request body: the OFD receipt, or an error frame. Never raises."""
        try:
            return encode_frame(self.accept(request))
        except (OfdRequestError, OfdStoreError) as exc:
            log.info("OFD: message refused: %s", exc)
            return error_frame(str(exc))

    def accept(self, request: bytes) -> bytes:
        """Check and store one FN message; return the OFD receipt for it (the first one on a resend)."""
        if not request:
            raise OfdRequestError("empty message")
        try:
            message = OfdMessage.decode(request)
            view = DocumentView.read(message.document, fn=message.fn_number, fd=message.fd)
        except (OfdContainerError, OfdDocumentError) as exc:
            raise OfdRequestError(str(exc)) from None
        now = self._clock()
        key = DocumentKey(message.fn_number, message.fd, view.fp)
        notice = plan_notice(key, view.buyer_contact)
        if notice is not None and view.buyer_contact is not None and not self._sends(key, view.buyer_contact):
            notice = None
        received = self.store.receive(
            key, view.form, message.document, make_ofd_receipt(self.key, request, now), now, notice
        )
        if received.new and notice is not None and self._notifier is not None:
            self._notifier.wake()
        log.info(
            "OFD: FN %s FD %d %s", key.fn, key.fd, "stored" if received.new else "resent, answered again"
        )
        return received.answer

    def _sends(self, key: DocumentKey, contact: str) -> bool:
        """Whether the OFD sends the e-receipt of a document with buyer contact ``contact``."""
        if callable(self.mode_sends):
            return self.mode_sends(key, contact)
        return self.mode_sends

    # --- links and pages --------------------------------------------------------------------------

    def receipt_url(self, fn: str, fd: int, fp: int) -> str:
        """The document's link by the server's template (INN, RNM and the QR string from the store)."""
        key = DocumentKey(fn, fd, fp)
        view = self._view(key) if template_fields(self.link_template) & {"inn", "rnm", "qr"} else None
        return self._link(key, view)

    def _link(self, key: DocumentKey, view: DocumentView | None) -> str:
        if self.addresses is None:
            raise OfdServerError("OFD emulator not started: it has no HTTP address for links yet")
        return receipt_link(
            self.link_template,
            fn=key.fn,
            fd=key.fd,
            fp=key.fp,
            inn=view.inn if view else None,
            rnm=view.rnm if view else None,
            qr=view.qr if view else None,
            http=self.addresses.http.removeprefix("http://"),
        )

    def _view(self, key: DocumentKey) -> DocumentView | None:
        """The stored document's view, completed with the FN's registration data (RNM, FNS site, 1117)."""
        stored = self.store.document(key)
        if stored is None:
            return None
        view = DocumentView.read(stored.document, fn=key.fn, fd=key.fd)
        registration = self.store.registration(key.fn, REGISTRATION_FORMS)
        if registration is not None and registration.key != key:
            reg = DocumentView.read(registration.document, fn=key.fn, fd=registration.key.fd)
            view = dataclasses.replace(
                view,
                rnm=view.rnm or reg.rnm,
                fns_site=view.fns_site or reg.fns_site,
                sender_email=view.sender_email or reg.sender_email,
            )
        return view

    def _describe_for_notice(self, key: DocumentKey) -> tuple[DocumentView, str | None, str]:
        view = self._view(key)
        if view is None:
            raise OfdStoreError(f"notification for FN {key.fn} FD {key.fd}: the document is not stored")
        try:
            link: str | None = self._link(key, view)
        except (LinkTemplateError, OfdServerError) as exc:
            log.warning("OFD: no link for FN %s FD %d: %s", key.fn, key.fd, exc)
            link = None
        return view, link, view.sender_email or DEFAULT_SENDER

    def page(self, path: str) -> tuple[HTTPStatus, str]:
        """The HTTP status and HTML page for a request path (with its query)."""
        try:
            fields = match_link(self.link_template, path)
        except ValueError:
            fields = None
        if fields is None:
            if path in ("", "/"):
                return HTTPStatus.OK, self._index()
            return HTTPStatus.NOT_FOUND, not_found_page(f"Нет такой страницы: {path}")
        key = _key_of(fields)
        if key is None:
            return HTTPStatus.NOT_FOUND, not_found_page(f"Ссылка не указывает на чек: {path}")
        view = self._view(key)
        where = f"ФН {key.fn}, ФД {key.fd}, ФП {key.fp}"
        if view is None or not _extra_fields_match(fields, view):
            return HTTPStatus.NOT_FOUND, not_found_page(f"{where}: такой документ в ОФД не поступал")
        return HTTPStatus.OK, receipt_page(view, self._link(key, view))

    def _index(self) -> str:
        rows = []
        for stored in self.store.latest():
            key = stored.key
            view = self._view(key)
            title = view.title if view else str(stored.form)
            total = f", {format_rub(view.total)} руб." if view and view.total is not None else ""
            try:
                link = self._link(key, view)
            except LinkTemplateError:
                continue
            rows.append((f"ФН {key.fn} ФД {key.fd}: {title}{total}", link))
        return index_page(rows)


def _key_of(fields: dict[str, str]) -> DocumentKey | None:
    if "qr" in fields:
        try:
            qr = parse_qr(fields["qr"])
        except QrError:
            return None
        fn, fd, fp = qr.fn, str(qr.fd), str(qr.fp)
    else:
        fn, fd, fp = fields["fn"], fields["fd"], fields["fp"]
    if not (len(fn) == 16 and fn.isascii() and fn.isdigit()):
        return None
    if not (fd.isascii() and fd.isdigit() and fp.isascii() and fp.isdigit()) or len(fd) > 10 or len(fp) > 10:
        return None
    return DocumentKey(fn, int(fd), int(fp))


def _extra_fields_match(fields: dict[str, str], view: DocumentView) -> bool:
    """A link's INN and RNM, when it has them, must be the document's."""
    if "inn" in fields and fields["inn"] != view.inn:
        return False
    return not ("rnm" in fields and fields["rnm"].strip() != (view.rnm or "").strip())


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- TCP ------------------------------------------------------------------------------------------


class _OfdTcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], ofd: OfdServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ofd = ofd
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _OfdTcpHandler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _OfdTcpHandler(socketserver.BaseRequestHandler):
    server: _OfdTcpServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(IDLE_TIMEOUT)
        self.server.track(conn, True)
        try:
            self._serve(conn)
        except OSError as exc:
            log.info("OFD: connection from %s dropped: %s", self.client_address, exc)
        except Exception:
            log.exception("OFD: request from %s failed", self.client_address)
            with contextlib.suppress(OSError):
                conn.sendall(error_frame("internal error of the OFD emulator"))
        finally:
            self.server.track(conn, False)

    def _serve(self, conn: socket.socket) -> None:
        while True:
            header = _receive(conn, _LENGTH.size)
            if header is None:
                return
            (length,) = _LENGTH.unpack(header)
            if length > MAX_BODY:
                conn.sendall(error_frame(f"frame length {length} is over the {MAX_BODY}-byte limit"))
                return
            body = _receive(conn, length)
            if body is None:
                return
            conn.sendall(self.server.ofd.answer(body))


def _receive(conn: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes, or None when the peer closes (or stays silent) before they arrive."""
    data = bytearray()
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except TimeoutError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


# --- HTTP -----------------------------------------------------------------------------------------


class _OfdHttpServer(ThreadingHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ofd: OfdServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ofd = ofd
        super().__init__(address, _OfdHttpHandler)


class _OfdHttpHandler(BaseHTTPRequestHandler):
    server: _OfdHttpServer
    server_version = "OfdEmulator/1"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        try:
            status, page = self.server.ofd.page(self.path)
        except Exception:
            log.exception("OFD: page %s failed", self.path)
            status, page = HTTPStatus.INTERNAL_SERVER_ERROR, not_found_page("Ошибка эмулятора ОФД")
        body = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("OFD HTTP %s: " + format, self.client_address[0], *args)


# --- process --------------------------------------------------------------------------------------


def parse_smtp(text: str | tuple[str, int] | None) -> tuple[str, int] | None:
    if text is None or isinstance(text, tuple):
        return text
    return parse_host_port(text)


def serve_ofd(
    data_dir: Path,
    tcp: str = "127.0.0.1:0",
    http: str = "127.0.0.1:0",
    smtp: str | tuple[str, int] | None = None,
    *,
    link_template: str = LAB_TEMPLATE,
    mode_sends: bool = True,
    sms_outbox: Path | None = None,
) -> None:
    """Serve the OFD emulator until SIGTERM/SIGINT; print ``ofd: tcp HOST:PORT http http://HOST:PORT``
    once ready. Main thread only; returns normally on the signal."""
    server = OfdServer(
        data_dir,
        tcp=tcp,
        http=http,
        smtp=parse_smtp(smtp),
        link_template=link_template,
        mode_sends=mode_sends,
        sms_outbox=sms_outbox,
    )

    def start() -> str:
        addresses = server.start()
        return f"ofd: tcp {addresses.tcp} http {addresses.http}"

    serve_until_signalled(start, server.stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m register.lab.ofd_server", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="data directory (SQLite store, SMS outbox)")
    parser.add_argument("--tcp", default="127.0.0.1:0", help="HOST:PORT for registers (0: any free port)")
    parser.add_argument("--http", default="127.0.0.1:0", help="HOST:PORT of the receipt pages")
    parser.add_argument("--smtp", metavar="HOST:PORT", help="SMTP server for e-receipts (the lab's sink)")
    parser.add_argument("--link-template", default=LAB_TEMPLATE, help="template name or URL template")
    parser.add_argument("--no-send", action="store_true", help="do not send e-receipts (register sends)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        serve_ofd(
            args.data,
            args.tcp,
            args.http,
            args.smtp,
            link_template=args.link_template,
            mode_sends=not args.no_send,
        )
    except (ValueError, OfdServerError) as exc:
        print(f"ofd: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
