from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from register.domain import (
    ItemType,
    Measure,
    Operation,
    Payment,
    PaymentKind,
    PaymentMethod,
    Quantity,
    Receipt,
    ReceiptError,
    ReceiptLine,
    Seller,
    TaxSystem,
    VatRate,
    is_customer_contact,
)

SELLER = Seller(
    name="ООО «Ромашка»",
    inn="7701234567",
    address="г. Москва, ул. Тверская, д. 1",
    place="Магазин «Ромашка»",
    tax_system=TaxSystem.OSN,
)
IN_2026 = datetime(2026, 1, 15, 14, 32)
IN_2025 = datetime(2025, 12, 31, 23, 59)
MILK = ReceiptLine("Молоко", 8990, Quantity.of(2), VatRate.VAT22)  # 179.80
CHEESE = ReceiptLine("Сыр", 12345, Quantity.parse("1.5"), VatRate.VAT22, measure=Measure.KILOGRAM)  # 185.18


def receipt(
    lines: tuple[ReceiptLine, ...],
    payments: tuple[Payment, ...],
    when: datetime = IN_2026,
    customer_contact: str | None = None,
) -> Receipt:
    return Receipt(Operation.SALE, lines, payments, SELLER, when, customer_contact=customer_contact)


# --- the coded signs (ffd-receipt.md §3, §5) ---


def test_operation_is_tag_1054() -> None:
    assert [(op.value, op.label) for op in Operation] == [
        (1, "ПРИХОД"),
        (2, "ВОЗВРАТ ПРИХОДА"),
        (3, "РАСХОД"),
        (4, "ВОЗВРАТ РАСХОДА"),
    ]


def test_measure_is_tag_2108_with_printed_units() -> None:
    assert [(m.name, m.value, m.label) for m in Measure] == [
        ("PIECE", 0, "шт"),
        ("GRAM", 10, "г"),
        ("KILOGRAM", 11, "кг"),
        ("METRE", 22, "м"),
        ("LITRE", 41, "л"),
        ("OTHER", 255, ""),
    ]


def test_payment_method_is_tag_1214_with_the_ffd_printed_text() -> None:
    assert [(m.value, m.label) for m in PaymentMethod] == [
        (1, "ПРЕДОПЛАТА 100%"),
        (2, "ПРЕДОПЛАТА"),
        (3, "АВАНС"),
        (4, "ПОЛНЫЙ РАСЧЕТ"),
        (5, "ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ"),
        (6, "ПЕРЕДАЧА В КРЕДИТ"),
        (7, "ОПЛАТА КРЕДИТА"),
    ]


def test_item_type_is_tag_1212() -> None:
    assert [(t.name, t.value) for t in ItemType] == [
        ("GOODS", 1),
        ("EXCISE", 2),
        ("WORK", 3),
        ("SERVICE", 4),
        ("PAYMENT", 10),
        ("OTHER", 13),
    ]


def test_tax_system_is_one_bit_of_tag_1055() -> None:
    assert [(t.value, t.label) for t in TaxSystem] == [
        (0b1, "ОСН"),
        (0b10, "УСН доход"),
        (0b100, "УСН доход - расход"),
        (0b1000, "ЕНВД"),
        (0b10000, "ЕСХН"),
        (0b100000, "ПСН"),
    ]


def test_payment_kind_names_its_tag_and_printed_text() -> None:
    assert [(k.name, k.tag, k.label) for k in PaymentKind] == [
        ("CASH", 1031, "НАЛИЧНЫМИ"),
        ("ELECTRONIC", 1081, "БЕЗНАЛИЧНЫМИ"),
        ("PREPAYMENT", 1215, "ПРЕДВАРИТЕЛЬНАЯ ОПЛАТА (АВАНС)"),
        ("CREDIT", 1216, "ПОСЛЕДУЮЩАЯ ОПЛАТА (КРЕДИТ)"),
        ("COUNTER", 1217, "ИНОЕ ПРЕДОСТАВЛЕНИЕ"),
    ]


