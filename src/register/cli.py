"""The ``register`` command: parse, call, print."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click

from register.uri import FN_SCHEMES, PRINTER_SCHEMES, UriError, parse_uri


class UriParam(click.ParamType):
    """A device URI, checked when the command line is parsed: a bad one is a usage error (exit 2)."""

    name = "URI"

    def __init__(self, schemes: tuple[str, ...] | None = None, what: str = "a device") -> None:
        self.schemes = schemes
        self.what = what

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return str(parse_uri(str(value), self.schemes, self.what))
        except UriError as exc:
            self.fail(str(exc), param, ctx)


class HostPortParam(click.ParamType):
    name = "HOST:PORT"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        host, sep, port = str(value).rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            self.fail(f"{value!r} is not HOST:PORT (port 0..65535)", param, ctx)
        return f"{host}:{port}"


DEVICE = click.option(
    "--device",
    "-d",
    "device",
    type=UriParam(FN_SCHEMES, "an FN"),
    required=True,
    help="FN URI: serial:PATH[?baud=N] or tcp:HOST:PORT.",
)
TIMEOUT = click.option(
    "--timeout", type=click.FloatRange(min=0.05), default=2.0, show_default=True, help="Answer timeout, s."
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="register")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Cash-register simulator for Russian retail (54-FZ) with real FN and ESC/POS drivers.

    Without a subcommand: the cashier's TUI on the embedded lab (without a terminal: `register demo`).
    """
    if ctx.invoked_subcommand is None:
        from register.lab_session import run_lab_demo, run_lab_tui

        if sys.stdin.isatty() and sys.stdout.isatty():
            run_lab_tui()
        else:
            click.echo("no terminal: running the headless demo (register demo)", err=True)
            run_lab_demo(click.echo)


@main.command("demo")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help="Lab directory.")
def demo(data: Path | None) -> None:
    """Three sales on the embedded lab, headless, showing the delivery decision."""
    from register.lab_session import run_lab_demo

    run_lab_demo(click.echo, data)


@main.command("tui")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Register config (devices by URI); without it: the embedded lab.",
)
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help="Lab directory (no --config).")
def tui(config_path: Path | None, data: Path | None) -> None:
    """The cashier's TUI on configured devices (real or a running lab) or on the embedded lab."""
    if config_path is None:
        from register.lab_session import run_lab_tui

        run_lab_tui(data)
        return
    from register.tui.app import make_app

    make_app(_load_config(config_path)).run()


# --- emulators -------------------------------------------------------------------------------------


@main.group()
def emulate() -> None:
    """Run a device emulator on a real byte channel (pty or TCP)."""


