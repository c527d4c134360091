"""FFD tag dictionary (ffd-receipt.md §2, §3): tag -> names, value type and maximum value length."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class ValueType(Enum):
    STRING = "String"  # CP866, no terminator
    BYTE = "Byte"
    U32 = "U32"
    UNIXTIME = "UnixTime"  # local wall-clock encoded as if UTC (ffd-receipt.md §1)
    VLN = "VLN"
    FVLN = "FVLN"
    BYTES = "ByteArray"
    FISCAL_SIGN = "FiscalSign"  # 1077: 6 bytes, the printed FP is bytes 2..5 big-endian (§6)
    STLV = "STLV"


class TagInfo(NamedTuple):
    name_ru: str
    name_en: str
    type: ValueType
    max_len: int | None  # maximum value bytes (CP866 characters for strings); None: no stated limit


_S, _B, _U, _T = ValueType.STRING, ValueType.BYTE, ValueType.U32, ValueType.UNIXTIME
_V, _F, _STLV = ValueType.VLN, ValueType.FVLN, ValueType.STLV

# Document forms (§2): the top-level STLV of each fiscal document.
DOCUMENT_FORMS: dict[int, TagInfo] = {
    1: TagInfo("ОТЧЕТ О РЕГИСТРАЦИИ", "registration report", _STLV, None),
    11: TagInfo("ОТЧЕТ ОБ ИЗМЕНЕНИИ ПАРАМЕТРОВ РЕГИСТРАЦИИ", "re-registration report", _STLV, None),
    2: TagInfo("ОТЧЕТ ОБ ОТКРЫТИИ СМЕНЫ", "shift open report", _STLV, None),
    21: TagInfo("ОТЧЕТ О ТЕКУЩЕМ СОСТОЯНИИ РАСЧЕТОВ", "calculation-state report", _STLV, None),
    3: TagInfo("КАССОВЫЙ ЧЕК", "receipt", _STLV, None),
    31: TagInfo("КАССОВЫЙ ЧЕК КОРРЕКЦИИ", "correction receipt", _STLV, None),
    4: TagInfo("БЛАНК СТРОГОЙ ОТЧЕТНОСТИ", "strict-reporting form", _STLV, None),
    41: TagInfo("БСО КОРРЕКЦИИ", "BSO correction", _STLV, None),
    5: TagInfo("ОТЧЕТ О ЗАКРЫТИИ СМЕНЫ", "shift close report", _STLV, None),
    6: TagInfo("ОТЧЕТ О ЗАКРЫТИИ ФН", "FN close report", _STLV, None),
    7: TagInfo("ПОДТВЕРЖДЕНИЕ ОПЕРАТОРА", "operator confirmation", _STLV, None),
}

REQUISITES: dict[int, TagInfo] = {
    1000: TagInfo("НАИМЕНОВАНИЕ ДОКУМЕНТА", "document name", _S, None),
    1008: TagInfo("ТЕЛЕФОН ИЛИ ЭЛ. АДРЕС ПОКУПАТЕЛЯ", "buyer phone or e-mail", _S, 64),
    1009: TagInfo("АДРЕС РАСЧЕТОВ", "settlement address", _S, 256),
    1012: TagInfo("ДАТА, ВРЕМЯ", "date, time", _T, 4),
    1013: TagInfo("ЗАВОДСКОЙ НОМЕР ККТ", "KKT serial number", _S, 20),
    1017: TagInfo("ИНН ОФД", "OFD INN", _S, 12),
    1018: TagInfo("ИНН ПОЛЬЗОВАТЕЛЯ", "user INN", _S, 12),
    1020: TagInfo("ИТОГ", "receipt total", _V, 6),
    1021: TagInfo("КАССИР", "cashier", _S, 64),
    1023: TagInfo("КОЛИЧЕСТВО", "quantity", _F, 8),
    1030: TagInfo("НАИМЕНОВАНИЕ ПРЕДМЕТА РАСЧЕТА", "item name", _S, 128),
    1031: TagInfo("НАЛИЧНЫМИ", "paid in cash", _V, 6),
    1037: TagInfo("РН ККТ", "KKT registration number", _S, 20),
    1038: TagInfo("НОМЕР СМЕНЫ", "shift number", _U, 4),
    1040: TagInfo("НОМЕР ФД", "fiscal document number", _U, 4),
    1041: TagInfo("НОМЕР ФН", "FN number", _S, 16),
    1042: TagInfo("НОМЕР ЧЕКА ЗА СМЕНУ", "receipt number in the shift", _U, 4),
    1043: TagInfo("СТОИМОСТЬ ПРЕДМЕТА РАСЧЕТА", "item total", _V, 6),
    1048: TagInfo("НАИМЕНОВАНИЕ ПОЛЬЗОВАТЕЛЯ", "user name", _S, 256),
    1054: TagInfo("ПРИЗНАК РАСЧЕТА", "calculation sign", _B, 1),
    1055: TagInfo("СИСТЕМА НАЛОГООБЛОЖЕНИЯ", "taxation system", _B, 1),
    # 1020 value bytes: one item must fit a single 07h frame (yandex/ofd's 328 is the FFD 1.05 limit).
    1059: TagInfo("ПРЕДМЕТ РАСЧЕТА", "item", _STLV, 1020),
    1060: TagInfo("АДРЕС САЙТА ФНС", "FNS site", _S, 64),
    1077: TagInfo("ФПД", "document fiscal sign", ValueType.FISCAL_SIGN, 6),
    1079: TagInfo("ЦЕНА ЗА ЕДИНИЦУ", "unit price", _V, 6),
    1081: TagInfo("БЕЗНАЛИЧНЫМИ", "paid electronically", _V, 6),
    1102: TagInfo("НДС ЧЕКА ПО СТАВКЕ 20% (22%)", "receipt VAT at 20 % (22 %)", _V, 6),
    1103: TagInfo("НДС ЧЕКА ПО СТАВКЕ 10%", "receipt VAT at 10 %", _V, 6),
    1104: TagInfo("СУММА РАСЧЕТА ПО ЧЕКУ С НДС 0%", "receipt amount at VAT 0 %", _V, 6),
    1105: TagInfo("СУММА РАСЧЕТА ПО ЧЕКУ БЕЗ НДС", "receipt amount without VAT", _V, 6),
    1106: TagInfo("НДС ЧЕКА ПО РАСЧ. СТАВКЕ 20/120 (22/122)", "receipt VAT at 20/120 (22/122)", _V, 6),
    1107: TagInfo("НДС ЧЕКА ПО РАСЧ. СТАВКЕ 10/110", "receipt VAT at 10/110", _V, 6),
    1117: TagInfo("ЭЛ. АДР. ОТПРАВИТЕЛЯ", "sender e-mail", _S, 64),
    1187: TagInfo("МЕСТО РАСЧЕТОВ", "place of settlement", _S, 256),
    1196: TagInfo("QR-КОД", "QR code content", _S, None),
    1197: TagInfo("ЕДИНИЦА ИЗМЕРЕНИЯ", "unit name", _S, 16),
    1199: TagInfo("СТАВКА НДС", "VAT rate", _B, 1),
    1200: TagInfo("СУММА НДС ЗА ПРЕДМЕТ РАСЧЕТА", "item VAT amount", _V, 6),
    1209: TagInfo("ВЕРСИЯ ФФД", "FFD version", _B, 1),
    1212: TagInfo("ПРИЗНАК ПРЕДМЕТА РАСЧЕТА", "item type", _B, 1),
    1214: TagInfo("ПРИЗНАК СПОСОБА РАСЧЕТА", "payment method", _B, 1),
    1215: TagInfo("ПРЕДВАРИТЕЛЬНАЯ ОПЛАТА (АВАНС)", "paid by prepayment", _V, 6),
    1216: TagInfo("ПОСЛЕДУЮЩАЯ ОПЛАТА (КРЕДИТ)", "paid by credit", _V, 6),
    1217: TagInfo("ИНОЕ ПРЕДОСТАВЛЕНИЕ", "paid by counter-provision", _V, 6),
    2108: TagInfo("МЕРА КОЛИЧЕСТВА", "measure of quantity", _B, 1),
}

TAGS: dict[int, TagInfo] = {**DOCUMENT_FORMS, **REQUISITES}

# VLN tags that hold kopecks: shown as rubles in listings.
MONEY_TAGS: frozenset[int] = frozenset(
    {1020, 1031, 1043, 1079, 1081, 1102, 1103, 1104, 1105, 1106, 1107, 1200, 1215, 1216, 1217}
)


def tag_info(tag: int) -> TagInfo | None:
    return TAGS.get(tag)