# --- lines, payments, seller ---


def test_line_defaults_to_a_fully_paid_piece_of_goods() -> None:
    assert (MILK.measure, MILK.method, MILK.item_type, MILK.sku) == (
        Measure.PIECE,
        PaymentMethod.FULL,
        ItemType.GOODS,
        None,
    )


def test_line_total_and_vat_from_the_reference_example() -> None:
    assert MILK.total == 17980  # 89.90 × 2 = 179.80
    assert MILK.vat_amount == 3242  # 179.80 × 22 / 122 = 32.42


def test_weighed_line_total_rounds_half_up() -> None:
    assert CHEESE.total == 18518  # 123.45 × 1.5 = 185.175 -> 185.18
    assert CHEESE.vat_amount == 3339  # 185.18 × 22 / 122 = 33.393…


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"price": -1}, "negative"),
        ({"price": 89.9}, "int"),
        ({"name": ""}, "item name"),
        ({"name": "   "}, "item name"),
        ({"name": "Я" * 129}, "128"),
        ({"quantity": 2}, "Quantity"),
        ({"vat": 11}, "VatRate"),
        ({"method": 4}, "PaymentMethod"),
    ],
)
def test_line_rejects_bad_fields_naming_them(kwargs: dict[str, object], named: str) -> None:
    fields: dict[str, object] = {
        "name": "Молоко",
        "price": 8990,
        "quantity": Quantity.of(1),
        "vat": VatRate.VAT22,
    }
    with pytest.raises(ReceiptError, match=named):
        ReceiptLine(**(fields | kwargs))  # type: ignore[arg-type]


def test_free_line_is_allowed() -> None:
    assert ReceiptLine("Пакет", 0, Quantity.of(1), VatRate.VAT22).total == 0


@pytest.mark.parametrize("amount", [0, -100])
def test_payment_must_be_positive(amount: int) -> None:
    with pytest.raises(ReceiptError, match="positive"):
        Payment(PaymentKind.CASH, amount)


@pytest.mark.parametrize("inn", ["7701234567", "770123456789"])
def test_seller_inn_of_10_or_12_digits(inn: str) -> None:
    assert Seller("ИП Иванов", inn, "г. Тула", "Ларёк", TaxSystem.PATENT).inn == inn


@pytest.mark.parametrize("inn", ["77012345678", "770123456", "77012345ab", "", "7701234567 "])
def test_seller_rejects_other_inns(inn: str) -> None:
    with pytest.raises(ReceiptError, match="INN"):
        Seller("ИП Иванов", inn, "г. Тула", "Ларёк", TaxSystem.PATENT)


def test_seller_rejects_a_sender_email_that_is_not_one() -> None:
    with pytest.raises(ReceiptError, match="1117"):
        Seller("ИП Иванов", "7701234567", "г. Тула", "Ларёк", TaxSystem.PATENT, sender_email="shop")


# --- totals, payments and change ---


def test_total_is_the_sum_of_line_totals() -> None:
    assert receipt((MILK, CHEESE), (Payment(PaymentKind.CASH, 36498),)).total == 36498


def test_mixed_cash_and_card_payment_with_change() -> None:
    # 179.80 + 185.18 = 364.98; card 200.00 + cash 200.00 = 400.00; change 35.02.
    r = receipt((MILK, CHEESE), (Payment(PaymentKind.ELECTRONIC, 20000), Payment(PaymentKind.CASH, 20000)))
    assert r.paid(PaymentKind.CASH) == 20000
    assert r.paid(PaymentKind.ELECTRONIC) == 20000
    assert r.paid(PaymentKind.CREDIT) == 0
    assert r.change == 3502
    assert r.payment_totals() == {PaymentKind.CASH: 16498, PaymentKind.ELECTRONIC: 20000}


def test_exact_cash_payment_gives_no_change() -> None:
    r = receipt((MILK,), (Payment(PaymentKind.CASH, 17980),))
    assert r.change == 0
    assert r.payment_totals() == {PaymentKind.CASH: 17980}


