"""Printer profiles: one TOML file per model in ``drivers/printers/``, read by the driver and the emulator.

A pure loader with no device I/O, so both sides (host printing and the lab's printer emulator) share it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_PRINTER = "TM-T20III"
DRIVERS_ENV = "REGISTER_DRIVERS_DIR"
KNOWN_CODE_PAGES = {
    "PC437": "cp437",
    "PC866": "cp866",
    "WPC1251": "cp1251",
    "PC855": "cp855",
    "PC850": "cp850",
}


class ProfileError(ValueError):
    """A profile that is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class UsbId:
    vendor: int
    product: int

    def __str__(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    name: str
    """Model name, also the file name without .toml: ``?profile=NAME`` in a URI."""
    vendor: str
    """Manufacturer, for listings."""
    usb: tuple[UsbId, ...]
    """USB vendor:product ids of the model."""
    escpos_profile: str
    """The python-escpos (escpos-printer-db) profile with the same command set."""
    dpi: int
    """Head resolution, dots per inch."""
    dots_per_line: int
    """Printable width in dots."""
    paper_mm: int
    """Paper roll width, mm (58 or 80)."""
    columns_a: int
    """Characters per line in font A (12×24)."""
    columns_b: int
    """Characters per line in font B."""
    code_pages: dict[str, tuple[int, ...]]
    """Code page name (PC866, WPC1251, …) -> this model's ``ESC t n`` numbers for it: the first is the one
    sent, all of them are accepted (clones give one table several numbers: POS-5890 PC866 is 17 and 59,
    escpos.md §1.2). In the TOML a number or a list of numbers."""
    cyrillic_code_page: str
    """The code page used for Russian text."""
    power_on_code_page: str
    """The table in force after power-on and after ``ESC @``."""
    native_qr: bool
    """Prints QR natively with ``GS ( k``; if not, the QR is sent as a raster image."""
    cutter: bool
    """Has an autocutter (``GS V``)."""
    drawer: bool
    """Has a cash-drawer port (``ESC p``)."""
    feed_lines_before_cut: int
    """Lines fed before a cut so the last line clears the blade."""
    dle_eot: bool
    """Answers real-time status ``DLE EOT n``."""
    gs_r: bool
    """Answers ``GS r n``."""
    asb: bool
    """Supports automatic status back ``GS a n``."""
    serial_baud: int
    """Default serial speed."""
    serial_flow: str
    """Serial flow control: none, rtscts or xonxoff."""

    @property
    def dots_per_mm(self) -> float:
        return self.dpi / 25.4

    def table_number(self, code_page: str) -> int:
        """The ``ESC t n`` number to send for a code page: the first the profile lists."""
        return self.table_numbers(code_page)[0]

    def table_numbers(self, code_page: str) -> tuple[int, ...]:
        """Every ``ESC t n`` number this model accepts for a code page, the one to send first."""
        try:
            return self.code_pages[code_page]
        except KeyError:
            raise ProfileError(f"printer profile {self.name}: no code page {code_page}") from None

    def codec(self, code_page: str) -> str:
        """The Python codec of a code page name."""
        try:
            return KNOWN_CODE_PAGES[code_page]
        except KeyError:
            raise ProfileError(f"printer profile {self.name}: unknown code page {code_page}") from None

    def code_page_of(self, number: int) -> str | None:
        """The code page name this model gives ``ESC t number``, or None."""
        for name, numbers in self.code_pages.items():
            if number in numbers:
                return name
        return None


def drivers_dir() -> Path:
    env = os.environ.get(DRIVERS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "drivers"


def _field(data: dict[str, object], key: str, kind: type, where: str) -> object:
    if key not in data:
        raise ProfileError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _code_pages(data: dict[str, object], where: str) -> dict[str, tuple[int, ...]]:
    """``{ PC437 = 0, PC866 = [17, 59] }`` -> name -> numbers; a number may name one table only."""
    pages: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    for name, value in data.items():
        numbers = value if isinstance(value, list) else [value]
        if not numbers or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 255 for n in numbers
        ):
            raise ProfileError(
                f"{where} [code_pages]: {name} must be a number 0..255 or a non-empty list of them, "
                f"got {value!r}"
            )
        for n in numbers:
            if n in owner:
                raise ProfileError(f"{where} [code_pages]: ESC t {n} is given to both {owner[n]} and {name}")
            owner[n] = str(name)
        pages[str(name)] = tuple(numbers)
    return pages


def parse_profile(text: str, where: str) -> PrinterProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    columns = _field(data, "columns", dict, where)
    status = _field(data, "status", dict, where)
    serial = _field(data, "serial", dict, where)
    code_pages = _field(data, "code_pages", dict, where)
    usb_list = _field(data, "usb", list, where)
    try:
        usb = tuple(UsbId(int(u["vendor"]), int(u["product"])) for u in usb_list)  # type: ignore[union-attr]
    except (KeyError, TypeError, ValueError):
        raise ProfileError(f"{where}: usb entries need integer vendor and product") from None
    profile = PrinterProfile(
        name=str(_field(data, "name", str, where)),
        vendor=str(_field(data, "vendor", str, where)),
        usb=usb,
        escpos_profile=str(_field(data, "escpos_profile", str, where)),
        dpi=int(_field(data, "dpi", int, where)),  # type: ignore[call-overload]
        dots_per_line=int(_field(data, "dots_per_line", int, where)),  # type: ignore[call-overload]
        paper_mm=int(_field(data, "paper_mm", int, where)),  # type: ignore[call-overload]
        columns_a=int(_field(columns, "a", int, f"{where} [columns]")),  # type: ignore[arg-type,call-overload]
        columns_b=int(_field(columns, "b", int, f"{where} [columns]")),  # type: ignore[arg-type,call-overload]
        code_pages=_code_pages(code_pages, where),  # type: ignore[arg-type]
        cyrillic_code_page=str(_field(data, "cyrillic_code_page", str, where)),
        power_on_code_page=str(_field(data, "power_on_code_page", str, where)),
        native_qr=bool(_field(data, "native_qr", bool, where)),
        cutter=bool(_field(data, "cutter", bool, where)),
        drawer=bool(_field(data, "drawer", bool, where)),
        feed_lines_before_cut=int(_field(data, "feed_lines_before_cut", int, where)),  # type: ignore[call-overload]
        dle_eot=bool(_field(status, "dle_eot", bool, f"{where} [status]")),  # type: ignore[arg-type]
        gs_r=bool(_field(status, "gs_r", bool, f"{where} [status]")),  # type: ignore[arg-type]
        asb=bool(_field(status, "asb", bool, f"{where} [status]")),  # type: ignore[arg-type]
        serial_baud=int(_field(serial, "baud", int, f"{where} [serial]")),  # type: ignore[arg-type,call-overload]
        serial_flow=str(_field(serial, "flow", str, f"{where} [serial]")),  # type: ignore[arg-type]
    )
    for page in (profile.cyrillic_code_page, profile.power_on_code_page, *profile.code_pages):
        if page not in KNOWN_CODE_PAGES:
            raise ProfileError(f"{where}: unknown code page {page!r} (known: {', '.join(KNOWN_CODE_PAGES)})")
    for page in (profile.cyrillic_code_page, profile.power_on_code_page):
        if page not in profile.code_pages:
            raise ProfileError(f"{where}: {page} is not among its code_pages")
    return profile


@cache
def load_profile(name: str = DEFAULT_PRINTER) -> PrinterProfile:
    path = drivers_dir() / "printers" / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(p.name for p in all_profiles()) or "none"
        raise ProfileError(f"no printer profile {name!r} in {path.parent} (known: {known})")
    return parse_profile(path.read_text(encoding="utf-8"), str(path))


def all_profiles() -> list[PrinterProfile]:
    folder = drivers_dir() / "printers"
    return [load_profile(path.stem) for path in sorted(folder.glob("*.toml"))]


def profile_for_usb(vendor: int, product: int) -> PrinterProfile | None:
    for profile in all_profiles():
        if UsbId(vendor, product) in profile.usb:
            return profile
    return None
