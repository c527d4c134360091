"""What the OFD emulator shows of a fiscal document: a readable summary, and its HTML pages.

The summary is read from the document STLV the FN sent (tags: ffd-receipt.md §3, §9); every value that
reaches HTML is escaped. Pages are marked as test documents of an emulated OFD.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from register.domain.money import format_rub
from register.domain.receipt import Measure, Operation, PaymentKind, PaymentMethod, TaxSystem
from register.domain.vat import STANDARD_RATE_22_FROM, VatRate
from register.fiscal.qr import build_qr
from register.fiscal.tags import DOCUMENT_FORMS
from register.fiscal.tlv import TlvError
from register.fiscal.tlv_decode import DecodedTag, decode_tlv, format_document

TEST_MARK = "ТЕСТОВЫЙ ДОКУМЕНТ / эмулятор ОФД"
NOT_FOUND_TITLE = "Чек не найден / receipt not found"
RECEIPT_FORMS = frozenset({3, 31, 4, 41})  # documents with items and a total (ffd-receipt.md §2)
REGISTRATION_FORMS = frozenset({1, 11})
_PAYMENT_TAGS = tuple(kind.tag for kind in PaymentKind)


class OfdDocumentError(ValueError):
    """A document STLV the OFD cannot accept: unreadable TLV or missing / inconsistent fiscal data."""


@dataclass(frozen=True, slots=True)
class ItemView:
    name: str
    price: int | None  # kopecks
    quantity: Decimal | None
    measure: str
    total: int | None
    vat: str
    vat_amount: int | None
    method: str


@dataclass(frozen=True, slots=True)
class DocumentView:
    """One fiscal document as the OFD shows it; amounts in kopecks."""

    form: int
    title: str
    fn: str
    fd: int
    fp: int
    when: datetime | None
    seller: str | None
    inn: str | None
    address: str | None
    place: str | None
    cashier: str | None
    operation: int | None
    shift: int | None
    receipt_no: int | None
    items: tuple[ItemView, ...]
    total: int | None
    payments: tuple[tuple[str, int], ...]
    vat_totals: tuple[tuple[str, int], ...]
    tax_system: str | None
    buyer_contact: str | None
    sender_email: str | None
    rnm: str | None
    fns_site: str | None
    tags: tuple[DecodedTag, ...]

    @property
    def is_receipt(self) -> bool:
        return self.form in RECEIPT_FORMS

    @property
    def operation_label(self) -> str:
        return _label(lambda: Operation(self.operation).label, self.operation)

    @property
    def qr(self) -> str | None:
        """The receipt QR string (ffd-receipt.md §7); shift reports carry no s and n."""
        if self.when is None:
            return None
        if self.is_receipt:
            if self.total is None or self.operation not in range(1, 5):
                return None
            return build_qr(self.when, self.total, self.fn, self.fd, self.fp, self.operation)
        return build_qr(self.when, None, self.fn, self.fd, self.fp, None)

    @classmethod
    def read(cls, document: bytes, *, fn: str, fd: int) -> DocumentView:
        """Read a document STLV sent under FN ``fn`` as FD ``fd``; 1040, 1041 must agree, 1077 is required."""
        try:
            decoded = decode_tlv(document)
        except (TlvError, ValueError) as exc:
            raise OfdDocumentError(f"FD {fd}: document TLV unreadable: {exc}") from None
        if (
            len(decoded) != 1
            or decoded[0].tag not in DOCUMENT_FORMS
            or not isinstance(decoded[0].value, tuple)
        ):
            raise OfdDocumentError(f"FD {fd}: the document is not one STLV of a known document form")
        root = decoded[0]
        top = _Tags(root.children)
        if top.get(1040, fd) != fd:
            raise OfdDocumentError(f"FD {fd}: the document says FD (1040) {top.get(1040)}")
        if top.get(1041, fn) != fn:
            raise OfdDocumentError(f"FD {fd}: the document says FN (1041) {top.get(1041)!r}, sent by FN {fn}")
        fp = top.get(1077)
        if not isinstance(fp, int):
            raise OfdDocumentError(f"FD {fd}: the document carries no fiscal sign (1077)")
        when = top.get(1012)
        return cls(
            form=root.tag,
            title=DOCUMENT_FORMS[root.tag].name_ru,
            fn=fn,
            fd=fd,
            fp=fp,
            when=when if isinstance(when, datetime) else None,
            seller=top.text(1048),
            inn=top.text(1018),
            address=top.text(1009),
            place=top.text(1187),
            cashier=top.text(1021),
            operation=top.number(1054),
            shift=top.number(1038),
            receipt_no=top.number(1042),
            items=tuple(_item(item) for item in root.children if item.tag == 1059),
            total=top.number(1020),
            payments=tuple(
                (PaymentKind(tag).label, amount) for tag in _PAYMENT_TAGS if (amount := top.number(tag))
            ),
            vat_totals=_vat_totals(top, when if isinstance(when, datetime) else None),
            tax_system=_label(lambda: TaxSystem(top.number(1055)).label, top.number(1055)) or None,
            buyer_contact=top.text(1008),
            sender_email=top.text(1117),
            rnm=top.text(1037),
            fns_site=top.text(1060),
            tags=tuple(decoded),
        )


class _Tags:
    """The first value of each tag of one TLV level."""

    def __init__(self, tags: Iterable[DecodedTag]) -> None:
        self._values: dict[int, object] = {}
        for item in tags:
            self._values.setdefault(item.tag, item.value)

    def get(self, tag: int, default: object = None) -> object:
        return self._values.get(tag, default)

    def text(self, tag: int) -> str | None:
        value = self._values.get(tag)
        return value.strip() if isinstance(value, str) else None

    def number(self, tag: int) -> int | None:
        value = self._values.get(tag)
        return value if isinstance(value, int) else None


def _label(make: Callable[[], str], code: int | None) -> str:
    """A code's printed label, or the bare number when the code is unknown."""
    if code is None:
        return ""
    try:
        return make()
    except ValueError:
        return str(code)


