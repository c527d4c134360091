"""Printer profiles: several ESC t numbers for one code table (escpos.md §1.2), sent first, accepted all."""

from __future__ import annotations

import pytest

from register.profiles import ProfileError, load_profile, parse_profile

BASE = """
name = "X"
vendor = "V"
usb = []
escpos_profile = "default"
dpi = 203
dots_per_line = 384
paper_mm = 58
columns = { a = 32, b = 42 }
cyrillic_code_page = "PC866"
power_on_code_page = "PC437"
native_qr = false
cutter = false
drawer = false
feed_lines_before_cut = 4
status = { dle_eot = true, gs_r = false, asb = false }
serial = { baud = 9600, flow = "none" }
"""


def profile_with(code_pages: str):  # type: ignore[no-untyped-def]
    return parse_profile(BASE + f"code_pages = {code_pages}\n", "x.toml")


def test_pos_5890_pc866_is_17_and_59_and_17_is_sent() -> None:
    profile = load_profile("POS-5890")
    assert profile.table_numbers("PC866") == (17, 59)
    assert profile.table_number("PC866") == 17
    assert profile.code_page_of(17) == profile.code_page_of(59) == "PC866"
    assert profile.code_page_of(73) == "WPC1251"
    assert profile.code_page_of(46) is None


def test_epson_profiles_have_one_number_per_table() -> None:
    profile = load_profile("TM-T20III")
    assert profile.table_numbers("PC866") == (17,)
    assert profile.code_page_of(59) is None


def test_a_list_or_a_number() -> None:
    profile = profile_with("{ PC437 = 0, PC866 = [12, 37] }")
    assert profile.code_pages == {"PC437": (0,), "PC866": (12, 37)}
    assert profile.table_number("PC866") == 12
    assert profile.code_page_of(37) == "PC866"


@pytest.mark.parametrize(
    ("code_pages", "complaint"),
    [
        ("{ PC437 = 0, PC866 = [] }", "PC866 must be a number 0..255"),
        ("{ PC437 = 0, PC866 = [17, 256] }", "PC866 must be a number 0..255"),
        ('{ PC437 = 0, PC866 = "17" }', "PC866 must be a number 0..255"),
        ("{ PC437 = 0, PC866 = [17, true] }", "PC866 must be a number 0..255"),
        ("{ PC437 = 0, PC866 = [17, 0] }", "ESC t 0 is given to both PC437 and PC866"),
    ],
)
def test_bad_code_pages_are_named(code_pages: str, complaint: str) -> None:
    with pytest.raises(ProfileError, match=complaint):
        profile_with(code_pages)
