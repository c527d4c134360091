"""layout_receipt: every field of ffd-receipt.md §9, within the paper's columns, sanitised."""

from __future__ import annotations

import itertools
import re

import pytest
from PIL import Image

from register.domain import Operation, Payment, PaymentKind, Quantity, ReceiptLine, Seller, TaxSystem, VatRate
from register.printing.layout import (
    Cut,
    DrawerKick,
    Feed,
    QrCode,
    RasterImage,
    ReceiptLayout,
    Rule,
    TextLine,
    layout_receipt,
)
from register.profiles import PrinterProfile, all_profiles, load_profile
from tests.printing.conftest import EMULATOR_QR, SELLER, make_receipt, make_stamp

NARROW, WIDE = load_profile("POS-5890"), load_profile("TM-T20III")
BOTH = pytest.mark.parametrize("profile", [NARROW, WIDE], ids=["58mm", "80mm"])


def text_of(layout: ReceiptLayout) -> str:
    return "\n".join(layout.text_lines())


def pair_line(layout: ReceiptLayout, left: str, right: str) -> bool:
    """Some line reads ``left ... right`` (padded), or ``left`` then ``right`` on the next line."""
    lines = [line.strip() for line in layout.text_lines()]
    pattern = re.compile(rf"{re.escape(left)} +{re.escape(right)}")
    return any(pattern.fullmatch(line) for line in lines) or any(
        a == left and b == right for a, b in itertools.pairwise(lines)
    )


@BOTH
def test_every_mandatory_field_is_printed(profile: PrinterProfile) -> None:
    layout = layout_receipt(make_receipt(contact="buyer@example.com"), make_stamp(), profile)
    text = text_of(layout)
    for expected in (
        'ООО "Ромашка"',  # 1048, « » printed as '"' in CP866
        "ИНН 7701234560",  # 1018
        "г. Москва, ул. Тверская, д. 7",  # 1009
        "Магазин №1",  # 1187
        "КАССОВЫЙ ЧЕК",  # 1000
        "ПРИХОД",  # 1054
        "15.01.2026",  # 1012
        "14:32",
        "СМЕНА 5",  # 1038
        "ЧЕК 12",  # 1042
        "Молоко",  # 1030
        "Яблоки",
        "ПОЛНЫЙ РАСЧЕТ",  # 1214
        "ТЕСТОВЫЙ",
        "НЕ ФИСКАЛЬНЫЙ ДОКУМЕНТ",
    ):
        assert expected in text, expected
    for left, right in (
        ("89.90 x 2 шт", "=179.80"),  # 1079 x 1023 (measure) = 1043
        ("129.90 x 1.355 кг", "=176.01"),  # 129.90 x 1.355 = 176.0145
        ("НДС 22%", "32.42"),  # 1199, 1200: 179.80 x 22 / 122
        ("НДС 10%", "16.00"),  # 176.01 x 10 / 110
        ("НАЛИЧНЫМИ", "=355.81"),  # 1031: cash net of change
        ("СДАЧА", "=144.19"),  # 500.00 - 355.81
        ("СНО", "УСН доход"),  # 1055
        ("КАССИР", "Иванова А.А."),  # 1021
        ("РН ККТ", "0000000001012345"),  # 1037
        ("ФН", "9999078900004312"),  # 1041
        ("ФД", "42"),  # 1040
        ("ФП", "3098173039"),  # 1077
        ("САЙТ ФНС", "www.nalog.gov.ru"),  # 1060
        ("ЭЛ. АДР. ПОКУПАТЕЛЯ", "buyer@example.com"),  # 1008
        ("ЭЛ. АДР. ОТПРАВИТЕЛЯ", "noreply@romashka.example"),  # 1117
    ):
        assert pair_line(layout, left, right), (left, right)
    total = [op for op in layout.ops if isinstance(op, TextLine) and op.text.startswith("ИТОГ")]
    assert len(total) == 1 and total[0].text.split() == ["ИТОГ", "=355.81"]  # 1020
    assert total[0].bold and total[0].height == 2
    assert [op.data for op in layout.ops if isinstance(op, QrCode)] == [EMULATOR_QR]  # 1196