def _item(item: DecodedTag) -> ItemView:
    tags = _Tags(item.children)
    quantity = tags.get(1023)
    vat_code = tags.number(1199)
    return ItemView(
        name=tags.text(1030) or "",
        price=tags.number(1079),
        quantity=quantity if isinstance(quantity, Decimal) else None,
        measure=_label(lambda: Measure(tags.number(2108)).label, tags.number(2108)),
        total=tags.number(1043),
        vat=_label(lambda: VatRate.from_code(vat_code).label, vat_code),
        vat_amount=tags.number(1200),
        method=_label(lambda: PaymentMethod(tags.number(1214)).label, tags.number(1214)),
    )


def _vat_totals(tags: _Tags, when: datetime | None) -> tuple[tuple[str, int], ...]:
    """Receipt VAT tags 1102–1107: 1102 and 1106 hold 20 % until 2025 and 22 % from 2026."""
    rate = 20 if when is not None and when.date() < STANDARD_RATE_22_FROM else 22
    labels = {
        1102: f"НДС {rate}%",
        1103: "НДС 10%",
        1104: "СУММА С НДС 0%",
        1105: "СУММА БЕЗ НДС",
        1106: f"НДС {rate}/{100 + rate}",
        1107: "НДС 10/110",
    }
    return tuple((label, amount) for tag, label in labels.items() if (amount := tags.number(tag)) is not None)


