"""QR module size: symbol >= 20 mm (ffd-receipt.md §7), quiet zone within the print line (escpos.md §1.3)."""

from __future__ import annotations

import dataclasses

import pytest

from register.printing.qr_size import QrSizeError, qr_module_size, qr_symbol
from register.profiles import all_profiles, load_profile

# ffd-receipt.md §7: the emulator example, 68 characters.
EMULATOR_QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"


@pytest.mark.parametrize(
    ("length", "ec", "version"),
    [
        # Byte-mode capacity of the QR standard: version 4 holds 78 (L) / 62 (M) bytes, version 5 106 / 84.
        (62, "M", 4),
        (63, "M", 5),
        (84, "M", 5),
        (85, "M", 6),
        (78, "L", 4),
        (79, "L", 5),
    ],
)
def test_version_is_the_smallest_byte_mode_fit(length: int, ec: str, version: int) -> None:
    symbol = qr_symbol("x" * length, ec)
    assert (symbol.version, symbol.modules) == (version, 17 + 4 * version)


def test_the_receipt_example_is_version_5_at_m() -> None:
    assert qr_symbol(EMULATOR_QR, "M").modules == 37


@pytest.mark.parametrize(
    ("name", "module"),
    # ffd-receipt.md §7: 5 dots at 203 dpi (37 modules: 23.2 mm), 4 at 180 dpi for version 5 (20.9 mm).
    [("TM-T20III", 5), ("XP-80", 5), ("RP-326", 5), ("POS-5890", 5), ("TM-T88V", 4)],
)
def test_module_size_of_the_receipt_qr(name: str, module: int) -> None:
    assert qr_module_size(EMULATOR_QR, load_profile(name)) == module


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.name)
@pytest.mark.parametrize("ec", ["L", "M", "Q", "H"])
def test_symbol_is_at_least_20_mm_and_the_smallest_such(profile: object, ec: str) -> None:
    modules = 17 + 4 * qr_symbol(EMULATOR_QR, ec).version
    module = qr_module_size(EMULATOR_QR, profile, ec)  # type: ignore[arg-type]
    dots_per_mm = profile.dpi / 25.4  # type: ignore[attr-defined]
    assert modules * module / dots_per_mm >= 20
    assert modules * (module - 1) / dots_per_mm < 20
    assert (modules + 8) * module <= profile.dots_per_line  # type: ignore[attr-defined]


def test_a_symbol_wider_than_the_line_is_refused() -> None:
    narrow = dataclasses.replace(load_profile("POS-5890"), dots_per_line=200)  # 45 modules x 5 = 225 dots
    with pytest.raises(QrSizeError, match=r"225 dots.*POS-5890 prints 200"):
        qr_module_size(EMULATOR_QR, narrow)


def test_a_module_beyond_16_dots_is_refused() -> None:
    sharp = dataclasses.replace(load_profile("TM-T20III"), dpi=1200)  # 20 mm = 945 dots / 37 -> 26 dots
    with pytest.raises(QrSizeError, match="26 dots per module"):
        qr_module_size(EMULATOR_QR, sharp)


@pytest.mark.parametrize(("data", "ec"), [("", "M"), ("abc", "X")])
def test_bad_parameters(data: str, ec: str) -> None:
    with pytest.raises(QrSizeError):
        qr_module_size(data, load_profile("TM-T20III"), ec)
