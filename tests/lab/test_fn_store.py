"""The FN's persistent memory: what survives a restart, and what a kill can never leave half-written."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from register.fiscal.fn_protocol import (
    ArchiveDocument,
    FnStatus,
    OfdTicket,
    ReceiptRequest,
    ReceiptSigned,
    RegistrationRequest,
    ShiftParams,
    pack_datetime,
)
from register.fiscal.frame import Frame
from register.fiscal.ofd_container import make_ofd_receipt
from register.lab.fn_emulator import FnConfig, FnEmulator
from register.lab.fn_store import (
    DB_NAME,
    FnStateInUse,
    FnStore,
    FnStoreError,
    StoredDocument,
    derive_fn_number,
)

KEY = b"emulator-test-key"
T0 = datetime(2026, 1, 15, 9, 0)
TLV_1054 = bytes.fromhex("1E 04 01 00 01")


class Host:
    """Drives an emulator over a store with the FN timer fixed at T0 (all documents at T0)."""

    def __init__(self, store: FnStore) -> None:
        self.emulator = FnEmulator(store, config=FnConfig(key=KEY), clock=lambda: T0)

    def ok(self, code: int, data: bytes = b"") -> bytes:
        answer = self.emulator.handle(Frame(code, data))
        assert answer.code == 0, f"{code:02X}h answered {answer.code:02X}h"
        return answer.data

    def register_and_open_shift(self) -> None:
        self.ok(0x02)
        self.ok(0x07, TLV_1054)
        self.ok(0x03, RegistrationRequest(T0, "7700000000", "0000000001058781", 1, 0).pack())
        self.ok(0x11, pack_datetime(T0))
        self.ok(0x07, TLV_1054)
        self.ok(0x12)

    def receipt(self, total: int) -> ReceiptSigned:
        self.ok(0x15, pack_datetime(T0))
        self.ok(0x07, TLV_1054)
        return ReceiptSigned.unpack(self.ok(0x16, ReceiptRequest(T0, 1, total).pack()))


def test_fresh_state_directory(tmp_path: Path) -> None:
    state_dir = tmp_path / "deep" / "fn"
    store = FnStore.open(state_dir)
    assert state_dir.is_dir()
    assert store.state.phase == 1 and store.state.last_fd == 0
    number = store.state.fn_number
    assert len(number) == 16 and number.isdigit() and number.startswith("9999")
    store.close()


def test_two_fresh_states_get_different_numbers(tmp_path: Path) -> None:
    first = FnStore.open(tmp_path / "a")
    second = FnStore.open(tmp_path / "b")
    assert first.state.fn_number != second.state.fn_number
    first.close()
    second.close()


def test_seeded_numbers_are_reproducible() -> None:
    assert derive_fn_number(7) == derive_fn_number(7)
    assert derive_fn_number(7) != derive_fn_number(8)
    assert FnStore.in_memory(seed=7).state.fn_number == derive_fn_number(7)


def test_an_existing_state_keeps_its_number(tmp_path: Path) -> None:
    FnStore.open(tmp_path, fn_number="9999078900004312").close()
    reopened = FnStore.open(tmp_path, seed=123)
    assert reopened.state.fn_number == "9999078900004312"
    reopened.close()
    with pytest.raises(FnStoreError, match="9999078900004312"):
        FnStore.open(tmp_path, fn_number="9999000000000001")


@pytest.mark.parametrize("number", ["999907890000431", "99990789000043AB", "９９９９078900004312"])
def test_malformed_fn_number_is_refused(tmp_path: Path, number: str) -> None:
    with pytest.raises(FnStoreError, match="16 ASCII digits"):
        FnStore.open(tmp_path, fn_number=number)


def test_state_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "fn"
    path.write_text("not a directory")
    with pytest.raises(FnStoreError, match="not a directory"):
        FnStore.open(path)


def test_a_state_directory_serves_one_store_at_a_time(tmp_path: Path) -> None:
    first = FnStore.open(tmp_path / "fn")
    expected = f"{tmp_path / 'fn'} is in use by another FN emulator (pid {os.getpid()})"
    with pytest.raises(FnStateInUse, match=re.escape(expected)):
        FnStore.open(tmp_path / "fn")
    assert FnStore.in_memory().state.phase == 1  # an in-memory FN has no directory to lock
    first.close()
    first.close()  # twice is harmless
    again = FnStore.open(tmp_path / "fn")
    assert again.state.fn_number == first.state.fn_number
    again.close()


def test_the_lock_is_held_across_processes(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from register.lab.fn_store import FnStore; s = FnStore.open(sys.argv[1]); "
            "print('open', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "open\n"
        with pytest.raises(FnStateInUse, match=f"pid {holder.pid}"):
            FnStore.open(tmp_path)
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
        holder.stdout.close()
    FnStore.open(tmp_path).close()  # the holder's exit released it


def test_unreadable_database(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(FnStoreError, match="unreadable"):
        FnStore.open(tmp_path)


def test_documents_and_counters_survive_a_reopen_but_the_open_document_does_not(tmp_path: Path) -> None:
    store = FnStore.open(tmp_path, fn_number="9999078900004312", today=T0.date())
    host = Host(store)
    host.register_and_open_shift()  # FD 1, 2
    host.receipt(1000)  # FD 3
    second = host.receipt(2000)  # FD 4
    host.ok(0x21, b"\x01")
    (length,) = struct.unpack("<H", host.ok(0x22))
    message = host.ok(0x23, struct.pack("<HH", 0, length))
    host.ok(0x25)
    host.ok(0x26, make_ofd_receipt(KEY, message, T0))  # FD 1 confirmed
    archived = host.ok(0x40, struct.pack("<I", 4))
    host.ok(0x15, pack_datetime(T0))
    host.ok(0x07, TLV_1054)  # a receipt half made when the power goes
    store.close()

    host = Host(FnStore.open(tmp_path))
    status = FnStatus.unpack(host.ok(0x30))
    assert (status.phase, status.shift_open, status.last_fd, status.last_doc_time) == (3, True, 4, T0)
    assert (status.current_doc, status.doc_data_received) == (0, False)
    assert ShiftParams.unpack(host.ok(0x10)) == ShiftParams(True, 1, 2)
    assert host.ok(0x40, struct.pack("<I", 4)) == archived
    assert ArchiveDocument.unpack(archived).fp == second.fp
    assert ArchiveDocument.unpack(host.ok(0x40, struct.pack("<I", 1))).ofd_confirmed
    assert OfdTicket.unpack(host.ok(0x41, struct.pack("<I", 1))).fd == 1
    assert host.ok(0x42) == struct.pack("<H", 3)
    assert (host.receipt(3000).fd, host.receipt(3000).receipt) == (5, 4)


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = FnStore.open(tmp_path, fn_number="9999078900004312")
    Host(store).register_and_open_shift()
    before = store.state.copy()
    clash = StoredDocument(fd=2, form=3, time=pack_datetime(T0), archive=b"", tlv=b"", queued=True)
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_document(clash, store.state.copy(last_fd=99))
    assert store.state == before
    assert store.unconfirmed_count == 2
    store.close()
    reopened = FnStore.open(tmp_path)
    assert reopened.state == before
    reopened.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from register.fiscal.fn_protocol import ReceiptRequest, RegistrationRequest, pack_datetime
    from register.fiscal.frame import Frame
    from register.lab.fn_emulator import FnConfig, FnEmulator
    from register.lab.fn_store import FnStore

    t = datetime(2026, 1, 15, 9, 0)
    fn = FnEmulator(FnStore.open(sys.argv[1]), config=FnConfig(drift_check=False))
    def ok(code, data=b""):
        assert fn.handle(Frame(code, data)).code == 0
    ok(0x02); ok(0x07, b"\\x1e\\x04\\x01\\x00\\x01")
    ok(0x03, RegistrationRequest(t, "7700000000", "0000000001058781", 1, 0).pack())
    ok(0x11, pack_datetime(t)); ok(0x07, b"\\x1e\\x04\\x01\\x00\\x01"); ok(0x12)
    while True:
        ok(0x15, pack_datetime(t)); ok(0x07, b"\\x1e\\x04\\x01\\x00\\x01" * 200)
        ok(0x16, ReceiptRequest(t, 1, 100).pack())
        print("signed", flush=True)
    """
)


def test_a_kill_leaves_whole_documents_only(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    for _ in range(300):
        assert writer.stdout.readline() == "signed\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()

    store = FnStore.open(tmp_path)
    state = store.state
    rows = [
        fd for (fd,) in sqlite3.connect(tmp_path / DB_NAME).execute("SELECT fd FROM documents ORDER BY fd")
    ]
    assert rows == list(range(1, state.last_fd + 1))
    assert state.last_fd >= 302
    assert state.receipt_number == state.last_fd - 2  # every receipt counted, none twice
    assert store.unconfirmed_count == state.last_fd
    last = store.document(state.last_fd)
    assert last is not None and len(last.tlv) > 1000
    store.close()
