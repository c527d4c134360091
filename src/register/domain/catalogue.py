"""The register's catalogue: what a barcode or SKU sells, at what price and VAT rate."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from register.domain.quantity import Quantity
from register.domain.receipt import Measure, ReceiptLine
from register.domain.vat import VatRate

_ITEM_SPEC = re.compile(r"^(?P<code>[^x*]+?)(?:[x*](?P<qty>[0-9]+(?:[.,][0-9]{1,3})?))?$")


class CatalogueError(ValueError):
    """A catalogue entry or a scanned code that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    barcode: str
    """EAN-13 (or any code the scanner reads)."""
    sku: str
    """The shop's article number; also sent to the loyalty backend."""
    name: str
    price: int
    """Unit price in kopecks (per kilogram for weighed goods)."""
    vat: VatRate
    weighed: bool = False
    """Sold by weight: quantities with up to 3 decimals, in kilograms."""

    @property
    def measure(self) -> Measure:
        return Measure.KILOGRAM if self.weighed else Measure.PIECE

    def line(self, quantity: Quantity) -> ReceiptLine:
        if not self.weighed and quantity.milli % 1000:
            raise CatalogueError(f"{self.name!r} ({self.barcode}) is sold by the piece, not {quantity}")
        return ReceiptLine(self.name, self.price, quantity, self.vat, self.measure, sku=self.sku)


class Catalogue:
    def __init__(self, items: Iterable[CatalogueItem]) -> None:
        self._items = tuple(items)
        self._by_code: dict[str, CatalogueItem] = {}
        for item in self._items:
            for code in (item.barcode, item.sku):
                other = self._by_code.get(code)
                if other is not None and other is not item:
                    raise CatalogueError(f"code {code!r} is used by both {other.name!r} and {item.name!r}")
                self._by_code[code] = item

    @property
    def items(self) -> tuple[CatalogueItem, ...]:
        return self._items

    def find(self, code: str) -> CatalogueItem:
        try:
            return self._by_code[code.strip()]
        except KeyError:
            raise CatalogueError(f"no item with barcode or SKU {code.strip()!r} in the catalogue") from None

    def scan(self, spec: str) -> ReceiptLine:
        """``BARCODE`` or ``BARCODExQTY`` (``4600000000011x2``, ``2000000000015x1.355``) -> a line."""
        match = _ITEM_SPEC.match(spec.strip())
        if match is None:
            raise CatalogueError(f"item {spec!r}: expected BARCODE or BARCODExQUANTITY")
        item = self.find(match["code"])
        try:
            quantity = Quantity.parse(match["qty"]) if match["qty"] else Quantity.of(1)
        except ValueError as exc:
            raise CatalogueError(f"item {spec!r}: {exc}") from None
        return item.line(quantity)


def item_from_mapping(entry: Mapping[str, object], where: str) -> CatalogueItem:
    """One catalogue entry from its TOML/JSON form; errors name ``where`` and the field."""

    def field(name: str, kind: type) -> object:
        if name not in entry:
            raise CatalogueError(f"{where}: missing {name!r}")
        value = entry[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogueError(f"{where}: {name!r} must be {kind.__name__}, got {value!r}")
        return value

    price = field("price", int)
    if price < 0:  # type: ignore[operator]
        raise CatalogueError(f"{where}: price must not be negative (kopecks), got {price}")
    try:
        vat = VatRate.from_code(field("vat", int))  # type: ignore[arg-type]
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    weighed = entry.get("weighed", False)
    if not isinstance(weighed, bool):
        raise CatalogueError(f"{where}: 'weighed' must be true or false, got {weighed!r}")
    return CatalogueItem(
        barcode=str(field("barcode", str)),
        sku=str(field("sku", str)),
        name=str(field("name", str)),
        price=int(price),  # type: ignore[call-overload]
        vat=vat,
        weighed=weighed,
    )


def item_to_mapping(item: CatalogueItem) -> dict[str, object]:
    return {
        "barcode": item.barcode,
        "sku": item.sku,
        "name": item.name,
        "price": item.price,
        "vat": item.vat.code,
        "weighed": item.weighed,
    }
