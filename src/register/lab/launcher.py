"""`register lab --data DIR`: every emulator and remote party of the embedded lab, on real channels.

FN and printer emulators on ptys, the loyalty backend on loopback with SQLite, the OFD emulator (TCP and
HTTP), an SMTP sink. Everything lives under DIR where a person can look: DIR/printer/NNNN.txt and .png,
DIR/fn (the FN's memory), DIR/loyalty.sqlite3, DIR/ofd, DIR/mail/NNNN.eml, and DIR/register.toml, the
ready config the register is started with.

The receipt-link template (a name of ffd-receipt.md §10 or a template with {fn} {fd} {fp} …) is given to
the OFD emulator and written into register.toml alike, so the links the register builds are the ones the
emulator serves (a real OFD's host in a named template stands for the emulator's: it serves the path and
query of the link).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select

from register.backend.database import Database
from register.backend.schema import cheque_links, messages, purchases
from register.backend.server import BackendServer
from register.backend.settings import BackendSettings
from register.config import LoyaltySettings, OfdSettings, RegisterConfig
from register.fiscal.ofd_links import resolve_template
from register.lab.control import ControlError, ControlServer
from register.lab.fn_server import FnServer
from register.lab.ofd_server import OfdServer
from register.lab.ofd_store import DocumentKey
from register.lab.printer_server import PrinterServer
from register.lab.serving import serve_until_signalled
from register.lab.smtp_sink import SmtpSink
from register.profiles import DEFAULT_PRINTER


class LabFaultError(ValueError):
    """A fault the lab cannot inject: an unknown device or fault, or a party not running."""


_Party = TypeVar("_Party", PrinterServer, FnServer)


@dataclass(frozen=True, slots=True)
class LabAddresses:
    fn: str
    printer: str
    loyalty: str
    ofd_tcp: str
    ofd_http: str
    smtp: str
    config: Path


class Lab:
    """The lab's parties, started together and stopped in reverse order."""

    def __init__(
        self,
        data_dir: Path,
        *,
        printer_profile: str = DEFAULT_PRINTER,
        drift_check: bool = True,
        link_template: str = "lab",
        fn_number: str | None = None,
    ) -> None:
        """``fn_number``: the number of a fresh FN (default: a random debug number 9999…)."""
        self.data_dir = Path(data_dir)
        self.fn_number = fn_number
        self.printer_profile = printer_profile
        self.drift_check = drift_check
        resolve_template(link_template)  # a bad template is the caller's error, before anything starts
        self.link_template = link_template
        self._stack = ExitStack()
        self.fn: FnServer | None = None
        self.printer: PrinterServer | None = None
        self.backend: BackendServer | None = None
        self.ofd: OfdServer | None = None
        self.smtp: SmtpSink | None = None
        self.addresses: LabAddresses | None = None

    def start(self) -> LabAddresses:
        data = self.data_dir
        data.mkdir(parents=True, exist_ok=True)
        try:
            self.smtp = SmtpSink(data / "mail")
            smtp_host, smtp_port = self.smtp.start()
            self._stack.callback(self.smtp.stop)

            settings = BackendSettings(
                db_url=f"sqlite:///{data / 'loyalty.sqlite3'}",
                host="127.0.0.1",
                port=0,
                smtp_host=smtp_host,
                smtp_port=smtp_port,
                seed="lab",
            )
            self.backend = BackendServer(settings)
            loyalty_url = self.backend.start()
            self._backend_settings = replace(settings, port=urlsplit(loyalty_url).port or 0)
            self._stack.callback(self._stop_backend)

            # The OFD sends an e-receipt for a document with 1008 unless the loyalty backend sends it.
            shop_db = Database(settings.db_url)
            self._stack.callback(shop_db.dispose)

            def ofd_sends(key: DocumentKey, contact: str) -> bool:
                return not backend_sends_receipt(shop_db, key, contact)

            self.ofd = OfdServer(
                data / "ofd",
                smtp=(smtp_host, smtp_port),
                mode_sends=ofd_sends,
                link_template=self.link_template,
            )
            ofd = self.ofd.start()
            self._stack.callback(self.ofd.stop)

            self.fn = FnServer(data / "fn", pty=True, drift_check=self.drift_check, fn_number=self.fn_number)
            fn_path = self.fn.start()
            self._stack.callback(self.fn.stop)

            self.printer = PrinterServer(data / "printer", profile=self.printer_profile, pty=True)
            printer_path = self.printer.start()
            self._stack.callback(self.printer.stop)
        except BaseException:
            self._stack.close()
            raise

        config = RegisterConfig(
            fn=f"serial:{fn_path}",
            printer=f"serial:{printer_path}?profile={self.printer_profile}",
            journal=data / "journal.sqlite3",
            loyalty=LoyaltySettings(url=loyalty_url),
            ofd=OfdSettings(
                uri=ofd.client_uri,
                link_template=self.link_template,
                lab_http=ofd.http.removeprefix("http://"),
            ),
        )
        config_path = data / "register.toml"
        config_path.write_text(config.to_toml(), encoding="utf-8")
        self.addresses = LabAddresses(
            fn=fn_path,
            printer=printer_path,
            loyalty=loyalty_url,
            ofd_tcp=ofd.tcp,
            ofd_http=ofd.http,
            smtp=f"{smtp_host}:{smtp_port}",
            config=config_path,
        )
        return self.addresses

    def stop(self) -> None:
        self._stack.close()

    # --- faults at run time (scenarios, the lab's control channel) ------------------------------

    def inject(self, device: str, spec: str) -> str:
        """Inject a fault into a running party; returns what was done.

        printer: a fault of ``register emulate printer --fault`` (paper-out, paper-out:after-bytes=N,
        cover-open, offline, no-answer, …); fn: one of ``register emulate fn --fault`` (drop-answer:16,
        silent, …); loyalty: ``down`` (the backend stops: connections are refused until cleared).
        """
        if device == "printer":
            return f"printer: {self._running(self.printer, device).apply_fault(spec)}"
        if device == "fn":
            link = self._running(self.fn, device).link
            assert link is not None
            link.inject(spec)
            return f"fn: {spec}"
        if device == "loyalty":
            if spec != "down":
                raise LabFaultError(f"loyalty fault {spec!r}: the loyalty backend knows only 'down'")
            self._stop_backend()
            return "loyalty: down"
        raise LabFaultError(f"no device {device!r} in the lab (printer, fn, loyalty)")

    def clear(self, device: str) -> str:
        """Clear every fault of a party; the loyalty backend starts again at its address."""
        if device == "printer":
            self._running(self.printer, device).clear_fault()
        elif device == "fn":
            link = self._running(self.fn, device).link
            assert link is not None
            link.clear_faults()
        elif device == "loyalty":
            if self.backend is None:
                self.backend = BackendServer(self._backend_settings)
                self.backend.start()
        else:
            raise LabFaultError(f"no device {device!r} in the lab (printer, fn, loyalty)")
        return f"{device}: cleared"

    def status(self) -> dict[str, object]:
        """The parties and their faults, for the control channel's ``status``."""
        fn_faults = [str(f) for f in self.fn.link.faults.pending] if self.fn and self.fn.link else []
        return {
            "printer": self.printer.status() if self.printer else None,
            "fn": {"address": self.fn.address if self.fn else None, "faults": fn_faults},
            "loyalty": {
                "up": self.backend is not None,
                "address": self.addresses.loyalty if self.addresses else None,
            },
        }

    def _running(self, party: _Party | None, device: str) -> _Party:
        if party is None:
            raise LabFaultError(f"the lab's {device} is not running")
        return party

    def _stop_backend(self) -> None:
        if self.backend is not None:
            self.backend.stop()
            self.backend = None

    def __enter__(self) -> LabAddresses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def backend_sends_receipt(db: Database, key: DocumentKey, contact: str) -> bool:
    """Whether the loyalty backend sends the e-receipt of the fiscal document ``key`` to ``contact``
    (its tag 1008), so that the OFD must not send a second one.

    The ground truth is the backend's own message table: a message of the purchase (or refund) that the
    document belongs to, to that contact, not failed. Messages are made when the register's cheque-link
    is taken, and the register drains the FN's queue only after the links it owes the backend are
    delivered, so by the time a document reaches the OFD the backend has made every message it will. The
    purchase is found by its fiscal document as recorded at confirm (a refund's at refund), or by the
    fiscal document of a link stored for it (a link may come before the confirm).

    So the OFD sends when the backend knows nothing of the receipt (no member, loyalty offline), when it
    sends nothing to that contact (mode OFD, a till contact that is not the member's, no offer and no
    refusal of paper), and when its message to that contact failed for good.
    """
    by_document = and_(
        purchases.c.fiscal_fn == key.fn, purchases.c.fiscal_fd == key.fd, purchases.c.fiscal_fp == key.fp
    )
    by_link = and_(
        cheque_links.c.fiscal_fn == key.fn,
        cheque_links.c.fiscal_fd == key.fd,
        cheque_links.c.fiscal_fp == key.fp,
    )
    documents = (
        select(purchases.c.id)
        .select_from(purchases.outerjoin(cheque_links, cheque_links.c.purchase_id == purchases.c.id))
        .where(or_(by_document, by_link))
    )
    query = select(messages.c.recipient).where(
        messages.c.purchase_id.in_(documents), messages.c.status != "failed"
    )
    with db.read() as conn:
        recipients = conn.execute(query).scalars().all()
    return any(_same_contact(recipient, contact) for recipient in recipients)