@BOTH
def test_vat_totals_per_rate(profile: PrinterProfile) -> None:
    lines = (
        ReceiptLine("Газета", 3500, Quantity.of(1), VatRate.NO_VAT),
        ReceiptLine("Лекарство", 10000, Quantity.of(1), VatRate.VAT0),
        ReceiptLine("Аванс", 12200, Quantity.of(1), VatRate.VAT22_122),
    )
    layout = layout_receipt(make_receipt(lines=lines), make_stamp(), profile)
    assert pair_line(layout, "СУММА БЕЗ НДС", "35.00")  # 1105
    assert pair_line(layout, "СУММА С НДС 0%", "100.00")  # 1104
    assert pair_line(layout, "НДС 22/122", "22.00")  # 122.00 x 22 / 122
    assert "БЕЗ НДС" in text_of(layout).splitlines()


@BOTH
def test_card_payment_has_no_change_and_no_drawer(profile: PrinterProfile) -> None:
    layout = layout_receipt(
        make_receipt(payments=(Payment(PaymentKind.ELECTRONIC, 35581),)), make_stamp(), profile
    )
    assert pair_line(layout, "БЕЗНАЛИЧНЫМИ", "=355.81")
    assert "СДАЧА" not in text_of(layout)
    assert not any(isinstance(op, DrawerKick) for op in layout.ops)


def test_return_and_no_contact_and_real_fn() -> None:
    layout = layout_receipt(make_receipt(operation=Operation.SALE_RETURN), make_stamp(emulated=False), WIDE)
    text = text_of(layout)
    assert "ВОЗВРАТ ПРИХОДА" in text
    assert "ЭЛ. АДР." not in text
    assert "ТЕСТОВЫЙ" not in text


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.name)
def test_ending_follows_the_profile(profile: PrinterProfile) -> None:
    ops = layout_receipt(make_receipt(), make_stamp(), profile).ops
    feed_at = ops.index(Feed(profile.feed_lines_before_cut))
    tail = ops[feed_at + 1 :]
    expected = ((Cut(),) if profile.cutter else ()) + ((DrawerKick(),) if profile.drawer else ())
    assert tail == expected


@BOTH
def test_a_repeat_print_says_so_under_the_title_and_a_first_print_does_not(profile: PrinterProfile) -> None:
    first = [line.strip() for line in layout_receipt(make_receipt(), make_stamp(), profile).text_lines()]
    again = [
        line.strip()
        for line in layout_receipt(make_receipt(), make_stamp(), profile, repeat=True).text_lines()
    ]

    title = again.index("КАССОВЫЙ ЧЕК")
    assert again[title + 1] == "ПОВТОРНАЯ ПЕЧАТЬ (КОПИЯ)"
    assert [line for line in again if line != "ПОВТОРНАЯ ПЕЧАТЬ (КОПИЯ)"] == first
    assert not any("ПОВТОР" in line for line in first)


def test_cheque_messages_come_after_the_fiscal_part_sanitised() -> None:
    layout = layout_receipt(
        make_receipt(), make_stamp(), WIDE, cheque_messages=["Скидка 10%\nна кофе\x1b@", "До встречи!"]
    )
    lines = layout.text_lines()
    qr_at = next(i for i, line in enumerate(lines) if line.startswith("[QR "))
    assert lines[-3:] == ["Скидка 10%", "на кофе@", "До встречи!"]
    assert qr_at < len(lines) - 3