def test_several_payments_of_one_kind_add_up() -> None:
    r = receipt((MILK,), (Payment(PaymentKind.CASH, 10000), Payment(PaymentKind.CASH, 10000)))
    assert r.paid(PaymentKind.CASH) == 20000
    assert r.change == 2020
    assert r.payment_totals() == {PaymentKind.CASH: 17980}


def test_card_payment_exceeding_the_total_is_rejected() -> None:
    with pytest.raises(ReceiptError, match="non-cash"):
        receipt((MILK,), (Payment(PaymentKind.ELECTRONIC, 20000),))


def test_non_cash_kinds_together_may_not_exceed_the_total() -> None:
    with pytest.raises(ReceiptError, match="non-cash"):
        receipt((MILK,), (Payment(PaymentKind.ELECTRONIC, 10000), Payment(PaymentKind.PREPAYMENT, 8000)))


def test_card_paying_the_total_exactly_is_accepted() -> None:
    r = receipt((MILK,), (Payment(PaymentKind.ELECTRONIC, 17980),))
    assert r.change == 0
    assert r.payment_totals() == {PaymentKind.ELECTRONIC: 17980}


def test_payments_short_of_the_total_are_rejected() -> None:
    with pytest.raises(ReceiptError, match=r"100\.00 do not cover the total of 179\.80"):
        receipt((MILK,), (Payment(PaymentKind.CASH, 10000),))


def test_a_receipt_needs_a_line() -> None:
    with pytest.raises(ReceiptError, match="at least one line"):
        receipt((), (Payment(PaymentKind.CASH, 100),))


def test_lines_and_payments_are_stored_as_tuples() -> None:
    r = Receipt(Operation.SALE, [MILK], [Payment(PaymentKind.CASH, 17980)], SELLER, IN_2026)  # type: ignore[arg-type]
    assert r.lines == (MILK,)
    assert r.payments == (Payment(PaymentKind.CASH, 17980),)


def test_receipt_is_immutable() -> None:
    r = receipt((MILK,), (Payment(PaymentKind.CASH, 17980),))
    with pytest.raises(FrozenInstanceError):
        r.cashier = "Иванова"  # type: ignore[misc]


def test_receipt_time_is_naive_local_time() -> None:
    with pytest.raises(ReceiptError, match="naive"):
        receipt((MILK,), (Payment(PaymentKind.CASH, 17980),), when=datetime(2026, 1, 15, 14, 32, tzinfo=UTC))


def test_a_return_follows_the_same_payment_rules() -> None:
    r = Receipt(Operation.SALE_RETURN, (MILK,), (Payment(PaymentKind.ELECTRONIC, 17980),), SELLER, IN_2026)
    assert r.payment_totals() == {PaymentKind.ELECTRONIC: 17980}


# --- VAT by date and VAT totals ---


def test_20_percent_rate_is_rejected_on_a_2026_receipt_naming_the_line() -> None:
    old = ReceiptLine("Хлеб", 5000, Quantity.of(1), VatRate.VAT20)
    with pytest.raises(ReceiptError, match=r"line 2 \('Хлеб'\): НДС 20% .* 2026-01-15"):
        receipt((MILK, old), (Payment(PaymentKind.CASH, 22980),))


def test_20_percent_rate_is_accepted_on_a_2025_receipt() -> None:
    old = ReceiptLine("Хлеб", 6000, Quantity.of(1), VatRate.VAT20)
    r = receipt((old,), (Payment(PaymentKind.CASH, 6000),), when=IN_2025)
    assert r.vat_totals() == {VatRate.VAT20: 1000}  # 60.00 × 20 / 120


def test_22_percent_rate_is_rejected_on_a_2025_receipt() -> None:
    with pytest.raises(ReceiptError, match="НДС 22%"):
        receipt((MILK,), (Payment(PaymentKind.CASH, 17980),), when=IN_2025)


