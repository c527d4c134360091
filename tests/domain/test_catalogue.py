from __future__ import annotations

import pytest

from register.config import LAB_CATALOGUE
from register.domain.catalogue import Catalogue, CatalogueError, CatalogueItem, item_from_mapping
from register.domain.quantity import Quantity
from register.domain.receipt import Measure
from register.domain.vat import VatRate


def test_scan_by_barcode_and_sku_with_quantity() -> None:
    line = LAB_CATALOGUE.scan("2000000000015x1.355")
    assert (line.name, line.quantity, line.measure, line.total) == (
        "Яблоки Гала, вес",
        Quantity(1355),
        Measure.KILOGRAM,
        17601,  # 129.90 x 1.355 = 176.0145 -> 176.01
    )
    assert LAB_CATALOGUE.scan("MILK-1L*2").total == 17980


def test_piece_goods_refuse_fractions() -> None:
    with pytest.raises(CatalogueError, match="sold by the piece"):
        LAB_CATALOGUE.scan("4600000000011x1.5")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("999", "no item"),
        ("4600000000011x", "expected BARCODE"),
        ("4600000000011x1.2345", "expected BARCODE"),
    ],
)
def test_bad_scans_are_named(spec: str, needle: str) -> None:
    with pytest.raises(CatalogueError, match=needle):
        LAB_CATALOGUE.scan(spec)


def test_lab_catalogue_has_every_vat_rate_valid_in_2026_and_weighed_goods() -> None:
    rates = {item.vat for item in LAB_CATALOGUE.items}
    assert rates == set(VatRate) - {VatRate.VAT20, VatRate.VAT20_120}
    assert any(item.weighed for item in LAB_CATALOGUE.items)


def test_duplicate_codes_rejected() -> None:
    a = CatalogueItem("1", "A", "a", 100, VatRate.VAT22)
    b = CatalogueItem("1", "B", "b", 100, VatRate.VAT22)
    with pytest.raises(CatalogueError, match="used by both"):
        Catalogue([a, b])


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"sku": "A", "name": "a", "price": 1, "vat": 11}, "missing 'barcode'"),
        ({"barcode": "1", "sku": "A", "name": "a", "price": 1.5, "vat": 11}, "'price' must be int"),
        ({"barcode": "1", "sku": "A", "name": "a", "price": 1, "vat": 99}, "99"),
        ({"barcode": "1", "sku": "A", "name": "a", "price": -1, "vat": 11}, "negative"),
    ],
)
def test_bad_entries_name_the_field(entry: dict[str, object], needle: str) -> None:
    with pytest.raises(CatalogueError, match=needle):
        item_from_mapping(entry, "entry 3")