LONG_WORD = "Ы" * 128
LONG_NAME = "Очень длинное название товара с подробным описанием состава и упаковки " * 2
LONG_SELLER = Seller(
    name="Общество с ограниченной ответственностью " + "«Торговый дом Очень Длинное Название» " * 5,
    inn="770123456012",
    address="Российская Федерация, " * 10,
    place="Торговый зал №1, " * 10,
    tax_system=TaxSystem.USN_INCOME_EXPENSE,
    sender_email="a" * 40 + "@" + "b" * 15 + ".example",
)


@BOTH
def test_lines_never_exceed_the_columns(profile: PrinterProfile) -> None:
    lines = (
        ReceiptLine(LONG_WORD, 99_999_999_999, Quantity.parse("999.999"), VatRate.VAT22),
        ReceiptLine(LONG_NAME[:128], 123456789, Quantity.parse("0.001"), VatRate.VAT10_110),
        ReceiptLine("Молоко", 1, Quantity.of(1), VatRate.NO_VAT),
    )
    total = sum(line.total for line in lines)
    receipt = make_receipt(
        lines=lines,
        payments=(Payment(PaymentKind.CASH, total + 99_999_999),),
        seller=LONG_SELLER,
        cashier="Ц" * 64,
        contact="c" * 50 + "@example.com",
    )
    layout = layout_receipt(receipt, make_stamp(), profile, cheque_messages=[LONG_NAME, LONG_WORD])
    assert layout.columns == profile.columns_a
    for op in layout.ops:
        if isinstance(op, TextLine):
            assert len(op.text) * op.width <= profile.columns_a, op
    # 999999999.99 x 999.999 = 999998999990.00000999: the line total is still printed whole.
    assert "=999998999990.00" in text_of(layout).replace(" ", "")


def test_big_total_is_still_bold_and_tall() -> None:
    line = ReceiptLine("Золото", 99_999_999_999, Quantity.of(1), VatRate.VAT22)
    receipt = make_receipt(lines=(line,), payments=(Payment(PaymentKind.ELECTRONIC, 99_999_999_999),))
    total = [
        op for op in layout_receipt(receipt, make_stamp(), NARROW).ops if isinstance(op, TextLine) and op.bold
    ]
    # "ИТОГ =999999999.99" is 18 characters: too wide at double width on 32 columns, so normal width.
    assert TextLine("ИТОГ" + " " * 15 + "=999999999.99", bold=True, width=1, height=2) in total


def test_hostile_names_lose_their_control_bytes() -> None:
    hostile = ReceiptLine("Молоко\x1b@\x1dV\x00", 8990, Quantity.of(1), VatRate.VAT22)
    seller = Seller(SELLER.name + "\x1b@", SELLER.inn, "ул.\x10\x04\x01 Тверская", "Зал\r\n1", TaxSystem.OSN)
    receipt = make_receipt(lines=(hostile,), seller=seller, cashier="Петров\x1dV\x41\x00")
    texts = [op.text for op in layout_receipt(receipt, make_stamp(), WIDE).ops if isinstance(op, TextLine)]
    assert "Молоко@V" in texts
    assert any(text.startswith("КАССИР") and text.endswith("ПетровVA") for text in texts)
    assert all(not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) for text in texts)


def test_every_text_is_printable_in_the_table() -> None:
    receipt = make_receipt(
        lines=(ReceiptLine("Кофе «Арабика» — 250 г, 5 €, Ціна…", 45900, Quantity.of(1), VatRate.VAT22),)
    )
    layout = layout_receipt(receipt, make_stamp(), WIDE)
    for line in layout.text_lines():
        if not line.startswith("[QR "):
            line.encode("cp866")  # would raise on ₽, «, —, €, і, …
    assert 'Кофе "Арабика" - 250 г, 5 EUR, Цiна...' in layout.text_lines()


def test_text_lines_show_rules_and_the_qr() -> None:
    logo = RasterImage(Image.new("1", (8, 8)))
    layout = ReceiptLayout(5, "PC866", (Rule("="), QrCode("abc", 5), Feed(2), logo))
    assert layout.text_lines() == ["=====", "[QR abc]"]
