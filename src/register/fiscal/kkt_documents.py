"""The KKT's own documents: registration and shift reports, with the TLV data a KKT sends for them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from register.config import LAB_CASHIER, LAB_KKT, LAB_SELLER, KktSettings
from register.domain.fiscal_stamp import FiscalStamp
from register.domain.receipt import Receipt, Seller
from register.fiscal import fn_documents
from register.fiscal import fn_protocol as p
from register.fiscal.fn_driver import FnDriver
from register.fiscal.qr import build_qr
from register.fiscal.tlv import byte_tlv, string_tlv


def _seller_tlv(seller: Seller) -> list[bytes]:
    return [
        string_tlv(1048, seller.name),
        string_tlv(1018, seller.inn),
        string_tlv(1009, seller.address),
        string_tlv(1187, seller.place),
    ]


def registration_tlv(seller: Seller, kkt: KktSettings, cashier: str | None) -> bytes:
    parts = [
        *_seller_tlv(seller),
        string_tlv(1037, kkt.rnm),
        string_tlv(1013, kkt.serial),
        string_tlv(1017, kkt.ofd_inn),
        string_tlv(1060, kkt.fns_site),
        byte_tlv(1209, kkt.ffd_version),
    ]
    if seller.sender_email:
        parts.append(string_tlv(1117, seller.sender_email))
    if cashier:
        parts.append(string_tlv(1021, cashier))
    return b"".join(parts)


def shift_tlv(seller: Seller, cashier: str | None) -> bytes:
    parts = _seller_tlv(seller)
    if cashier:
        parts.append(string_tlv(1021, cashier))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class SignedReport:
    """A signed registration or shift report, as the KKT prints it."""

    title: str
    fn: str
    fd: int
    fp: int
    when: datetime
    shift: int | None = None

    @property
    def qr(self) -> str:
        return build_qr(self.when, None, self.fn, self.fd, self.fp, None)

    @property
    def emulated(self) -> bool:
        """Signed by a debug FN (9999…): shown with the test-document notice."""
        return p.is_debug_fn(self.fn)

    def __str__(self) -> str:
        shift = f" shift {self.shift}" if self.shift is not None else ""
        text = f"{self.title}:{shift} FD {self.fd} FP {self.fp} at {self.when:%Y-%m-%d %H:%M}\nQR: {self.qr}"
        return f"{p.EMULATED_NOTICE}\n{text}" if self.emulated else text


def register(
    fn: FnDriver,
    when: datetime,
    *,
    rnm: str | None = None,
    inn: str | None = None,
    seller: Seller = LAB_SELLER,
    kkt: KktSettings = LAB_KKT,
    cashier: str | None = LAB_CASHIER,
) -> SignedReport:
    """Registration report (02h type 0, 07h, 03h): the FN goes from phase 1 to 3."""
    if rnm:
        kkt = replace(kkt, rnm=rnm)
    if inn:
        seller = replace(seller, inn=inn)
    request = p.RegistrationRequest(when, seller.inn, kkt.rnm, int(seller.tax_system), kkt.work_mode)
    signed = fn_documents.register_kkt(fn, request, registration_tlv(seller, kkt, cashier))
    return SignedReport("registration report", fn.fn_number(), signed.fd, signed.fp, when)


def open_shift(
    fn: FnDriver, when: datetime, *, cashier: str | None = None, seller: Seller = LAB_SELLER
) -> SignedReport:
    signed = fn_documents.open_shift(fn, when, shift_tlv(seller, cashier or LAB_CASHIER))
    return SignedReport("shift opened", fn.fn_number(), signed.fd, signed.fp, when, signed.shift)


def close_shift(
    fn: FnDriver, when: datetime, *, cashier: str | None = None, seller: Seller = LAB_SELLER
) -> SignedReport:
    signed = fn_documents.close_shift(fn, when, shift_tlv(seller, cashier or LAB_CASHIER))
    return SignedReport("shift closed", fn.fn_number(), signed.fd, signed.fp, when, signed.shift)


def receipt_stamp(
    fn: FnDriver, receipt: Receipt, signed: p.ReceiptSigned, *, kkt: KktSettings = LAB_KKT
) -> FiscalStamp:
    """The fiscal data printed under a signed receipt (FN number, FD, FP, shift, QR …)."""
    fn_number = fn.fn_number()
    return FiscalStamp(
        fn=fn_number,
        fd=signed.fd,
        fp=signed.fp,
        shift=fn.shift_params().shift,
        receipt_no=signed.receipt,
        rnm=kkt.rnm,
        qr=build_qr(receipt.when, receipt.total, fn_number, signed.fd, signed.fp, receipt.operation),
        fns_site=kkt.fns_site,
        emulated=p.is_debug_fn(fn_number),
    )
