"""Human-readable FN answers for `register fn …` (an integrator reads these off a real FN reader)."""

from __future__ import annotations

from dataclasses import dataclass

from register.domain.money import format_rub
from register.fiscal import fn_protocol as p
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnNoData, FnWrongState
from register.fiscal.fn_protocol import CurrentDoc, DocForm, Phase

PHASES = {
    Phase.SETUP: "setup (настройка)",
    Phase.READY: "ready for fiscalisation (готовность к фискализации)",
    Phase.FISCAL: "fiscal mode (фискальный режим)",
    Phase.POST_FISCAL: "post-fiscal: sending the rest to the OFD (постфискальный режим)",
    Phase.ARCHIVE: "archive read only (чтение данных из архива)",
}
DOCUMENTS = {
    CurrentDoc.NONE: "none",
    CurrentDoc.REGISTRATION: "registration report",
    CurrentDoc.SHIFT_OPEN: "shift open report",
    CurrentDoc.RECEIPT: "receipt",
    CurrentDoc.SHIFT_CLOSE: "shift close report",
    CurrentDoc.FISCAL_CLOSE: "fiscal-mode close report",
    CurrentDoc.BSO: "BSO",
    CurrentDoc.REREGISTRATION_NEW_FN: "re-registration (FN replaced)",
    CurrentDoc.REREGISTRATION: "re-registration",
    CurrentDoc.CORRECTION: "correction receipt",
    CurrentDoc.BSO_CORRECTION: "BSO correction",
    CurrentDoc.STATE_REPORT: "calculation-state report",
}
FORMS = {
    DocForm.REGISTRATION: "registration report",
    DocForm.REREGISTRATION: "re-registration report",
    DocForm.SHIFT_OPEN: "shift open report",
    DocForm.STATE_REPORT: "calculation-state report",
    DocForm.RECEIPT: "receipt",
    DocForm.CORRECTION: "correction receipt",
    DocForm.BSO: "BSO",
    DocForm.BSO_CORRECTION: "BSO correction",
    DocForm.SHIFT_CLOSE: "shift close report",
    DocForm.FISCAL_CLOSE: "FN close report",
}
OPERATIONS = {1: "приход (sale)", 2: "возврат прихода (sale return)", 3: "расход", 4: "возврат расхода"}
WARNINGS = {
    0: "crypto-coprocessor validity <= 3 days",
    1: "crypto-coprocessor validity <= 30 days",
    2: "archive 90% full",
    3: "OFD answer timeout exceeded",
    7: "critical FN error",
}


def _name(table: dict[int, str], code: int) -> str:
    return table.get(code, f"unknown ({code:02X}h)")


def describe_status(st: p.FnStatus) -> list[str]:
    warnings = [text for bit, text in WARNINGS.items() if st.warnings & (1 << bit)]
    last_time = f"{st.last_doc_time:%Y-%m-%d %H:%M}" if st.last_doc_time else "-"
    return [
        f"FN number:         {st.fn_number}",
        f"phase:             {st.phase} {_name(PHASES, st.phase)}",
        f"open document:     {_name(DOCUMENTS, st.current_doc)}"
        + (" (data received)" if st.doc_data_received else ""),
        f"shift:             {'open' if st.shift_open else 'closed'}",
        f"last FD:           {st.last_fd} at {last_time}",
        f"warnings:          {', '.join(warnings) if warnings else 'none'}",
    ]


def describe_fn(fn: FnDriver) -> str:
    st = fn.status()
    lines = describe_status(st)
    version = fn.version()
    expiry = fn.expiry()
    lines += [
        f"software:          {version.software} ({'serial' if version.serial else 'debug FN: not fiscal'})",
        f"valid until:       {expiry.valid_until:%Y-%m-%d}, registrations left {expiry.registrations_left}"
        f" (done {expiry.registrations_done})",
    ]
    if st.phase in (Phase.FISCAL, Phase.POST_FISCAL):
        shift = fn.shift_params()
        lines.append(
            f"shift number:      {shift.shift} ({'open' if shift.is_open else 'closed'}), "
            f"receipts {shift.receipt}"
        )
        lines.append(f"not sent to OFD:   {fn.unconfirmed_count()}")
    return "\n".join(lines)


def describe_document(doc: p.ArchiveDocument) -> str:
    head = (
        f"FD {doc.fd:>6}  {doc.when:%Y-%m-%d %H:%M}  {_name(FORMS, doc.doc_type):<24} FP {doc.fp:<10}"
        f"  OFD {'confirmed' if doc.ofd_confirmed else 'pending'}"
    )
    if doc.total is not None:
        head += f"  {_name(OPERATIONS, doc.operation or 0)} {format_rub(doc.total)}"
    if doc.shift is not None:
        head += f"  shift {doc.shift}"
    if doc.rnm is not None:
        head += f"  INN {doc.inn} RNM {doc.rnm}"
    return head


@dataclass(frozen=True, slots=True)
class DocumentsListing:
    """What `fn documents` prints, and the FD numbers the FN refused to give (08h, 02h)."""

    text: str
    refused: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.text


def describe_documents(fn: FnDriver, fds: list[int] | None, *, last: int, with_tlv: bool) -> DocumentsListing:
    from register.fiscal.tlv_decode import format_document

    if fds is None:
        newest = fn.status().last_fd
        fds = list(range(max(1, newest - last + 1), newest + 1))
    if not fds:
        return DocumentsListing("no fiscal documents yet")
    out = [p.EMULATED_NOTICE] if p.is_debug_fn(fn.fn_number()) else []
    refused: list[int] = []
    for fd in fds:
        try:
            doc = fn.find_document(fd)
        except (FnNoData, FnWrongState) as exc:
            out.append(f"FD {fd:>6}  {exc}")
            refused.append(fd)
            continue
        out.append(describe_document(doc))
        if with_tlv:
            _form, tlv = fn.document_tlv(fd)
            out.append(format_document(tlv))
    return DocumentsListing("\n".join(out), tuple(refused))


def describe_ofd(fn: FnDriver) -> str:
    st = fn.ofd_status()
    flags = {
        0: "transport connected",
        1: "message for the OFD waiting",
        2: "waiting for the OFD receipt",
        3: "command from the OFD",
        4: "OFD settings changed",
        5: "waiting for the answer to an OFD command",
    }
    shown = [text for bit, text in flags.items() if st.flags & (1 << bit)]
    first = f"FD {st.first_fd} of {st.first_time:%Y-%m-%d %H:%M}" if st.first_fd and st.first_time else "none"
    return "\n".join(
        [
            f"exchange:          {', '.join(shown) if shown else 'idle'}",
            f"reading message:   {'yes' if st.reading else 'no'}",
            f"queued for OFD:    {st.queued}",
            f"first queued:      {first}",
            f"unconfirmed (42h): {fn.unconfirmed_count()}",
        ]
    )
