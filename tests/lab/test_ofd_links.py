"""Receipt links (register.fiscal.ofd_links): the templates of ffd-receipt.md §10, built and matched back."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.fiscal.ofd_links import (
    LINK_TEMPLATES,
    LinkTemplateError,
    match_link,
    receipt_link,
    resolve_template,
)

FN = "9999078900004312"
FD = 42
FP = 3098173039  # fn-protocol.md §15 test vector
QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"  # ffd-receipt.md §7
INN = "7701234560"
RNM_FIELD = "0000000001012345    "  # the FN's 20-byte RNM field, space-padded (fn-protocol.md §4)

# ffd-receipt.md §10, filled in by hand.
EXPECTED = {
    "ofd.ru": f"https://ofd.ru/rec/{INN}/0000000001012345/{FN}/42/3098173039",
    "check.ofd.ru": f"https://check.ofd.ru/rec/{INN}/0000000001012345/{FN}/42/3098173039",
    "check.ofd.ru-short": f"https://check.ofd.ru/rec/{FN}/42/3098173039",
    "1-ofd": f"https://consumer.1-ofd.ru/v1?{QR}",
    "1-ofd-test": f"https://test-consumer.1-ofd.ru/v1?{QR}",
    "platformaofd": f"https://lk.platformaofd.ru/web/noauth/cheque?fn={FN}&fp=3098173039&i=42",
    "taxcom": f"https://receipt.taxcom.ru/v01/show?fp=3098173039&fn={FN}&fd=42",
    "kontur": f"https://cash.kontur.ru/?fnSerialNumber={FN}&fiscalDocumentNumber=42&fiscalSignature=3098173039",
    "ofd-ya": "https://ofd-ya.ru/getFiscalDoc?kktRegId=0000000001012345&fiscalSign=3098173039",
    "lab": f"http://127.0.0.1:8080/rec/{FN}/42/3098173039",
}


def _link(name: str) -> str:
    return receipt_link(name, fn=FN, fd=FD, fp=FP, inn=INN, rnm=RNM_FIELD, qr=QR, http="127.0.0.1:8080")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_links_by_template_name(name: str) -> None:
    assert _link(name) == EXPECTED[name]


def test_every_named_template_is_covered() -> None:
    assert set(LINK_TEMPLATES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_link_matches_its_template_back(name: str) -> None:
    parts = urlsplit(_link(name))
    fields = match_link(name, parts.path + (f"?{parts.query}" if parts.query else ""))
    assert fields is not None
    expected = {"fn": FN, "fd": "42", "fp": "3098173039", "inn": INN, "rnm": "0000000001012345", "qr": QR}
    assert fields == {key: expected[key] for key in fields}


def test_query_parameters_match_in_any_order_and_extras_are_ignored() -> None:
    path = f"/v01/show?fd=42&utm=x&fn={FN}&fp=3098173039"
    assert match_link("taxcom", path) == {"fn": FN, "fd": "42", "fp": "3098173039"}


@pytest.mark.parametrize(
    "path",
    [
        f"/rec/{FN}/42",  # a segment missing
        f"/rec/{FN}/42/3098173039/extra",
        f"/receipt/{FN}/42/3098173039",
        "/",
    ],
)
def test_paths_that_do_not_fit_the_lab_template(path: str) -> None:
    assert match_link("lab", path) is None


def test_a_query_template_needs_its_parameters() -> None:
    assert match_link("taxcom", f"/v01/show?fn={FN}&fd=42") is None
    assert match_link("1-ofd", "/v1") is None


def test_a_custom_template() -> None:
    template = "http://{http}/check/{fd}?fn={fn}&sign={fp}"
    assert resolve_template(template) == template
    link = receipt_link(template, fn=FN, fd=7, fp=5, http="ofd.lab:80")
    assert link == f"http://ofd.lab:80/check/7?fn={FN}&sign=5"
    assert match_link(template, f"/check/7?sign=5&fn={FN}") == {"fd": "7", "fn": FN, "fp": "5"}


@pytest.mark.parametrize(
    ("template", "kwargs", "match"),
    [
        ("no-such-ofd", {}, "neither a known name"),
        ("http://x/{fn}/{serial}", {}, r"placeholder \{serial\}"),
        ("http://x/{fn:>20}", {}, r"placeholder \{fn\}"),
        ("http://x/{fn", {}, "receipt link template"),
        ("ofd.ru", {}, "needs inn, rnm"),
        ("lab", {}, "needs http"),
        ("1-ofd", {}, "needs qr"),
        ("check.ofd.ru-short", {"fn": "123"}, "FN number must be 16 digits"),
        ("check.ofd.ru-short", {"fd": 0}, "FD number must be a positive Uint32"),
        ("check.ofd.ru-short", {"fp": 2**32}, "4-byte FP"),
        ("ofd.ru", {"inn": "77012345", "rnm": "1"}, "INN must be 10 or 12 digits"),
    ],
)
def test_link_errors_name_the_problem(template: str, kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"fn": FN, "fd": FD, "fp": FP, **kwargs}
    with pytest.raises(LinkTemplateError, match=match):
        receipt_link(template, **arguments)  # type: ignore[arg-type]


@given(
    fn=st.from_regex(r"[0-9]{16}", fullmatch=True),
    fd=st.integers(1, 2**32 - 1),
    fp=st.integers(0, 2**32 - 1),
    name=st.sampled_from(["lab", "check.ofd.ru-short", "platformaofd", "taxcom", "kontur"]),
)
def test_build_then_match_round_trips(fn: str, fd: int, fp: int, name: str) -> None:
    parts = urlsplit(receipt_link(name, fn=fn, fd=fd, fp=fp, http="127.0.0.1:1"))
    fields = match_link(name, parts.path + (f"?{parts.query}" if parts.query else ""))
    assert fields == {"fn": fn, "fd": str(fd), "fp": str(fp)}
