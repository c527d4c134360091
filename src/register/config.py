"""Typed settings: the register's config file (TOML), the shop and KKT data, the lab's defaults.

A config file names every device by URI and the remote parties by address; `register lab` writes one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from register.domain.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueItem,
    item_from_mapping,
    item_to_mapping,
)
from register.domain.receipt import ReceiptError, Seller, TaxSystem
from register.domain.vat import VatRate

APP_NAME = "register"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


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

LAB_CATALOGUE = Catalogue(
    [
        CatalogueItem("4600000000011", "MILK-1L", "Молоко 3,2% 1 л", 8990, VatRate.VAT10),
        CatalogueItem("4600000000028", "BREAD-B", "Хлеб Бородинский", 6490, VatRate.VAT10),
        CatalogueItem("4600000000035", "COFFEE-250", "Кофе зерновой «Арабика» 250 г", 45900, VatRate.VAT22),
        CatalogueItem("4600000000042", "WATER-05", "Вода минеральная 0,5 л", 5990, VatRate.VAT22),
        CatalogueItem("4600000000059", "CHOC-75", "Шоколад горький 75%", 11990, VatRate.VAT22),
        CatalogueItem("4600000000066", "BAG", "Пакет-майка", 500, VatRate.VAT22),
        CatalogueItem("4600000000073", "NEWS-VM", "Газета «Вечерняя Москва»", 3500, VatRate.NO_VAT),
        CatalogueItem("4600000000080", "EXPORT-TEA", "Чай на экспорт (0%)", 25000, VatRate.VAT0),
        CatalogueItem("4600000000097", "DELIVERY", "Доставка (аванс 22/122)", 30000, VatRate.VAT22_122),
        CatalogueItem("4600000000103", "BOOK-10", "Книга детская (10/110)", 40000, VatRate.VAT10_110),
        CatalogueItem("4600000000110", "USN-5", "Товар УСН 5%", 10000, VatRate.VAT5),
        CatalogueItem("4600000000127", "USN-7", "Товар УСН 7%", 10000, VatRate.VAT7),
        CatalogueItem("4600000000134", "USN-5-105", "Аванс УСН 5/105", 10500, VatRate.VAT5_105),
        CatalogueItem("4600000000141", "USN-7-107", "Аванс УСН 7/107", 10700, VatRate.VAT7_107),
        CatalogueItem("2000000000015", "APPLE-GALA", "Яблоки Гала, вес", 12990, VatRate.VAT10, weighed=True),
        CatalogueItem(
            "2000000000022", "CHEESE-RU", "Сыр Российский, вес", 89900, VatRate.VAT10, weighed=True
        ),
    ]
)


@dataclass(frozen=True, slots=True)
class LoyaltySettings:
    url: str | None = None
    """Base URL of the loyalty backend (http://HOST:PORT); None: work without loyalty."""
    device: str = "POS-1"
    """This register's device code (HTTP Basic user)."""
    secret: str = "lab"
    """This register's secret (HTTP Basic password)."""
    timeout: float = 2.0
    """Seconds to wait for the backend before the sale goes on offline."""


@dataclass(frozen=True, slots=True)
class OfdSettings:
    uri: str | None = None
    """The OFD's TCP address (tcp:HOST:PORT) the FN's queue is drained to; None: not drained."""
    link_template: str = "lab"
    """Receipt link: a template name of ffd-receipt.md §10 or a template with {fn} {fd} {fp} {inn} {rnm}."""
    lab_http: str | None = None
    """host:port of the lab OFD's receipt pages, for the "lab" template."""


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    fn: str
    """FN device URI (serial:PATH or tcp:HOST:PORT)."""
    printer: str
    """Printer device URI (serial:, usb:, tcp:, file:), with ?profile=NAME."""
    journal: Path
    """The sale journal (SQLite)."""
    loyalty: LoyaltySettings = field(default_factory=LoyaltySettings)
    ofd: OfdSettings = field(default_factory=OfdSettings)
    seller: Seller = LAB_SELLER
    kkt: KktSettings = LAB_KKT
    cashier: str = LAB_CASHIER
    """Cashier name printed and sent as tag 1021."""
    catalogue: Catalogue = LAB_CATALOGUE
    path: Path | None = None
    """The file this was read from."""

    @classmethod
    def load(cls, path: Path) -> RegisterConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"config {path}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path}: not valid TOML: {exc}") from None
        return _parse(data, path)

    def to_toml(self) -> str:
        return _dump(self)


def _table(data: dict[str, Any], name: str, where: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config {where}: [{name}] must be a table")
    return value


def _get(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...
) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}: missing {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key!r} has the wrong type: {value!r}")
    return value