@emulate.command("fn")
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pseudo-terminal (serial line).")
@click.option("--tcp", type=HostPortParam(), help="Serve on TCP HOST:PORT (port 0: any free port).")
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="State directory: the FN's memory, kept across restarts.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="Fault to inject (repeatable): drop-answer, drop-request, corrupt, late, garble (each [:CODE], "
    "e.g. drop-answer:16), delay:MS[:CODE], silent.",
)
@click.option("--no-drift-check", is_flag=True, help="Do not check the clock drift between operations (17h).")
@click.option("--wire-log", type=click.Path(dir_okay=False, path_type=Path), help="Write every frame here.")
def emulate_fn(
    use_pty: bool,
    tcp: str | None,
    state: Path,
    faults: tuple[str, ...],
    no_drift_check: bool,
    wire_log: Path | None,
) -> None:
    """Emulate an FN (debug FN 9999…) on a pty or TCP; prints `fn: <address>` when ready."""
    if use_pty == bool(tcp):
        raise click.UsageError("give exactly one of --pty and --tcp HOST:PORT")
    from register.lab.fn_server import serve

    try:
        serve(
            state,
            pty=use_pty,
            tcp=tcp,
            faults=list(faults),
            drift_check=not no_drift_check,
            wire_log=wire_log,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@emulate.command("printer")
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pseudo-terminal (serial printer).")
@click.option(
    "--tcp", type=HostPortParam(), help="Serve on TCP HOST:PORT like a network printer (port 0: any)."
)
@click.option("--usb", "use_usb", is_flag=True, help="Present a USB printer through the lab's pyusb backend.")
@click.option("--profile", default=None, help="Printer profile in drivers/printers (default TM-T20III).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the printed receipts: NNNN.txt and NNNN.png.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="paper-near-end, paper-out[:after-bytes=N|:after-receipts=N], cover-open, cutter-jam, offline, "
    "no-answer, drawer-open (repeatable).",
)
@click.option("--wire-log", type=click.Path(dir_okay=False, path_type=Path), help="Write every chunk here.")
@click.option(
    "--control",
    type=HostPortParam(),
    help="Run-time control channel on loopback HOST:PORT (port 0: any): see `register emulate control`.",
)
def emulate_printer(
    use_pty: bool,
    tcp: str | None,
    use_usb: bool,
    profile: str | None,
    out: Path,
    faults: tuple[str, ...],
    wire_log: Path | None,
    control: str | None,
) -> None:
    """Emulate an ESC/POS receipt printer; prints `printer: <address>` when ready, then with --control
    `control: HOST:PORT`. Each unknown ESC/POS command is warned about on stderr (the first 20)."""
    if use_pty + bool(tcp) + use_usb != 1:
        raise click.UsageError("give exactly one of --pty, --tcp HOST:PORT and --usb")
    from register.lab.printer_server import serve_printer
    from register.profiles import DEFAULT_PRINTER

    try:
        serve_printer(
            out,
            pty=use_pty,
            tcp=tcp,
            usb=use_usb,
            profile=profile or DEFAULT_PRINTER,
            faults=faults,
            wire_log=wire_log,
            control=control,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except RuntimeError as exc:  # PrinterServerError: the channel could not be opened
        raise click.ClickException(str(exc)) from None


@emulate.command("control")
@click.argument("address", type=HostPortParam())
@click.argument("command", nargs=-1, required=True)
@click.option("--timeout", type=click.FloatRange(min=0.05), default=5.0, show_default=True, help="Seconds.")
def emulate_control(address: str, command: tuple[str, ...], timeout: float) -> None:
    """Send one COMMAND to an emulator's control channel at ADDRESS and print the reply.

    \b
    Printer commands:
      fault paper-out                 paper out now (also cover-open, offline, …)
      fault paper-out:after-bytes=300 paper runs out after 300 more bytes
      clear [KIND]                    clear one fault, or all
      status                          faults and counters, one JSON line
      help                            the channel's commands

    Exit status 1 when the reply is `error: …` or the channel cannot be reached.
    """
    from register.lab.control import is_error, send_command

    try:
        reply = send_command(address, command, timeout=timeout)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"control channel {address}: {exc}") from None
    click.echo(reply)
    if is_error(reply):
        sys.exit(1)


@main.command("render")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory."
)
@click.option("--profile", default=None, help="Printer profile (default TM-T20III).")
def render(capture: Path, out: Path, profile: str | None) -> None:
    """Render a recorded ESC/POS stream into NNNN.txt and NNNN.png, one pair per receipt."""
    from register.lab.escpos_render import render_capture
    from register.profiles import DEFAULT_PRINTER

    try:
        paths = render_capture(capture, out, profile or DEFAULT_PRINTER)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))


# --- FN commands -----------------------------------------------------------------------------------


@main.group("fn")
def fn_group() -> None:
    """Talk to an FN (real reader or emulator) and print its answers."""


