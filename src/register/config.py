"""Typed settings: the shop and the KKT's registration data, with the embedded lab's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

from register.domain.receipt import Seller, TaxSystem

APP_NAME = "register"


def data_dir() -> Path:
    """Where the register keeps its state when no directory is given."""
    return Path(platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True, slots=True)
class KktSettings:
    """The cash register (KKT) as registered with the tax service."""

    rnm: str = "0000000001012345"
    """KKT registration number (РН ККТ, tag 1037), 16 digits issued by the FNS."""
    serial: str = "00000000000001"
    """KKT serial number (заводской номер, tag 1013)."""
    ofd_inn: str = "9999999998"
    """INN of the fiscal data operator (tag 1017)."""
    work_mode: int = 0
    """FN work-mode bits (fn-protocol.md §8): 0 = online, receipts, no encryption."""
    ffd_version: int = 4
    """FFD version (tag 1209): 4 = FFD 1.2."""
    fns_site: str = "www.nalog.gov.ru"
    """FNS site printed on receipts (tag 1060)."""


LAB_SELLER = Seller(
    name="ООО «Лаборатория кассы» (эмулятор)",
    inn="7701234560",
    address="г. Москва, ул. Тестовая, д. 1",
    place="Магазин №1",
    tax_system=TaxSystem.OSN,
    sender_email="noreply@lab.example",
)
LAB_KKT = KktSettings()
LAB_CASHIER = "Кассир Иванова А.А."