# --- HTML ------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: "DejaVu Sans Mono", Consolas, monospace; background: #eee; margin: 0; padding: 1em; }
main { background: #fff; max-width: 46em; margin: auto; padding: 1.5em; box-shadow: 0 0 .5em #aaa; }
.test { border: 2px dashed #c00; color: #c00; text-align: center; font-weight: bold; padding: .4em; }
h1 { text-align: center; font-size: 1.3em; }
table { width: 100%; border-collapse: collapse; margin: .6em 0; }
td, th { padding: .15em .3em; vertical-align: top; text-align: left; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: bold; font-size: 1.2em; border-top: 1px solid #000; }
.items tr + tr td { border-top: 1px dotted #bbb; }
.qr { word-break: break-all; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f'<p class="test">{_e(TEST_MARK)}</p>\n{body}\n</main>\n</body>\n</html>\n'
    )


def _rows(pairs: Sequence[tuple[str, str | None]]) -> str:
    return "".join(
        f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>\n" for label, value in pairs if value is not None
    )


def _money_rows(pairs: Sequence[tuple[str, int]], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return "".join(
        f'<tr{cls}><td>{_e(label)}</td><td class="num">{_e(format_rub(amount))}</td></tr>\n'
        for label, amount in pairs
    )


def _quantity(item: ItemView) -> str:
    if item.quantity is None:
        return ""
    return f"{item.quantity:f} {item.measure}".strip()


def _items_table(items: Sequence[ItemView]) -> str:
    head = (
        '<tr><th>№</th><th>Наименование</th><th class="num">Цена</th><th class="num">Кол-во</th>'
        '<th class="num">Сумма</th><th>НДС</th><th class="num">Сумма НДС</th></tr>\n'
    )
    rows = []
    for number, item in enumerate(items, start=1):
        price = format_rub(item.price) if item.price is not None else ""
        total = format_rub(item.total) if item.total is not None else ""
        vat_amount = format_rub(item.vat_amount) if item.vat_amount is not None else ""
        rows.append(
            f"<tr><td>{number}</td><td>{_e(item.name)}<br><small>{_e(item.method)}</small></td>"
            f'<td class="num">{_e(price)}</td><td class="num">{_e(_quantity(item))}</td>'
            f'<td class="num">{_e(total)}</td><td>{_e(item.vat)}</td>'
            f'<td class="num">{_e(vat_amount)}</td></tr>\n'
        )
    return f'<table class="items">\n{head}{"".join(rows)}</table>\n'


def _when(view: DocumentView) -> str | None:
    return f"{view.when:%d.%m.%Y %H:%M}" if view.when is not None else None


def receipt_page(view: DocumentView, link: str | None = None) -> str:
    """The page of one document: a receipt with its items, totals and VAT, or any other document listed."""
    header = _rows(
        [
            ("", view.seller),
            ("ИНН", view.inn),
            ("Адрес расчётов", view.address),
            ("Место расчётов", view.place),
            ("Дата, время", _when(view)),
            ("Смена", str(view.shift) if view.shift is not None else None),
            ("Чек за смену", str(view.receipt_no) if view.receipt_no is not None else None),
            ("Признак расчёта", view.operation_label or None),
            ("Кассир", view.cashier),
        ]
    )
    parts = [f"<h1>{_e(view.title)}</h1>\n<table>\n{header}</table>\n"]
    if view.is_receipt:
        parts.append(_items_table(view.items))
        totals = _money_rows([("ИТОГ", view.total)], "total") if view.total is not None else ""
        parts.append(f"<table>\n{totals}{_money_rows(view.payments)}{_money_rows(view.vat_totals)}</table>\n")
    else:
        parts.append(f"<pre>{_e(format_document(list(view.tags)))}</pre>\n")
    fiscal = _rows(
        [
            ("СНО", view.tax_system),
            ("РН ККТ", view.rnm),
            ("ФН", view.fn),
            ("ФД", str(view.fd)),
            ("ФП", str(view.fp)),
            ("Эл. адр. покупателя", view.buyer_contact),
            ("Эл. адр. отправителя", view.sender_email),
            ("Сайт ФНС", view.fns_site),
        ]
    )
    parts.append(f"<table>\n{fiscal}</table>\n")
    if view.qr is not None:
        parts.append(f'<p>QR-код: <code class="qr">{_e(view.qr)}</code></p>\n')
    if link is not None:
        parts.append(f'<p>Ссылка: <a href="{_e(link)}">{_e(link)}</a></p>\n')
    return _page(f"{view.title} № {view.fd}, ФН {view.fn}", "".join(parts))


def not_found_page(what: str) -> str:
    return _page(NOT_FOUND_TITLE, f"<h1>{_e(NOT_FOUND_TITLE)}</h1>\n<p>{_e(what)}</p>\n")


def index_page(rows: Sequence[tuple[str, str]]) -> str:
    """The emulator's start page: the latest documents, each (text, link)."""
    items = "".join(f'<li><a href="{_e(link)}">{_e(text)}</a></li>\n' for text, link in rows)
    body = f"<h1>Эмулятор ОФД</h1>\n<p>Последние документы: {len(rows)}</p>\n<ol>\n{items}</ol>\n"
    return _page("Эмулятор ОФД", body)