@contextmanager
def _fn(device: str, timeout: float) -> Iterator[object]:
    from register.fiscal.fn_driver import FnDriver
    from register.fiscal.fn_errors import FnDriverError

    try:
        with FnDriver.open(device, timeout=timeout) as drv:
            yield drv
    except UriError as exc:  # UriParam checks it first; kept for URIs that only fail at open time
        raise click.BadParameter(str(exc), param_hint="'--device' / '-d'") from None
    except (FnDriverError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None


def _now() -> datetime:
    return datetime.now().replace(second=0, microsecond=0)


@fn_group.command("status")
@DEVICE
@TIMEOUT
def fn_status(device: str, timeout: float) -> None:
    """FN status (30h), number, version, validity, shift (10h)."""
    from register.fiscal.fn_reports import describe_fn

    with _fn(device, timeout) as drv:
        click.echo(describe_fn(drv))


@fn_group.command("register-kkt")
@DEVICE
@TIMEOUT
@click.option("--rnm", help="KKT registration number (default: the lab's).")
@click.option("--inn", help="User INN (default: the lab shop's).")
def fn_register_kkt(device: str, timeout: float, rnm: str | None, inn: str | None) -> None:
    """Fiscalise the FN: registration report (02h, 07h, 03h), phase 1 -> 3."""
    from register.fiscal.kkt_documents import register

    with _fn(device, timeout) as drv:
        click.echo(register(drv, _now(), rnm=rnm, inn=inn))


@fn_group.command("open-shift")
@DEVICE
@TIMEOUT
@click.option("--cashier", help="Cashier name (tag 1021).")
def fn_open_shift(device: str, timeout: float, cashier: str | None) -> None:
    """Open a shift (11h, 07h, 12h)."""
    from register.fiscal.kkt_documents import open_shift

    with _fn(device, timeout) as drv:
        click.echo(open_shift(drv, _now(), cashier=cashier))


@fn_group.command("close-shift")
@DEVICE
@TIMEOUT
@click.option("--cashier", help="Cashier name (tag 1021).")
def fn_close_shift(device: str, timeout: float, cashier: str | None) -> None:
    """Close the shift (13h, 07h, 14h)."""
    from register.fiscal.kkt_documents import close_shift

    with _fn(device, timeout) as drv:
        click.echo(close_shift(drv, _now(), cashier=cashier))


@fn_group.command("documents")
@DEVICE
@TIMEOUT
@click.option("--fd", "fds", type=click.IntRange(min=1), multiple=True, help="FD number (repeatable).")
@click.option(
    "--last", type=click.IntRange(min=1), default=10, show_default=True, help="The last N documents."
)
@click.option("--tlv", is_flag=True, help="Also read each document's TLV (45h/46h) and decode it.")
def fn_documents(device: str, timeout: float, fds: tuple[int, ...], last: int, tlv: bool) -> None:
    """Documents from the FN archive (40h, 45h/46h)."""
    from register.fiscal.fn_reports import describe_documents

    with _fn(device, timeout) as drv:
        listing = describe_documents(drv, list(fds) or None, last=last, with_tlv=tlv)
    click.echo(listing.text)
    if listing.refused:
        numbers = ", ".join(str(fd) for fd in listing.refused)
        raise click.ClickException(f"the FN has no document or refused to give it: FD {numbers}")


@fn_group.command("ofd")
@DEVICE
@TIMEOUT
def fn_ofd(device: str, timeout: float) -> None:
    """OFD exchange status (20h) and documents not yet confirmed by the OFD (42h)."""
    from register.fiscal.fn_reports import describe_ofd

    with _fn(device, timeout) as drv:
        click.echo(describe_ofd(drv))


# --- printers --------------------------------------------------------------------------------------

PRINTER = click.option(
    "--printer",
    "-p",
    "printer",
    type=UriParam(PRINTER_SCHEMES, "a printer"),
    required=True,
    help="Printer URI: serial:PATH, usb:VID:PID, tcp:HOST:PORT or file:PATH (?profile=NAME).",
)


@main.command("devices")
def devices() -> None:
    """List serial ports and USB printers with the URI to use for each."""
    from register.printing.devices import list_devices

    found = list_devices()
    if not found:
        click.echo("no serial ports or USB printers found")
    for device in found:
        uri = f"  {device.uri}" if device.uri else ""
        click.echo(f"{device.kind:<8} {device.description}{uri}")


@main.command("print-test")
@PRINTER
def print_test(printer: str) -> None:
    """Print a test receipt: Cyrillic in the profile's code page, the fiscal QR, a cut."""
    from register.printing.printer_errors import PrinterDriverError
    from register.printing.test_page import print_test_page

    try:
        result = print_test_page(printer)
    except UriError as exc:  # options only the driver knows (flow=, backend=) are checked as it opens
        raise click.BadParameter(str(exc), param_hint="'--printer' / '-p'") from None
    except (PrinterDriverError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'printed' if result.printed else 'sent, not confirmed'}: {result.bytes_sent} bytes")
    click.echo(f"status before: {result.status_before}; after: {result.status_after}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")


@main.command("printer-status")
@PRINTER
def printer_status(printer: str) -> None:
    """Real-time status of a printer (DLE EOT 1, 2, 4): no answer is reported as unknown, never OK.

    Exit status: 0 when the printer can print (ready, or paper near end); 1 when it cannot (paper out,
    cover open, error, offline), when its status is unknown (no or invalid answer, or a file: device),
    or when it cannot be reached.
    """
    from register.printing.printer_driver import PrinterDriver
    from register.printing.printer_errors import PrinterDriverError

    try:
        with PrinterDriver.open(printer) as driver:
            status = driver.status()
    except UriError as exc:
        raise click.BadParameter(str(exc), param_hint="'--printer' / '-p'") from None
    except (PrinterDriverError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(status))
    replies = ", ".join(f"DLE EOT {n}: {'-' if b is None else f'{b:02X}h'}" for n, b in status.replies)
    if replies:
        click.echo(replies)
    if not status.printable:
        sys.exit(1)


# --- the lab, remote parties and sales --------------------------------------------------------------


def _link_template(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`--link-template`: a template name of ffd-receipt.md §10 or a URL template, checked at parse time."""
    from register.fiscal.ofd_links import LinkTemplateError, resolve_template, template_fields

    try:
        fields = template_fields(resolve_template(value))
    except LinkTemplateError as exc:
        raise click.BadParameter(str(exc), param=param) from None
    if "qr" not in fields and not {"fn", "fd", "fp"} <= fields:
        raise click.BadParameter(
            f"{value!r} does not name the document: it needs {{fn}}, {{fd}} and {{fp}}, or {{qr}}",
            param=param,
        )
    return value


LINK_TEMPLATE = click.option(
    "--link-template",
    default="lab",
    show_default=True,
    callback=_link_template,
    help="Receipt link: a template name (lab, check.ofd.ru-short, taxcom, kontur, platformaofd, 1-ofd, …) "
    "or a template with {fn} {fd} {fp} ({inn} {rnm} {qr} {http}).",
)


@main.command("lab")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for everything the lab keeps (receipts, FN state, databases, mail, config).",
)
@click.option("--printer-profile", default=None, help="Profile of the emulated printer (default TM-T20III).")
@LINK_TEMPLATE
@click.option(
    "--control",
    default="127.0.0.1:0",
    show_default=True,
    help="Loopback HOST:PORT of the lab's control channel (faults at run time).",
)
def lab(data: Path, printer_profile: str | None, link_template: str, control: str) -> None:
    """Start every emulator, the loyalty backend, the OFD and an SMTP sink; print `config: <path>`.

    The OFD serves receipt pages at links of `--link-template`, and the config it writes has the
    register build its links by the same template."""
    from register.lab.launcher import serve_lab
    from register.profiles import DEFAULT_PRINTER

    serve_lab(
        data,
        echo=lambda line: click.echo(line),
        printer_profile=printer_profile or DEFAULT_PRINTER,
        link_template=link_template,
        control=control,
    )


@main.group("loyalty")
def loyalty_group() -> None:
    """The loyalty backend service."""


@loyalty_group.command("serve")
@click.option("--db", "db_url", help="Database URL: sqlite:///PATH (default) or postgresql+psycopg://…")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8400, show_default=True)
@click.option("--seed", type=click.Choice(["lab"]), help="Add the lab's demo data.")
def loyalty_serve(db_url: str | None, host: str, port: int, seed: str | None) -> None:
    """Serve the loyalty backend (POS, member and CRM APIs); prints `loyalty: http://HOST:PORT`."""
    from register.backend.server import serve

    try:
        serve(db_url, host, port, seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@main.group("ofd")
def ofd_group() -> None:
    """The OFD emulator."""


@ofd_group.command("serve")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), required=True, help="Its storage.")
@click.option("--tcp", type=HostPortParam(), default="127.0.0.1:0", show_default=True, help="For registers.")
@click.option("--http", type=HostPortParam(), default="127.0.0.1:0", show_default=True, help="Receipt pages.")
@click.option("--smtp", type=HostPortParam(), help="SMTP server for e-receipts (mode OFD).")
@LINK_TEMPLATE
def ofd_serve(data: Path, tcp: str, http: str, smtp: str | None, link_template: str) -> None:
    """Serve the OFD emulator; prints `ofd: tcp HOST:PORT http http://HOST:PORT`.

    Receipt pages are served at the path and query of `--link-template`'s links; a document not
    received gets "receipt not found"."""
    from register.lab.ofd_server import serve_ofd

    try:
        serve_ofd(data, tcp, http, smtp, link_template=link_template)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Register config file (`register lab` writes one).",
)


def _load_config(path: Path):  # type: ignore[no-untyped-def]
    from register.config import ConfigError, RegisterConfig

    try:
        return RegisterConfig.load(path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@main.command("catalogue")
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def catalogue(config_path: Path, as_json: bool) -> None:
    """The register's catalogue: barcode, SKU, name, price, VAT rate, weighed or not."""
    import json

    from register.domain.catalogue import item_to_mapping
    from register.domain.money import format_rub

    cfg = _load_config(config_path)
    if as_json:
        click.echo(
            json.dumps([item_to_mapping(i) for i in cfg.catalogue.items], ensure_ascii=False, indent=2)
        )
        return
    for item in cfg.catalogue.items:
        unit = "/кг" if item.weighed else ""
        click.echo(
            f"{item.barcode:<14} {item.sku:<12} {format_rub(item.price):>9}{unit:<3} "
            f"{item.vat.label:<11} {item.name}"
        )


def _buyer(e_receipt: str | None, also_paper: bool, declined: bool):  # type: ignore[no-untyped-def]
    from register.domain.decision import BuyerAnswer

    if e_receipt:
        return BuyerAnswer(wants_electronic=True, contact=e_receipt, also_paper=also_paper)
    if also_paper:
        raise click.UsageError("--also-paper goes with --e-receipt CONTACT")
    return BuyerAnswer(wants_electronic=False, contact=None) if declined else None


def _print_outcome(outcome, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    import json

    data = outcome.as_json()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    decision = data["decision"]
    fiscal = data["fiscal"] or {}
    click.echo(f"sale {data['saleId']}: FD {fiscal.get('fd')} FP {fiscal.get('fp')}")
    click.echo(f"paper: {'printed' if data['printed'] else 'not printed'} ({decision['reason']})")
    click.echo(f"QR: {fiscal.get('qr')}")
    click.echo(f"link: {data['link']}")
    for message in data["cashierMessages"]:
        click.echo(f"cashier: {message}")
    for problem in data["problems"]:
        click.echo(f"problem: {problem}")
    for message in data["messages"]:
        click.echo(f"message: {message}")


def _run_sale(config_path: Path, as_json: bool, action):  # type: ignore[no-untyped-def]
    from register.fiscal.fn_errors import FnDriverError
    from register.printing.printer_errors import PrinterDriverError
    from register.sale import Register, SaleError

    cfg = _load_config(config_path)
    try:
        with Register.open(cfg) as register:
            for recovered in register.recover():
                if not as_json:
                    click.echo(f"recovered sale {recovered.sale_id} after a crash")
            register.ensure_shift()
            outcome = action(register, cfg)
            register.drain_ofd()
    except (SaleError, FnDriverError, PrinterDriverError, ConnectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _print_outcome(outcome, as_json)


@main.command("sell")
@CONFIG
@click.option("--item", "items", multiple=True, required=True, help="BARCODE or BARCODExQTY (repeatable).")
@click.option("--card", help="Loyalty card number.")
@click.option("--phone", help="Loyalty member's phone.")
@click.option("--pay", type=click.Choice(["cash", "card"]), default="cash", show_default=True)
@click.option("--e-receipt", "e_receipt", metavar="CONTACT", help="The buyer wants an e-receipt to CONTACT.")
@click.option("--also-paper", is_flag=True, help="With --e-receipt: print paper too.")
@click.option("--no-e-receipt", "declined", is_flag=True, help="The buyer was asked and declined.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: decision, fiscal, link, printed, messages."
)
def sell(
    config_path: Path,
    items: tuple[str, ...],
    card: str | None,
    phone: str | None,
    pay: str,
    e_receipt: str | None,
    also_paper: bool,
    declined: bool,
    as_json: bool,
) -> None:
    """Run one sale on the configured devices and print the outcome."""
    from register.domain.catalogue import CatalogueError
    from register.domain.receipt import PaymentKind
    from register.sale import Identifier, SaleRequest

    if card and phone:
        raise click.UsageError("give --card or --phone, not both")
    buyer = _buyer(e_receipt, also_paper, declined)
    identifier = Identifier("CardNumber", card) if card else Identifier("Phone", phone) if phone else None

    try:  # every item is checked before any device is touched
        lines = tuple(_load_config(config_path).catalogue.scan(spec) for spec in items)
    except CatalogueError as exc:
        raise click.UsageError(str(exc)) from None
    kind = PaymentKind.CASH if pay == "cash" else PaymentKind.ELECTRONIC

    def action(register, _cfg):  # type: ignore[no-untyped-def]
        return register.sell(SaleRequest(lines=lines, pay=kind, identifier=identifier, buyer=buyer))

    _run_sale(config_path, as_json, action)


@main.command("refund")
@CONFIG
@click.option("--original", required=True, help="The original receipt's QR string or FD number.")
@click.option("--pay", type=click.Choice(["cash", "card"]), default="cash", show_default=True)
@click.option("--e-receipt", "e_receipt", metavar="CONTACT", help="The buyer wants an e-receipt to CONTACT.")
@click.option("--also-paper", is_flag=True, help="With --e-receipt: print paper too.")
@click.option("--json", "as_json", is_flag=True)
def refund(
    config_path: Path, original: str, pay: str, e_receipt: str | None, also_paper: bool, as_json: bool
) -> None:
    """Return a whole sale (1054 = 2) by its QR string or FD number; delivered by the same rules."""
    from register.domain.receipt import PaymentKind

    buyer = _buyer(e_receipt, also_paper, False)
    kind = PaymentKind.CASH if pay == "cash" else PaymentKind.ELECTRONIC
    _run_sale(
        config_path, as_json, lambda register, _cfg: register.refund_by(original, pay=kind, buyer=buyer)
    )


@main.command("reprint")
@CONFIG
@click.option("--sale", "sale_id", help="One sale's id (default: every receipt still owed, oldest first).")
def reprint(config_path: Path, sale_id: str | None) -> None:
    """Print the paper receipts that failed after their fiscal document was made (paper out, …)."""
    from register.printing.printer_errors import PrinterDriverError
    from register.sale import Register

    cfg = _load_config(config_path)
    try:
        with Register.open(cfg) as register:
            owed = register.pending_reprints()
            if sale_id is not None and sale_id not in owed:
                raise click.ClickException(f"sale {sale_id} owes no paper receipt")
            results = {sale_id: register.reprint(sale_id)} if sale_id else register.reprint_pending()
    except (PrinterDriverError, ConnectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not owed:
        click.echo("no paper receipt is owed")
        return
    for sale, printed in results.items():
        click.echo(f"sale {sale}: {'printed' if printed else 'NOT printed: the printer is not ready'}")
    left = len(owed) - sum(results.values())
    if left:
        raise click.ClickException(f"{left} paper receipt(s) still owed: fix the printer, run reprint again")


@main.command("journal")
@CONFIG
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True, help="How many sales.")
@click.option("--sale", "sale_id", help="One sale: every step with its data.")
@click.option("--json", "as_json", is_flag=True, help="The journal records as JSON.")
def journal(config_path: Path, last: int, sale_id: str | None, as_json: bool) -> None:
    """The register's journal: each sale's decision with its reason, and what was delivered.

    What integrators read to prove suppression: the reason, whether paper came out, the contact in 1008.
    """
    import json

    from register.journal import Journal, JournalError

    cfg = _load_config(config_path)
    if not cfg.journal.exists():
        raise click.ClickException(f"no journal at {cfg.journal}: this register has made no sale yet")
    try:
        book = Journal(cfg.journal)
        try:
            if sale_id is not None:
                record = book.sale(sale_id)
                steps = [{"step": step, "at": at, "data": data} for step, at, data in book.steps(sale_id)]
                if as_json:
                    out = {"id": record.id, "kind": record.kind, "stage": record.stage.value, "steps": steps}
                    click.echo(json.dumps(out, ensure_ascii=False, indent=2))
                    return
                click.echo(f"{record.kind} {record.id}: {record.stage.value}")
                for step in steps:
                    click.echo(
                        f"  {step['at']}  {step['step']:<15} {json.dumps(step['data'], ensure_ascii=False)}"
                    )
                return
            records = book.sales(limit=last)
        finally:
            book.close()
    except JournalError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        rows = [
            {"id": r.id, "kind": r.kind, "stage": r.stage.value, "createdAt": r.created_at, **r.data}
            for r in records
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for record in reversed(records):
        click.echo(_journal_line(record))


def _journal_line(record) -> str:  # type: ignore[no-untyped-def]
    data = record.data
    fiscal = data.get("fiscal") or {}
    decision = data.get("decision") or {}
    delivery = data.get("delivery") or {}
    if delivery.get("printed"):
        paper = "printed" + (" (fallback)" if delivery.get("paperFallback") else "")
    elif delivery.get("reprintPending"):
        paper = "OWED (reprint)"
    elif delivery:
        paper = "suppressed"
    else:
        paper = "-"
    problems = data.get("problems") or []
    return (
        f"{record.created_at[:19]}  {record.kind:<6} {record.stage.value:<14} "
        f"FD {fiscal.get('fd', '-')!s:<5} "
        f"{decision.get('reason', data.get('aborted', '-'))}  paper: {paper}  "
        f"1008: {decision.get('customer_contact') or '-'}"
        + (f"  problems: {len(problems)}" if problems else "")
    )


# --- scenarios -------------------------------------------------------------------------------------


def _scenario_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise click.UsageError(f"no scenario files (*.yaml) in {', '.join(map(str, paths))}")
    return files


SCENARIO_PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@main.group("scenario")
def scenario_group() -> None:
    """Scenario files (YAML) replayed against the register on the embedded lab."""


@scenario_group.command("check")
@SCENARIO_PATHS
def scenario_check(paths: tuple[Path, ...]) -> None:
    """Validate scenario files without running them; every error names the file and line."""
    from register.scenario.loader import ScenarioError, load_scenario

    bad = 0
    for path in _scenario_files(paths):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            click.echo(f"error: {exc}", err=True)
            continue
        click.echo(f"ok {path}: {scenario.name} ({len(scenario.steps)} steps)")
    if bad:
        raise click.ClickException(f"{bad} scenario file(s) cannot be played")


@scenario_group.command("run")
@SCENARIO_PATHS
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each scenario's lab here (default: a temporary directory).",
)
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.txt, report.json and junit.xml here.",
)
def scenario_run(paths: tuple[Path, ...], data: Path | None, report: Path | None) -> None:
    """Replay scenarios, each on a fresh embedded lab; exit 1 if any fails."""
    import tempfile

    from register.lab_session import run_lab_scenarios
    from register.scenario.loader import ScenarioError, load_scenario
    from register.scenario.report import as_text, write_reports

    files = _scenario_files(paths)
    for path in files:  # every file is checked before any lab starts
        try:
            load_scenario(path)
        except ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="register-scenarios-") as tmp:
        results = run_lab_scenarios(files, data or Path(tmp))
    click.echo(as_text(results))
    if report is not None:
        for written in write_reports(results, report):
            click.echo(f"report: {written}")
    if not all(result.ok for result in results):
        raise SystemExit(1)


# --- benchmarks ------------------------------------------------------------------------------------


@main.group()
def bench() -> None:
    """Benchmarks (numbers, not pass/fail)."""


@bench.command("fn")
@click.option("--receipts", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--items", type=click.IntRange(min=1, max=200), default=10, show_default=True)
def bench_fn(receipts: int, items: int) -> None:
    """FN receipts per second over a pty (15h/07h/16h), bytes on the wire, emulator memory."""
    from register.bench_fn import run_fn_bench

    run_fn_bench(receipts=receipts, items=items, echo=click.echo)


@bench.command("print")
@click.option("--items", type=click.IntRange(min=1, max=200), default=20, show_default=True)
@click.option(
    "--seconds", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Per measurement."
)
@click.option("--profile", default=None, help="Printer profile (default TM-T20III).")
def bench_print(items: int, seconds: float, profile: str | None) -> None:
    """Layout + encode vs python-escpos, emulator render rates, wire and paper time of the receipt."""
    from register.bench_print import run_print_bench

    run_print_bench(items=items, seconds=seconds, profile_name=profile, echo=click.echo)


@bench.command("sale")
@click.option(
    "--sales", type=click.IntRange(min=10), default=200, show_default=True, help="Sales on the lab."
)
@click.option("--registers", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--purchases", type=click.IntRange(min=1), default=50, show_default=True, help="Per register.")
@click.option("--pg", "pg_url", help="PostgreSQL URL; default: a temporary cluster.")
def bench_sale(sales: int, registers: int, purchases: int, pg_url: str | None) -> None:
    """Sales end to end on the lab; the backend under concurrent registers on SQLite and PostgreSQL."""
    from register.bench_sale import run_sale_bench

    run_sale_bench(sales=sales, registers=registers, purchases=purchases, pg_url=pg_url, echo=click.echo)


def run() -> None:  # pragma: no cover - console entry for `python -m register`
    sys.exit(main())
