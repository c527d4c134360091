"""Receipt printing on the host side: layout, ESC/POS encoding, sanitising, the printer driver."""

from register.printing.codepage import PLACEHOLDER, encode, to_printable
from register.printing.devices import FoundDevice, list_devices
from register.printing.escpos_out import EncodeError, encode_layout, encode_receipt
from register.printing.layout import ReceiptLayout, layout_receipt
from register.printing.printer_driver import DriverSettings, PrinterDriver, PrintResult
from register.printing.printer_errors import (
    CoverOpen,
    PaperOut,
    PrinterDriverError,
    PrinterError,
    PrinterNotReady,
    PrinterOffline,
    PrinterState,
    PrinterStatus,
    PrinterUnavailable,
    ReceiptNotPrinted,
    StatusUnknown,
)
from register.printing.qr_size import QrSizeError, qr_module_size
from register.printing.sanitize import sanitize

__all__ = [
    "PLACEHOLDER",
    "CoverOpen",
    "DriverSettings",
    "EncodeError",
    "FoundDevice",
    "PaperOut",
    "PrintResult",
    "PrinterDriver",
    "PrinterDriverError",
    "PrinterError",
    "PrinterNotReady",
    "PrinterOffline",
    "PrinterState",
    "PrinterStatus",
    "PrinterUnavailable",
    "QrSizeError",
    "ReceiptLayout",
    "ReceiptNotPrinted",
    "StatusUnknown",
    "encode",
    "encode_layout",
    "encode_receipt",
    "layout_receipt",
    "list_devices",
    "qr_module_size",
    "sanitize",
    "to_printable",
]
