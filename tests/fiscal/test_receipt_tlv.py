"""The receipt TLV list sent with 07h (ffd-receipt.md §3) and its packing into 07h chunks."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.domain.quantity import Quantity
from register.domain.receipt import (
    ItemType,
    Measure,
    Operation,
    Payment,
    PaymentKind,
    PaymentMethod,
    Receipt,
    ReceiptLine,
    Seller,
    TaxSystem,
)
from register.domain.vat import VatRate
from register.fiscal.receipt_tlv import build_receipt_tlv, chunk_tlv, item_tlv
from register.fiscal.tlv import TlvError, encode_tlv, iter_tlv, split_tlv

WHEN_2026 = datetime(2026, 1, 15, 14, 32)
WHEN_2025 = datetime(2025, 12, 31, 18, 0)
SELLER = Seller("ООО Ромашка", "7707083893", "г. Москва, ул. Ленина, 1", "Магазин №1", TaxSystem.OSN)
MILK = ReceiptLine("Молоко", 8990, Quantity.of(2), VatRate.VAT22)

# ffd-receipt.md §3 item example with the 1200 TLV (3242 = 0CAAh kopecks) after 1199: 48 + 6 = 54 = 36h.
MILK_ITEM = bytes.fromhex(
    "23 04 36 00  06 04 06 00 8C AE AB AE AA AE  37 04 02 00 1E 23  FF 03 02 00 00 02  13 04 02 00 3C 46"
    "  AF 04 01 00 0B  B0 04 02 00 AA 0C  BE 04 01 00 04  BC 04 01 00 01  3C 08 01 00 00"
)


def cp866(text: str) -> bytes:
    return text.encode("cp866")


def receipt(
    *lines: ReceiptLine,
    payments: tuple[Payment, ...] | None = None,
    when: datetime = WHEN_2026,
    seller: Seller = SELLER,
    cashier: str | None = None,
    contact: str | None = None,
) -> Receipt:
    lines = lines or (MILK,)
    if payments is None:
        payments = (Payment(PaymentKind.ELECTRONIC, sum(line.total for line in lines)),)
    return Receipt(Operation.SALE, lines, payments, seller, when, cashier=cashier, customer_contact=contact)


def tags_of(tlv: bytes) -> list[int]:
    return [tag for tag, _ in iter_tlv(tlv)]


def values_of(tlv: bytes) -> dict[int, bytes]:
    """Top-level tag -> value, for tags that occur once."""
    return dict(iter_tlv(tlv))


# --- items -----------------------------------------------------------------------------------------------


def test_item_is_the_reference_example_plus_its_vat_amount() -> None:
    assert item_tlv(MILK) == MILK_ITEM


def test_item_carries_quantity_measure_method_and_type() -> None:
    line = ReceiptLine(
        "Сыр",
        79900,
        Quantity.parse("0.355"),
        VatRate.VAT10,
        measure=Measure.KILOGRAM,
        method=PaymentMethod.PREPAYMENT,
        item_type=ItemType.SERVICE,
    )
    # 0.355 × 799.00 = 283.645 -> 283.65 (28365 = 6ECDh); VAT 10/110 of it: 2578.63… -> 2579 (0A13h)
    children = dict(iter_tlv(next(iter_tlv(item_tlv(line)))[1]))
    assert children[1023] == bytes.fromhex("03 63 01")  # 355 = 0163h, 3 decimals
    assert children[1043] == bytes.fromhex("CD 6E")
    assert children[1200] == bytes.fromhex("13 0A")
    assert (children[1199], children[1214], children[1212], children[2108]) == (
        b"\x02",
        b"\x02",
        b"\x04",
        b"\x0b",
    )


def test_item_without_vat_has_no_vat_amount() -> None:
    line = ReceiptLine("Книга", 50000, Quantity.of(1), VatRate.NO_VAT)
    children = tags_of(next(iter_tlv(item_tlv(line)))[1])
    assert children == [1030, 1079, 1023, 1043, 1199, 1214, 1212, 2108]


# --- the whole receipt -----------------------------------------------------------------------------------


def test_cash_sale_with_change() -> None:
    tlv = build_receipt_tlv(
        receipt(payments=(Payment(PaymentKind.CASH, 20000),), cashier="Иванова И.И.")  # change 20.20
    )
    assert list(iter_tlv(tlv)) == [
        (1048, cp866("ООО Ромашка")),
        (1018, b"7707083893"),
        (1009, cp866("г. Москва, ул. Ленина, 1")),
        (1187, cp866("Магазин №1")),
        (1021, cp866("Иванова И.И.")),
        (1054, b"\x01"),
        (1055, b"\x01"),
        (1059, MILK_ITEM[4:]),
        (1020, bytes.fromhex("3C 46")),  # 179.80
        (1031, bytes.fromhex("3C 46")),  # cash net of change
        (1102, bytes.fromhex("AA 0C")),  # 22/122 of 179.80 = 32.42
        (1209, b"\x04"),
    ]


def test_no_cashier_no_1021() -> None:
    assert 1021 not in tags_of(build_receipt_tlv(receipt()))


def test_mixed_payment_lists_non_zero_totals_cash_first() -> None:
    payments = (Payment(PaymentKind.ELECTRONIC, 10000), Payment(PaymentKind.CASH, 10000))
    values = values_of(build_receipt_tlv(receipt(payments=payments)))
    # 179.80 due: 100.00 by card, 100.00 cash handed over, 20.20 change -> 79.80 cash (1F2Ch)
    assert values[1031] == bytes.fromhex("2C 1F")
    assert values[1081] == bytes.fromhex("10 27")
    tags = tags_of(build_receipt_tlv(receipt(payments=payments)))
    assert tags[tags.index(1020) + 1 : tags.index(1020) + 3] == [1031, 1081]


def test_zero_payment_totals_are_left_out() -> None:
    # card pays everything, 5.00 cash handed over comes back as change: the cash total is 0
    payments = (Payment(PaymentKind.ELECTRONIC, 17980), Payment(PaymentKind.CASH, 500))
    tags = tags_of(build_receipt_tlv(receipt(payments=payments)))
    assert 1081 in tags
    assert not {1031, 1215, 1216, 1217} & set(tags)


def test_other_payment_kinds_use_their_tags() -> None:
    payments = (
        Payment(PaymentKind.PREPAYMENT, 10000),
        Payment(PaymentKind.CREDIT, 5000),
        Payment(PaymentKind.COUNTER, 2980),
    )
    values = values_of(build_receipt_tlv(receipt(payments=payments)))
    assert (values[1215], values[1216], values[1217]) == (
        bytes.fromhex("10 27"),
        bytes.fromhex("88 13"),
        bytes.fromhex("A4 0B"),
    )


RECEIPT_VAT_CASES = [
    # rate, date, price, receipt tag, its value (hand-computed, half-up)
    (VatRate.VAT22, WHEN_2026, 10000, 1102, 1803),  # 100.00 × 22/122 = 18.0327…
    (VatRate.VAT20, WHEN_2025, 12000, 1102, 2000),
    (VatRate.VAT10, WHEN_2026, 11000, 1103, 1000),
    (VatRate.VAT0, WHEN_2026, 5000, 1104, 5000),  # the amount at 0 %
    (VatRate.NO_VAT, WHEN_2026, 5000, 1105, 5000),  # the amount without VAT
    (VatRate.VAT22_122, WHEN_2026, 12200, 1106, 2200),
    (VatRate.VAT20_120, WHEN_2025, 12000, 1106, 2000),
    (VatRate.VAT10_110, WHEN_2026, 11000, 1107, 1000),
]


@pytest.mark.parametrize(("rate", "when", "price", "tag", "vat"), RECEIPT_VAT_CASES)
def test_receipt_vat_tag_per_rate(rate: VatRate, when: datetime, price: int, tag: int, vat: int) -> None:
    line = ReceiptLine("Товар", price, Quantity.of(1), rate)
    tlv = build_receipt_tlv(receipt(line, when=when))
    vat_tags = [t for t in tags_of(tlv) if 1102 <= t <= 1107]
    assert vat_tags == [tag]
    assert int.from_bytes(values_of(tlv)[tag], "little") == vat


@pytest.mark.parametrize("rate", [VatRate.VAT5, VatRate.VAT7, VatRate.VAT5_105, VatRate.VAT7_107])
def test_new_reduced_rates_have_no_receipt_vat_tag(rate: VatRate) -> None:
    line = ReceiptLine("Товар", 10500, Quantity.of(1), rate)
    tlv = build_receipt_tlv(receipt(line))
    assert not [t for t in tags_of(tlv) if 1100 <= t <= 1120]
    item = dict(iter_tlv(values_of(tlv)[1059]))
    assert item[1199] == bytes([rate.code])
    assert 1200 in item


def test_receipt_vat_is_rounded_once_per_rate() -> None:
    # three 0.10 lines at 22 %: each item VAT 10 × 22/122 = 1.80 -> 2, the receipt 30 × 22/122 = 5.41 -> 5
    dime = ReceiptLine("Спички", 10, Quantity.of(1), VatRate.VAT22)
    tlv = build_receipt_tlv(receipt(dime, dime, dime))
    assert values_of(tlv)[1102] == b"\x05"
    items = [dict(iter_tlv(value)) for tag, value in iter_tlv(tlv) if tag == 1059]
    assert [item[1200] for item in items] == [b"\x02"] * 3


def test_two_rates_give_two_vat_tags_in_tag_order() -> None:
    bread = ReceiptLine("Хлеб", 5500, Quantity.of(1), VatRate.VAT10)
    tlv = build_receipt_tlv(receipt(bread, MILK))
    assert [t for t in tags_of(tlv) if 1102 <= t <= 1107] == [1102, 1103]
    assert values_of(tlv)[1103] == bytes.fromhex("F4 01")  # 55.00 × 10/110 = 5.00


def test_contact_goes_in_1008_with_the_sender_email() -> None:
    seller = Seller("ООО Ромашка", "7707083893", "Москва", "Магазин", TaxSystem.OSN, "noreply@shop.ru")
    tlv = build_receipt_tlv(receipt(seller=seller, contact="+79001234567"))
    assert tags_of(tlv)[-3:] == [1008, 1117, 1209]
    assert values_of(tlv)[1008] == b"+79001234567"
    assert values_of(tlv)[1117] == b"noreply@shop.ru"


def test_contact_without_sender_email() -> None:
    tlv = build_receipt_tlv(receipt(contact="buyer@mail.ru"))
    assert tags_of(tlv)[-2:] == [1008, 1209]
    assert 1117 not in tags_of(tlv)


def test_no_contact_no_1008_and_no_1117() -> None:
    seller = Seller("ООО Ромашка", "7707083893", "Москва", "Магазин", TaxSystem.OSN, "noreply@shop.ru")
    tags = tags_of(build_receipt_tlv(receipt(seller=seller)))
    assert not {1008, 1117} & set(tags)


def test_one_item_per_line_in_order() -> None:
    bread = ReceiptLine("Хлеб", 5500, Quantity.of(1), VatRate.VAT10)
    tlv = build_receipt_tlv(receipt(MILK, bread, MILK))
    names = [dict(iter_tlv(value))[1030] for tag, value in iter_tlv(tlv) if tag == 1059]
    assert names == [cp866("Молоко"), cp866("Хлеб"), cp866("Молоко")]


def test_tax_system_and_return_operation() -> None:
    seller = Seller("ИП Петров", "500100732259", "Тверь", "Киоск", TaxSystem.USN_INCOME)
    sale_return = Receipt(
        Operation.SALE_RETURN, (MILK,), (Payment(PaymentKind.CASH, 17980),), seller, WHEN_2026
    )
    values = values_of(build_receipt_tlv(sale_return))
    assert (values[1054], values[1055], values[1018]) == (b"\x02", b"\x02", b"500100732259")


# --- chunks for 07h --------------------------------------------------------------------------------------

TEN_BYTES = [encode_tlv(tag, bytes(6)) for tag in (1048, 1009, 1187)]  # 4 + 6 bytes each


def test_chunks_pack_whole_tlvs_greedily() -> None:
    assert chunk_tlv(b"".join(TEN_BYTES), limit=25) == [TEN_BYTES[0] + TEN_BYTES[1], TEN_BYTES[2]]
    assert chunk_tlv(b"".join(TEN_BYTES), limit=20) == [TEN_BYTES[0] + TEN_BYTES[1], TEN_BYTES[2]]
    assert chunk_tlv(b"".join(TEN_BYTES), limit=30) == [b"".join(TEN_BYTES)]
    assert chunk_tlv(b"".join(TEN_BYTES), limit=10) == TEN_BYTES


def test_chunk_of_nothing_is_no_chunk() -> None:
    assert chunk_tlv(b"") == []


def test_tlv_over_the_limit_names_its_tag() -> None:
    with pytest.raises(ValueError, match=r"TLV 1059 is 1025 bytes"):
        chunk_tlv(TEN_BYTES[0] + encode_tlv(1059, bytes(1021)))


def test_chunking_inconsistent_bytes_is_a_tlv_error() -> None:
    with pytest.raises(TlvError):
        chunk_tlv(bytes.fromhex("1E 04 05 00 01"))


def test_a_long_receipt_fits_07h_frames() -> None:
    lines = tuple(
        ReceiptLine(f"Товар номер {n} " + "я" * 100, 100 + n, Quantity.of(1), VatRate.VAT22)
        for n in range(40)
    )
    tlv = build_receipt_tlv(receipt(*lines))
    chunks = chunk_tlv(tlv)
    assert len(chunks) > 1
    assert all(len(chunk) <= 1024 for chunk in chunks)
    assert b"".join(chunks) == tlv


TLV_LISTS = st.lists(
    st.builds(encode_tlv, st.integers(min_value=0, max_value=0xFFFF), st.binary(max_size=300)), max_size=20
)


@given(TLV_LISTS, st.integers(min_value=304, max_value=2000))
def test_chunks_are_whole_tlvs_in_order_within_the_limit(tlvs: list[bytes], limit: int) -> None:
    chunks = chunk_tlv(b"".join(tlvs), limit=limit)
    assert b"".join(chunks) == b"".join(tlvs)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert [tlv for chunk in chunks for tlv in split_tlv(chunk)] == tlvs
    # greedy: the next chunk's first TLV did not fit in the one before
    for before, after in pairwise(chunks):
        assert len(before) + len(split_tlv(after)[0]) > limit