def test_vat_totals_round_once_per_rate_and_carry_amounts_for_vat0_and_no_vat() -> None:
    bread = ReceiptLine("Хлеб", 4550, Quantity.of(1), VatRate.VAT10)
    medicine = ReceiptLine("Лекарство", 10000, Quantity.of(1), VatRate.NO_VAT)
    export = ReceiptLine("Экспорт", 2500, Quantity.of(2), VatRate.VAT0)
    r = receipt((MILK, export, bread, CHEESE, medicine), (Payment(PaymentKind.CASH, 60000),))
    assert r.amount_by_vat() == {
        VatRate.VAT22: 36498,  # 179.80 + 185.18
        VatRate.VAT10: 4550,
        VatRate.VAT0: 5000,
        VatRate.NO_VAT: 10000,
    }
    # 364.98 × 22 / 122 = 65.816 -> 65.82, whereas the line VATs 32.42 + 33.39 would give 65.81.
    assert r.vat_totals() == {
        VatRate.VAT22: 6582,
        VatRate.VAT10: 414,  # 45.50 × 10 / 110 = 4.136…
        VatRate.VAT0: 5000,
        VatRate.NO_VAT: 10000,
    }


# --- buyer contact (1008) ---


@pytest.mark.parametrize(
    "contact", ["+79161234567", "buyer@example.ru", "покупатель@пример.рф", "a.b+c@mail.co.uk"]
)
def test_contact_may_be_a_phone_or_an_email(contact: str) -> None:
    assert is_customer_contact(contact)
    assert (
        receipt((MILK,), (Payment(PaymentKind.CASH, 17980),), customer_contact=contact).customer_contact
        == contact
    )


@pytest.mark.parametrize(
    "contact",
    [
        "89161234567",
        "+7916123456",
        "+791612345678",
        "+7 916 123 45 67",
        "buyer",
        "buyer@",
        "@example.ru",
        "buyer@example",
        "a@b@example.ru",
        "x" * 60 + "@mail.ru",
        "",
    ],
)
def test_contact_that_is_neither_is_rejected(contact: str) -> None:
    assert not is_customer_contact(contact)
    with pytest.raises(ReceiptError, match="1008"):
        receipt((MILK,), (Payment(PaymentKind.CASH, 17980),), customer_contact=contact)


# --- property: the payment identity 1020 = 1031 + 1081 + 1215 + 1216 + 1217 ---

LINES = st.lists(
    st.builds(
        ReceiptLine,
        name=st.just("Товар"),
        price=st.integers(min_value=0, max_value=10**7),
        quantity=st.builds(Quantity, st.integers(min_value=1, max_value=100_000)),
        vat=st.sampled_from([rate for rate in VatRate if rate.valid_on(IN_2026.date())]),
    ),
    min_size=1,
    max_size=8,
)
NON_CASH = [PaymentKind.ELECTRONIC, PaymentKind.PREPAYMENT, PaymentKind.CREDIT, PaymentKind.COUNTER]


@st.composite
def paid_receipts(draw: st.DrawFn) -> tuple[Receipt, int]:
    lines = draw(LINES)
    total = sum(line.total for line in lines)
    non_cash_total = draw(st.integers(min_value=0, max_value=total))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=non_cash_total), min_size=3, max_size=3)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, non_cash_total], strict=True)]
    payments = [Payment(kind, share) for kind, share in zip(NON_CASH, shares, strict=True) if share > 0]
    change = draw(st.integers(min_value=0, max_value=10**6))
    cash = total - non_cash_total + change
    if cash > 0:
        payments.append(Payment(PaymentKind.CASH, cash))
    payments = draw(st.permutations(payments))
    return receipt(tuple(lines), tuple(payments)), change


@settings(deadline=None)
@given(paid_receipts())
def test_payment_totals_always_sum_to_the_total(paid: tuple[Receipt, int]) -> None:
    r, change = paid
    totals = r.payment_totals()
    assert sum(totals.values()) == r.total
    assert all(amount >= 0 for amount in totals.values())
    assert r.change == change
