"""`register lab --data DIR`: every emulator and remote party of the embedded lab, on real channels.

FN and printer emulators on ptys, the loyalty backend on loopback with SQLite, the OFD emulator (TCP and
HTTP), an SMTP sink. Everything lives under DIR where a person can look: DIR/printer/NNNN.txt and .png,
DIR/fn (the FN's memory), DIR/loyalty.sqlite3, DIR/ofd, DIR/mail/NNNN.eml, and DIR/register.toml, the
ready config the register is started with.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from register.backend.database import Database
from register.backend.schema import cheque_links, purchases
from register.backend.server import BackendServer
from register.backend.settings import BackendSettings, DeliveryMode
from register.config import LoyaltySettings, OfdSettings, RegisterConfig
from register.lab.fn_server import FnServer
from register.lab.ofd_server import OfdServer
from register.lab.ofd_store import DocumentKey
from register.lab.printer_server import PrinterServer
from register.lab.serving import serve_until_signalled
from register.lab.smtp_sink import SmtpSink
from register.profiles import DEFAULT_PRINTER


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
        self, data_dir: Path, *, printer_profile: str = DEFAULT_PRINTER, drift_check: bool = True
    ) -> None:
        self.data_dir = Path(data_dir)
        self.printer_profile = printer_profile
        self.drift_check = drift_check
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
            self._stack.callback(self.backend.stop)

            # The OFD sends an e-receipt for a document with 1008 unless the loyalty backend took it: a link
            # stored for that document by a purchase in mode LOYALTY (whose offer messages the member).
            shop_db = Database(settings.db_url)
            self._stack.callback(shop_db.dispose)

            def ofd_sends(key: DocumentKey) -> bool:
                query = (
                    select(purchases.c.delivery_mode)
                    .select_from(cheque_links.join(purchases, cheque_links.c.purchase_id == purchases.c.id))
                    .where(cheque_links.c.fiscal_fn == key.fn, cheque_links.c.fiscal_fd == key.fd)
                )
                with shop_db.read() as conn:
                    modes = set(conn.execute(query).scalars())
                return DeliveryMode.LOYALTY.value not in modes

            self.ofd = OfdServer(data / "ofd", smtp=(smtp_host, smtp_port), mode_sends=ofd_sends)
            ofd = self.ofd.start()
            self._stack.callback(self.ofd.stop)

            self.fn = FnServer(data / "fn", pty=True, drift_check=self.drift_check)
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
                uri=ofd.client_uri, link_template="lab", lab_http=ofd.http.removeprefix("http://")
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

    def __enter__(self) -> LabAddresses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_lab(data_dir: Path, *, echo: Callable[[str], None], printer_profile: str = DEFAULT_PRINTER) -> None:
    """Start the lab, print its addresses and one line ``config: <path>``, serve until SIGTERM/SIGINT."""
    lab = Lab(data_dir, printer_profile=printer_profile)

    def start() -> str:
        a = lab.start()
        echo(f"fn: {a.fn}")
        echo(f"printer: {a.printer} ({printer_profile}, receipts in {data_dir / 'printer'})")
        echo(f"loyalty: {a.loyalty}")
        echo(f"ofd: tcp {a.ofd_tcp} http {a.ofd_http}")
        echo(f"smtp: {a.smtp} (mail in {data_dir / 'mail'})")
        return f"config: {a.config}"

    serve_until_signalled(start, lab.stop)