def _same_contact(notifier: str | None, contact: str) -> bool:
    if notifier is None:
        return False
    if "@" in notifier:
        return notifier.strip().casefold() == contact.strip().casefold()
    digits = "".join(ch for ch in contact if ch.isdigit())
    return "".join(ch for ch in notifier if ch.isdigit()) == digits


def lab_control(lab: Lab, address: str = "127.0.0.1:0") -> ControlServer:
    """The lab's control channel (not started): ``fault DEVICE SPEC``, ``clear DEVICE``, ``status``."""
    control = ControlServer(address, name="lab control")

    def fault(args: list[str]) -> str:
        if len(args) != 2:
            raise ControlError("give a device (printer, fn, loyalty) and its fault")
        return f"ok: {lab.inject(args[0], args[1])}"

    def clear(args: list[str]) -> str:
        if len(args) != 1:
            raise ControlError("give a device (printer, fn, loyalty)")
        return f"ok: {lab.clear(args[0])}"

    control.register(
        "fault", fault, usage="fault printer|fn|loyalty SPEC (paper-out, drop-answer:16, down …)"
    )
    control.register("clear", clear, usage="clear printer|fn|loyalty")
    control.register("status", lambda _args: lab.status(), usage="status")
    return control


def serve_lab(
    data_dir: Path,
    *,
    echo: Callable[[str], None],
    printer_profile: str = DEFAULT_PRINTER,
    link_template: str = "lab",
    control: str = "127.0.0.1:0",
) -> None:
    """Start the lab, print its addresses (its control channel too) and one line ``config: <path>``, serve
    until SIGTERM/SIGINT."""
    lab = Lab(data_dir, printer_profile=printer_profile, link_template=link_template)
    channel = lab_control(lab, control)

    def stop() -> None:
        channel.stop()
        lab.stop()

    def start() -> str:
        a = lab.start()
        echo(f"fn: {a.fn}")
        echo(f"printer: {a.printer} ({printer_profile}, receipts in {data_dir / 'printer'})")
        echo(f"loyalty: {a.loyalty}")
        echo(f"ofd: tcp {a.ofd_tcp} http {a.ofd_http}")
        echo(f"smtp: {a.smtp} (mail in {data_dir / 'mail'})")
        echo(f"control: {channel.start()} (faults at run time: register emulate control ADDRESS help)")
        return f"config: {a.config}"

    serve_until_signalled(start, stop)
