"""Receipt QR string (ffd-receipt.md §7) and the 1077 fiscal sign (§6, fn-protocol.md §15)."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.domain.receipt import Operation
from register.fiscal.qr import QrData, QrError, build_qr, fp_from_1077, fp_to_1077, parse_qr

EMULATOR_FN = "9999078900004312"
# fn-protocol.md §15 / ffd-receipt.md §7: the emulator example, 68 characters.
EMULATOR_QR = "t=20260115T1432&s=1234.56&fn=9999078900004312&i=42&fp=3098173039&n=1"


def test_build_matches_the_emulator_example() -> None:
    qr = build_qr(datetime(2026, 1, 15, 14, 32, 59), 123456, EMULATOR_FN, 42, 3098173039, 1)
    assert qr == EMULATOR_QR
    assert len(qr) == 68


def test_build_takes_the_operation_enum() -> None:
    assert build_qr(datetime(2026, 1, 15, 14, 32), 5, EMULATOR_FN, 7, 1, Operation.SALE_RETURN).endswith(
        "s=0.05&fn=9999078900004312&i=7&fp=1&n=2"
    )


def test_build_shift_report_has_no_total_and_no_sign() -> None:
    assert (
        build_qr(datetime(2017, 9, 4, 14, 11), None, EMULATOR_FN, 108, 605445600, None)
        == "t=20170904T1411&fn=9999078900004312&i=108&fp=605445600"
    )


@pytest.mark.parametrize(
    ("total", "fn", "fd", "fp", "operation", "field"),
    [
        (100, EMULATOR_FN, 1, 1, None, "total"),
        (None, EMULATOR_FN, 1, 1, 1, "total"),
        (100, "999907890000431", 1, 1, 1, "fn"),
        (100, EMULATOR_FN, 0, 1, 1, "FD"),
        (100, EMULATOR_FN, 1, 2**32, 1, "fp"),
        (-1, EMULATOR_FN, 1, 1, 1, "total"),
        (100, EMULATOR_FN, 1, 1, 5, "operation"),
    ],
)
def test_build_refuses_bad_fields(
    total: int | None, fn: str, fd: int, fp: int, operation: int | None, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        build_qr(datetime(2026, 1, 15, 14, 32), total, fn, fd, fp, operation)


def test_parse_kkt_example_without_seconds() -> None:
    # ffd-receipt.md §7, KKT output
    assert parse_qr("t=20180717T0904&s=1000.00&fn=9999999999999242&i=33647&fp=2124438805&n=1") == QrData(
        when=datetime(2018, 7, 17, 9, 4),
        total=100000,
        fn="9999999999999242",
        fd=33647,
        fp=2124438805,
        operation=1,
        has_seconds=False,
    )


def test_parse_time_with_seconds() -> None:
    data = parse_qr("t=20190418T211655&s=89.90&fn=9999078900004312&i=5&fp=1&n=2")
    assert (data.when, data.has_seconds, data.total, data.operation) == (
        datetime(2019, 4, 18, 21, 16, 55),
        True,
        8990,
        2,
    )


def test_parse_shift_report_without_total_and_sign() -> None:
    data = parse_qr("t=20170904T141100&fn=9999078900004312&i=108&fp=605445600")
    assert (data.when, data.total, data.operation, data.fd, data.fp) == (
        datetime(2017, 9, 4, 14, 11),
        None,
        None,
        108,
        605445600,
    )


def test_parse_any_field_order_and_trailing_newline() -> None:
    data = parse_qr("n=1&fp=3098173039&i=42&fn=9999078900004312&s=1234.56&t=20260115T1432\n")
    assert data == parse_qr(EMULATOR_QR)
    assert data.total == 123456


def test_parse_ignores_fields_it_does_not_know() -> None:
    assert parse_qr(EMULATOR_QR + "&utm=x") == parse_qr(EMULATOR_QR)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("s=1.00&fn=9999078900004312&i=1&fp=1&n=1", "'t'.*missing"),
        ("t=20261315T1432&s=1.00&fn=9999078900004312&i=1&fp=1&n=1", "'t'.*valid date"),
        ("t=20260115T14&s=1.00&fn=9999078900004312&i=1&fp=1&n=1", "'t'"),
        ("t=20260115T1432&s=1.005&fn=9999078900004312&i=1&fp=1&n=1", "'s'"),
        ("t=20260115T1432&s=-1.00&fn=9999078900004312&i=1&fp=1&n=1", "'s'"),
        ("t=20260115T1432&s=1.00&fn=99990789&i=1&fp=1&n=1", "'fn'"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=x&fp=1&n=1", "'i'"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=0&fp=1&n=1", "'i'"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=1&n=1", "'fp'.*missing"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=1&fp=4294967296&n=1", "'fp'"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=1&fp=1&n=5", "'n'"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=1&fp=1&fp=2&n=1", "'fp'.*twice"),
        ("t=20260115T1432&garbage&fn=9999078900004312&i=1&fp=1", "'garbage'"),
        ("", "key=value"),
        ("t=20260115T1432&s=1.00&fn=9999078900004312&i=1&fp=1", "has 's' but no 'n'"),
        ("t=20260115T1432&fn=9999078900004312&i=1&fp=1&n=1", "has 'n' but no 's'"),
        ("n=2&t=20170904T141100&fn=9999078900004312&i=108&fp=605445600", "has 'n' but no 's'"),
    ],
)
def test_parse_names_the_bad_field(text: str, field: str) -> None:
    with pytest.raises(QrError, match=field):
        parse_qr(text)


def test_qr_error_is_a_value_error() -> None:
    assert issubclass(QrError, ValueError)


@given(
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    total=st.integers(min_value=0, max_value=10**12),
    fn=st.from_regex(r"\A[0-9]{16}\Z"),
    fd=st.integers(min_value=1, max_value=2**32 - 1),
    fp=st.integers(min_value=0, max_value=2**32 - 1),
    operation=st.integers(min_value=1, max_value=4),
)
def test_build_then_parse_round_trip(
    when: datetime, total: int, fn: str, fd: int, fp: int, operation: int
) -> None:
    data = parse_qr(build_qr(when, total, fn, fd, fp, operation))
    assert data == QrData(when.replace(second=0, microsecond=0), total, fn, fd, fp, operation, False)


@given(st.text(max_size=120))
def test_parse_raises_only_qr_error(text: str) -> None:
    with contextlib.suppress(QrError):
        assert isinstance(parse_qr(text), QrData)


# --- tag 1077 --------------------------------------------------------------------------------------------


def test_fp_to_1077_matches_the_emulator_vector() -> None:
    # fn-protocol.md §15: FP 3098173039 (B8AA5E6Fh) -> 1077 value 00 00 B8 AA 5E 6F
    assert fp_to_1077(3098173039) == bytes.fromhex("00 00 B8 AA 5E 6F")


def test_fp_from_1077_reads_bytes_2_to_5_big_endian() -> None:
    # ffd-receipt.md §6: 00 00 7E 9C 1A 15 -> 2124159509
    assert fp_from_1077(bytes.fromhex("00 00 7E 9C 1A 15")) == 2124159509
    assert fp_from_1077(bytes.fromhex("12 34 7E 9C 1A 15")) == 2124159509


@pytest.mark.parametrize("raw", [bytes(4), bytes(7)])
def test_fp_from_1077_needs_six_bytes(raw: bytes) -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        fp_from_1077(raw)


@pytest.mark.parametrize("fp", [-1, 2**32])
def test_fp_to_1077_needs_a_uint32(fp: int) -> None:
    with pytest.raises(ValueError, match="Uint32"):
        fp_to_1077(fp)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_fp_round_trip(fp: int) -> None:
    assert fp_from_1077(fp_to_1077(fp)) == fp
