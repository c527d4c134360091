"""What the FN and the KKT add to a receipt once it is signed: the fiscal data every printed receipt shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FiscalStamp:
    fn: str
    """FN number (tag 1041), 16 digits."""
    fd: int
    """Fiscal document number (tag 1040)."""
    fp: int
    """Fiscal sign (ФП): the 4-byte value printed in decimal."""
    shift: int
    """Shift number (tag 1038)."""
    receipt_no: int
    """Receipt number in the shift (tag 1042)."""
    rnm: str
    """KKT registration number (tag 1037)."""
    qr: str
    """The receipt QR string (t, s, fn, i, fp, n)."""
    fns_site: str = "www.nalog.gov.ru"
    """FNS site (tag 1060)."""
    emulated: bool = True
    """Made by an emulated (debug) FN: printed as ТЕСТОВЫЙ / НЕ ФИСКАЛЬНЫЙ ДОКУМЕНТ."""
