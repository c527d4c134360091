"""The tag table against ffd-receipt.md §2 (document forms) and §3 (key tags, item members)."""

from __future__ import annotations

import pytest

from register.fiscal.tags import DOCUMENT_FORMS, MONEY_TAGS, TAGS, ValueType, tag_info

V, S, B, U = ValueType.VLN, ValueType.STRING, ValueType.BYTE, ValueType.U32

# (tag, type, max) copied from the tables of ffd-receipt.md §3.
REFERENCE_TAGS = [
    (1000, S, None),
    (1008, S, 64),
    (1009, S, 256),
    (1012, ValueType.UNIXTIME, 4),
    (1013, S, 20),
    (1017, S, 12),
    (1018, S, 12),
    (1020, V, 6),
    (1021, S, 64),
    (1031, V, 6),
    (1037, S, 20),
    (1038, U, 4),
    (1040, U, 4),
    (1041, S, 16),
    (1042, U, 4),
    (1048, S, 256),
    (1054, B, 1),
    (1055, B, 1),
    (1059, ValueType.STLV, 1020),
    (1060, S, 64),
    (1077, ValueType.FISCAL_SIGN, 6),
    (1081, V, 6),
    (1102, V, 6),
    (1103, V, 6),
    (1104, V, 6),
    (1105, V, 6),
    (1106, V, 6),
    (1107, V, 6),
    (1117, S, 64),
    (1187, S, 256),
    (1196, S, None),
    (1209, B, 1),
    (1215, V, 6),
    (1216, V, 6),
    (1217, V, 6),
    (1030, S, 128),
    (1079, V, 6),
    (1023, ValueType.FVLN, 8),
    (1043, V, 6),
    (1199, B, 1),
    (1200, V, 6),
    (1214, B, 1),
    (1212, B, 1),
    (2108, B, 1),
    (1197, S, 16),
]


@pytest.mark.parametrize(("tag", "value_type", "max_len"), REFERENCE_TAGS)
def test_tag_type_and_maximum_follow_the_reference(
    tag: int, value_type: ValueType, max_len: int | None
) -> None:
    info = tag_info(tag)
    assert info is not None
    assert (info.type, info.max_len) == (value_type, max_len)
    assert info.name_ru and info.name_en


def test_document_forms_are_top_level_stlvs() -> None:
    assert set(DOCUMENT_FORMS) == {1, 11, 2, 21, 3, 31, 4, 41, 5, 6, 7}
    assert all(TAGS[code].type is ValueType.STLV for code in DOCUMENT_FORMS)
    assert TAGS[3].name_ru == "КАССОВЫЙ ЧЕК"


def test_entry_unpacks_as_names_type_and_maximum() -> None:
    name_ru, name_en, value_type, max_len = TAGS[1020]
    assert (name_ru, value_type, max_len) == ("ИТОГ", ValueType.VLN, 6)
    assert name_en == "receipt total"


def test_money_tags_are_the_kopeck_vlns() -> None:
    assert {1020, 1031, 1081, 1215, 1216, 1217, 1079, 1043, 1200} <= MONEY_TAGS
    assert all(TAGS[tag].type is ValueType.VLN for tag in MONEY_TAGS)


def test_unknown_tag_has_no_entry() -> None:
    assert tag_info(9999) is None