def _parse(data: dict[str, Any], path: Path) -> RegisterConfig:
    devices = _table(data, "devices", path)
    where = f"config {path} [devices]"
    loyalty = _table(data, "loyalty", path)
    lw = f"config {path} [loyalty]"
    ofd = _table(data, "ofd", path)
    ow = f"config {path} [ofd]"
    shop = _table(data, "shop", path)
    sw = f"config {path} [shop]"
    kkt = _table(data, "kkt", path)
    kw = f"config {path} [kkt]"
    journal = Path(_get(_table(data, "journal", path), "path", str, f"config {path} [journal]"))
    try:
        seller = Seller(
            name=_get(shop, "name", str, sw, LAB_SELLER.name),
            inn=_get(shop, "inn", str, sw, LAB_SELLER.inn),
            address=_get(shop, "address", str, sw, LAB_SELLER.address),
            place=_get(shop, "place", str, sw, LAB_SELLER.place),
            tax_system=TaxSystem(_get(shop, "tax_system", int, sw, int(LAB_SELLER.tax_system))),
            sender_email=_get(shop, "sender_email", str, sw, LAB_SELLER.sender_email),
        )
    except (ReceiptError, ValueError) as exc:
        raise ConfigError(f"{sw}: {exc}") from None
    entries = data.get("catalogue")
    if entries is None:
        catalogue = LAB_CATALOGUE
    elif not isinstance(entries, list):
        raise ConfigError(f"config {path}: [[catalogue]] must be an array of tables")
    else:
        try:
            catalogue = Catalogue(
                item_from_mapping(e, f"config {path} catalogue entry {i}") for i, e in enumerate(entries, 1)
            )
        except CatalogueError as exc:
            raise ConfigError(str(exc)) from None
    timeout = _get(loyalty, "timeout", (int, float), lw, 2.0)
    if timeout <= 0:
        raise ConfigError(f"{lw}: 'timeout' must be positive, got {timeout}")
    return RegisterConfig(
        fn=_get(devices, "fn", str, where),
        printer=_get(devices, "printer", str, where),
        journal=journal if journal.is_absolute() else path.parent / journal,
        loyalty=LoyaltySettings(
            url=_get(loyalty, "url", str, lw, None),
            device=_get(loyalty, "device", str, lw, "POS-1"),
            secret=_get(loyalty, "secret", str, lw, "lab"),
            timeout=float(timeout),
        ),
        ofd=OfdSettings(
            uri=_get(ofd, "uri", str, ow, None),
            link_template=_get(ofd, "link_template", str, ow, "lab"),
            lab_http=_get(ofd, "lab_http", str, ow, None),
        ),
        seller=seller,
        kkt=KktSettings(
            rnm=_get(kkt, "rnm", str, kw, LAB_KKT.rnm),
            serial=_get(kkt, "serial", str, kw, LAB_KKT.serial),
            ofd_inn=_get(kkt, "ofd_inn", str, kw, LAB_KKT.ofd_inn),
            work_mode=_get(kkt, "work_mode", int, kw, LAB_KKT.work_mode),
            ffd_version=_get(kkt, "ffd_version", int, kw, LAB_KKT.ffd_version),
            fns_site=_get(kkt, "fns_site", str, kw, LAB_KKT.fns_site),
        ),
        cashier=_get(
            _table(data, "register", path), "cashier", str, f"config {path} [register]", LAB_CASHIER
        ),
        catalogue=catalogue,
        path=path,
    )


def _quote(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _dump(cfg: RegisterConfig) -> str:
    lines = [
        "# register config",
        "[devices]",
        f"fn = {_quote(cfg.fn)}",
        f"printer = {_quote(cfg.printer)}",
        "",
        "[journal]",
        f"path = {_quote(cfg.journal)}",
        "",
        "[register]",
        f"cashier = {_quote(cfg.cashier)}",
        "",
        "[loyalty]",
    ]
    if cfg.loyalty.url:
        lines.append(f"url = {_quote(cfg.loyalty.url)}")
    lines += [
        f"device = {_quote(cfg.loyalty.device)}",
        f"secret = {_quote(cfg.loyalty.secret)}",
        f"timeout = {cfg.loyalty.timeout!r}",
        "",
        "[ofd]",
    ]
    if cfg.ofd.uri:
        lines.append(f"uri = {_quote(cfg.ofd.uri)}")
    lines.append(f"link_template = {_quote(cfg.ofd.link_template)}")
    if cfg.ofd.lab_http:
        lines.append(f"lab_http = {_quote(cfg.ofd.lab_http)}")
    s = cfg.seller
    lines += [
        "",
        "[shop]",
        f"name = {_quote(s.name)}",
        f"inn = {_quote(s.inn)}",
        f"address = {_quote(s.address)}",
        f"place = {_quote(s.place)}",
        f"tax_system = {int(s.tax_system)}",
    ]
    if s.sender_email:
        lines.append(f"sender_email = {_quote(s.sender_email)}")
    k = cfg.kkt
    lines += [
        "",
        "[kkt]",
        f"rnm = {_quote(k.rnm)}",
        f"serial = {_quote(k.serial)}",
        f"ofd_inn = {_quote(k.ofd_inn)}",
        f"work_mode = {k.work_mode}",
        f"ffd_version = {k.ffd_version}",
        f"fns_site = {_quote(k.fns_site)}",
    ]
    for item in cfg.catalogue.items:
        lines += ["", "[[catalogue]]"] + [f"{key} = {_quote(v)}" for key, v in item_to_mapping(item).items()]
    return "\n".join(lines) + "\n"
