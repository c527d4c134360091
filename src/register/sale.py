"""The sale flow: the one place that knows every device (DESIGN.md, "Data flow of one sale").

loyalty calculate -> decision -> FN receipt (1008 when electronic) -> print, or suppress and push the link,
or suppress and let the OFD send -> loyalty confirm + cheque-link -> journal. Every step is journaled before
the next begins; `Register.recover()` finishes what a crash interrupted without making a fiscal document
twice and without losing a delivery. Headless: the TUI, the CLI and scenario runs all drive `Register` and
observe it through `SaleEvent`s.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from register.config import RegisterConfig
from register.domain.decision import BuyerAnswer, Decision, Sender, decide
from register.domain.fiscal_stamp import FiscalStamp
from register.domain.money import format_rub
from register.domain.receipt import Operation, Payment, PaymentKind, Receipt, ReceiptLine
from register.domain.receipt_json import line_to_dict, receipt_from_dict, receipt_to_dict
from register.fiscal import fn_documents, kkt_documents
from register.fiscal.fn_driver import FnDriver
from register.fiscal.fn_errors import FnDriverError, FnShiftOver24h
from register.fiscal.fn_protocol import CurrentDoc, DocForm, Phase, ReceiptSigned
from register.fiscal.ofd_client import OfdClient, OfdError
from register.fiscal.ofd_drain import DrainResult, OfdDrainError, drain_ofd
from register.fiscal.ofd_links import receipt_link
from register.fiscal.qr import parse_qr
from register.fiscal.tlv import iter_tlv
from register.journal import Journal, SaleRecord, Stage, request_id
from register.loyalty_gateway import LoyaltyAnswer, LoyaltyGateway, cheque_lines_json
from register.printing.printer_driver import PrinterDriver
from register.printing.printer_errors import PrinterDriverError

MESSAGE_ON_ITS_WAY = frozenset({"queued", "retrying", "sent"})
"""Statuses of a loyalty message that mean the e-receipt is being, or has been, sent."""
PURCHASE_EXPIRED = "PURCHASE_EXPIRED"
"""The backend's error code for a confirm or link of a calculation past its lifetime."""
OFD_QUEUE_WARNING = 50
"""FN documents waiting for the OFD from which the status bar warns (the drain is not keeping up)."""
REPEAT_PROBLEM = (
    "the register stopped while printing this receipt: it is printed again, marked as a repeat "
    "(the buyer may hold two papers of this one fiscal document)"
)
CRASH_ENV = "REGISTER_CRASH_AFTER"
"""Fault injection for recovery tests: the process kills itself (SIGKILL) right after this point."""
CRASH_POINTS = (
    "calculated",
    "decided",
    "fiscal-pending",
    "signed",
    "fiscalised",
    "printed",
    "delivered",
    "done",
)


class SaleError(RuntimeError):
    """A sale that could not be made; nothing fiscal happened (the message says what to fix)."""


@dataclass(frozen=True, slots=True)
class Identifier:
    """How the buyer identified themselves to the loyalty programme."""

    type: str  # CardNumber, CardBarCode, Phone, QrCode, Email
    value: str


@dataclass(frozen=True, slots=True)
class SaleRequest:
    lines: tuple[ReceiptLine, ...]
    pay: PaymentKind = PaymentKind.CASH
    cash_given: int | None = None
    """Cash handed over, kopecks; None: the total rounded up to whole rubles' hundred."""
    identifier: Identifier | None = None
    buyer: BuyerAnswer | None = None
    """The buyer's answer at the till (None: not asked)."""
    operation: Operation = Operation.SALE
    original: dict[str, Any] | None = None
    """For a refund: the original sale's fiscal data (fn, fd, fp) and loyalty purchase id if known."""


@dataclass(frozen=True, slots=True)
class SaleEvent:
    """One step of a sale, as observers (TUI, scenario runner, logs) see it."""

    sale_id: str
    step: str
    detail: dict[str, Any] = field(default_factory=dict)


class DeviceState(StrEnum):
    READY = "ready"
    WARNING = "warning"
    """Works, but the cashier should act soon (paper near end, OFD queue growing, loyalty offline)."""
    ERROR = "error"
    """Cannot work now (paper out, cover open, FN error)."""
    UNKNOWN = "unknown"
    """Did not answer: never taken as ready."""
    OFF = "off"
    """Not configured."""


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """One device as the cashier's status bar shows it."""

    device: str
    """fn, printer or loyalty."""
    state: DeviceState
    summary: str
    """One line for the cashier (Russian, with the English in parentheses where it helps)."""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SaleOutcome:
    sale_id: str
    decision: Decision
    receipt: Receipt | None
    stamp: FiscalStamp | None
    link: str | None
    printed: bool
    reprint_pending: bool
    loyalty: str
    """online, offline, none (not configured or no member), blocked."""
    messages: tuple[dict[str, Any], ...] = ()
    cashier_messages: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        stamp = self.stamp
        return {
            "saleId": self.sale_id,
            "decision": self.decision.as_journal(),
            "fiscal": None
            if stamp is None
            else {
                "fn": stamp.fn,
                "fd": stamp.fd,
                "fp": stamp.fp,
                "shift": stamp.shift,
                "receipt": stamp.receipt_no,
                "qr": stamp.qr,
                "total": self.receipt.total if self.receipt else None,
            },
            "link": self.link,
            "printed": self.printed,
            "reprintPending": self.reprint_pending,
            "loyalty": self.loyalty,
            "messages": list(self.messages),
            "cashierMessages": list(self.cashier_messages),
            "problems": list(self.problems),
        }


def _crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _now() -> datetime:
    return datetime.now().replace(second=0, microsecond=0)


class Register:
    """A cash register: an FN, a printer, a loyalty backend, a journal. Devices lock themselves."""

    def __init__(
        self,
        config: RegisterConfig,
        *,
        fn: FnDriver,
        printer: PrinterDriver | None,
        loyalty: LoyaltyGateway | None,
        journal: Journal,
        observer: Callable[[SaleEvent], None] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.config = config
        self.fn = fn
        self.printer = printer
        self.loyalty = loyalty
        self.journal = journal
        self._observer = observer
        self._clock = clock
        self.loyalty_seen: str | None = None
        """The loyalty backend as last seen: online, offline or blocked (None: not asked yet)."""

    @classmethod
    @contextmanager
    def open(
        cls,
        config: RegisterConfig,
        *,
        observer: Callable[[SaleEvent], None] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> Iterator[Register]:
        with ExitStack() as stack:
            fn = stack.enter_context(FnDriver.open(config.fn))
            printer = stack.enter_context(PrinterDriver.open(config.printer))
            loyalty = None
            if config.loyalty.url:
                loyalty = stack.enter_context(LoyaltyGateway.open(config.loyalty))
            journal = Journal(config.journal)
            stack.callback(journal.close)
            yield cls(
                config,
                fn=fn,
                printer=printer,
                loyalty=loyalty,
                journal=journal,
                observer=observer,
                clock=clock,
            )

    def _emit(self, sale_id: str, step: str, **detail: Any) -> None:
        if self._observer is not None:
            self._observer(SaleEvent(sale_id, step, detail))

    # --- what the cashier sees before and between sales ------------------------------------------

    def member_info(self, identifier: Identifier) -> LoyaltyAnswer:
        """The member behind a card or phone and their e-receipt choice, before the sale (balance)."""
        if self.loyalty is None:
            return LoyaltyAnswer.not_configured()
        return self._seen(self.loyalty.about_member(str(uuid.uuid4()), identifier))

    def _seen(self, answer: LoyaltyAnswer) -> LoyaltyAnswer:
        if answer.status in ("online", "offline"):
            self.loyalty_seen = answer.status
        return answer

    def loyalty_report(self) -> DeviceReport:
        if self.loyalty is None:
            return DeviceReport("loyalty", DeviceState.OFF, "лояльность не настроена")
        owed = len(self.journal.pending_calls())
        detail = {"seen": self.loyalty_seen, "owed": owed}
        queue = f", к отправке {owed}" if owed else ""
        if self.loyalty_seen == "offline":
            summary = f"лояльность недоступна: чеки печатаются{queue}"
            return DeviceReport("loyalty", DeviceState.WARNING, summary, detail)
        if self.loyalty_seen is None:
            return DeviceReport("loyalty", DeviceState.UNKNOWN, f"лояльность: ещё не отвечала{queue}", detail)
        state = DeviceState.WARNING if owed else DeviceState.READY
        return DeviceReport("loyalty", state, f"лояльность на связи{queue}", detail)

    def document_contact(self, fd: int) -> str | None:
        """Tag 1008 of fiscal document ``fd`` as the FN stored it (evidence, not what the register meant)."""
        _form, tlv = self.fn.document_tlv(fd)
        values = [value for tag, value in iter_tlv(tlv) if tag == 1008]
        return values[0].decode("cp866") if values else None

    def fn_report(self) -> DeviceReport:
        try:
            status = self.fn.status()
            shift = self.fn.shift_params() if status.shift_open else None
            queued = self.fn.unconfirmed_count()
        except FnDriverError as exc:
            return DeviceReport("fn", DeviceState.UNKNOWN, f"ФН не отвечает ({exc})")
        detail = {
            "fn": status.fn_number,
            "phase": int(status.phase),
            "lastFd": status.last_fd,
            "shift": shift.shift if shift else None,
            "ofdQueue": queued,
        }
        if status.phase == Phase.READY:
            return DeviceReport("fn", DeviceState.WARNING, "ФН не фискализирован", detail)
        shift_text = f"смена {shift.shift}" if shift else "смена закрыта"
        summary = f"ФН …{status.fn_number[-4:]} · {shift_text} · ФД {status.last_fd} · в ОФД {queued}"
        state = DeviceState.WARNING if queued >= OFD_QUEUE_WARNING else DeviceState.READY
        return DeviceReport("fn", state, summary, detail)

    def printer_report(self) -> DeviceReport:
        if self.printer is None:
            return DeviceReport("printer", DeviceState.OFF, "принтер не настроен")
        owed = len(self.pending_reprints())
        try:
            status = self.printer.status()
        except (PrinterDriverError, OSError) as exc:
            return DeviceReport("printer", DeviceState.UNKNOWN, f"принтер недоступен ({exc})")
        ru, en = status.describe()
        detail = {"state": status.state.value, "reprintsOwed": owed}
        summary = f"принтер: {ru}" + (f", к допечатке {owed}" if owed else "")
        if not status.printable:
            known = status.state.value != "unknown"
            return DeviceReport(
                "printer", DeviceState.ERROR if known else DeviceState.UNKNOWN, f"{summary} ({en})", detail
            )
        warn = owed or status.state.value != "ready"
        return DeviceReport("printer", DeviceState.WARNING if warn else DeviceState.READY, summary, detail)

    # --- the FN's day ---------------------------------------------------------------------------

    def ensure_shift(self, when: datetime | None = None) -> None:
        """Fiscalise a fresh (lab) FN and open a shift when none is open; close one older than 24 h."""
        when = when or self._clock()
        status = self.fn.status()
        if status.current_doc != CurrentDoc.NONE:
            self.fn.cancel_document()
        if status.phase == Phase.READY:
            kkt_documents.register(self.fn, when, seller=self.config.seller, kkt=self.config.kkt)
        if not self.fn.status().shift_open:
            kkt_documents.open_shift(self.fn, when, cashier=self.config.cashier, seller=self.config.seller)

    def _fiscalise(self, receipt: Receipt) -> ReceiptSigned:
        try:
            return fn_documents.fiscalise(self.fn, receipt)
        except FnShiftOver24h:
            kkt_documents.close_shift(
                self.fn, receipt.when, cashier=self.config.cashier, seller=self.config.seller
            )
            kkt_documents.open_shift(
                self.fn, receipt.when, cashier=self.config.cashier, seller=self.config.seller
            )
            return fn_documents.fiscalise(self.fn, receipt)

    # --- one sale ------------------------------------------------------------------------------

    def sell(self, request: SaleRequest) -> SaleOutcome:
        when = self._clock()
        if not request.lines:
            raise SaleError("a sale needs at least one item")
        total = sum(line.total for line in request.lines)
        kind = "refund" if request.operation in (Operation.SALE_RETURN, Operation.EXPENSE_RETURN) else "sale"
        sale_id = self.journal.start(kind, _request_json(request, when))
        self._emit(sale_id, "started", total=total, kind=kind)

        answer = self._ask_loyalty(sale_id, request, when, total)
        self.journal.advance(sale_id, Stage.CALCULATED, loyalty=answer.as_journal())
        self._emit(sale_id, "calculated", **answer.as_journal())
        _crash_point("calculated")

        decision = decide(answer.state, request.buyer, operation=request.operation)
        self.journal.advance(sale_id, Stage.DECIDED, decision=decision.as_journal())
        self._emit(sale_id, "decided", **decision.as_journal())
        _crash_point("decided")

        if decision.print_paper:
            self._require_printer(sale_id, answer)

        receipt = Receipt(
            operation=request.operation,
            lines=request.lines,
            payments=(_payment(request, total),),
            seller=self.config.seller,
            when=when,
            cashier=self.config.cashier,
            customer_contact=decision.customer_contact,
        )
        self.ensure_shift(when)
        self.journal.advance(
            sale_id,
            Stage.FISCAL_PENDING,
            receipt=receipt_to_dict(receipt),
            last_fd_before=self.fn.status().last_fd,
        )
        self._emit(sale_id, "fiscal-pending")
        _crash_point("fiscal-pending")
        try:
            signed = self._fiscalise(receipt)
        except FnDriverError as exc:
            record = self.journal.sale(sale_id)
            if self._settle_fiscal(record) is None:
                raise SaleError(f"the FN did not make the receipt: {exc}") from exc
            return self._finish(self.journal.sale(sale_id))
        _crash_point("signed")
        self._record_fiscal(sale_id, receipt, signed)
        return self._finish(self.journal.sale(sale_id))

    def refund_by(
        self, original: str, *, pay: PaymentKind = PaymentKind.CASH, buyer: BuyerAnswer | None = None
    ) -> SaleOutcome:
        """A return of a whole sale (1054 = 2) by its QR string or FD number, attached to the original."""
        fn_number = self.fn.fn_number()
        if original.isdigit():
            fd = int(original)
        else:
            qr = parse_qr(original)
            if qr.fn != fn_number:
                raise SaleError(f"receipt of FN {qr.fn}: this register's FN is {fn_number}")
            fd = qr.fd
        record = self.journal.find_by_fiscal(fn_number, fd)
        if record is None or "receipt" not in record.data:
            raise SaleError(f"no sale with FD {fd} of FN {fn_number} in this register's journal")
        if record.kind != "sale":
            raise SaleError(f"FD {fd} is a {record.kind}, not a sale")
        earlier = self.journal.refunds_of(fn_number, fd)
        if earlier:
            made = (earlier[0].data.get("fiscal") or {}).get("fd")
            by = f"by FD {made}" if made else f"by refund {earlier[0].id}, not finished yet"
            raise SaleError(f"the sale of FD {fd} was already refunded {by}: a sale is refunded once")
        receipt = receipt_from_dict(record.data["receipt"])
        request_data = record.data["request"]
        ident = request_data.get("identifier")
        return self.sell(
            SaleRequest(
                lines=receipt.lines,
                pay=pay,
                cash_given=None if pay is not PaymentKind.CASH else receipt.total,
                identifier=Identifier(**ident) if ident else None,
                buyer=buyer,
                operation=Operation.SALE_RETURN,
                original={
                    **record.data["fiscal"],
                    "purchaseId": (record.data.get("loyalty") or {}).get("purchaseId"),
                    "saleId": record.id,
                },
            )
        )

    def _ask_loyalty(self, sale_id: str, request: SaleRequest, when: datetime, total: int) -> LoyaltyAnswer:
        if self.loyalty is None:
            return LoyaltyAnswer.not_configured()
        if request.operation in (Operation.SALE_RETURN, Operation.EXPENSE_RETURN):
            return self._seen(self.loyalty.about_member(request_id(sale_id, "balance"), request.identifier))
        return self._seen(self._calculate(sale_id, request, when, total))

    def _calculate(self, sale_id: str, request: SaleRequest, when: datetime, total: int) -> LoyaltyAnswer:
        assert self.loyalty is not None
        return self.loyalty.calculate(
            request_id(sale_id, "calculate"),
            cheque_number=sale_id.replace("-", ""),
            when=when,
            identifier=request.identifier,
            lines=request.lines,
            total=total,
        )

    def _require_printer(self, sale_id: str, answer: LoyaltyAnswer) -> None:
        if self.printer is None:
            return
        try:
            status = self.printer.status()
        except (PrinterDriverError, OSError) as exc:
            self._abort(sale_id, answer, f"printer unreachable: {exc}")
        if not status.printable:
            ru, en = status.describe()
            self._abort(sale_id, answer, f"printer not ready: {ru} / {en}")

    def _abort(self, sale_id: str, answer: LoyaltyAnswer, why: str) -> None:
        self._mark_aborted(sale_id, answer, why)
        raise SaleError(f"{why}: no receipt was made")

    def _mark_aborted(self, sale_id: str, answer: LoyaltyAnswer, why: str) -> None:
        """No fiscal document for this sale: journal it and release the calculated purchase."""
        self.journal.advance(sale_id, Stage.ABORTED, aborted=why)
        if answer.purchase_id and self.loyalty is not None:
            body = {"purchaseId": answer.purchase_id}
            self.journal.enqueue(sale_id, "cancel", request_id(sale_id, "cancel"), body)
            self.flush_outbox()
        self._emit(sale_id, "aborted", reason=why)

    def _record_fiscal(self, sale_id: str, receipt: Receipt, signed: ReceiptSigned) -> None:
        stamp = kkt_documents.receipt_stamp(self.fn, receipt, signed, kkt=self.config.kkt)
        fiscal = {
            "fn": stamp.fn,
            "fd": stamp.fd,
            "fp": stamp.fp,
            "shift": stamp.shift,
            "receipt": stamp.receipt_no,
            "qr": stamp.qr,
            "operation": int(receipt.operation),
            "total": receipt.total,
            "dateTime": receipt.when.astimezone().isoformat(),
            "emulated": stamp.emulated,
        }
        self.journal.advance(sale_id, Stage.FISCALISED, fiscal=fiscal, link=self._link(stamp))
        self._emit(sale_id, "fiscalised", **fiscal)
        _crash_point("fiscalised")

    def _link(self, stamp: FiscalStamp) -> str:
        ofd = self.config.ofd
        return receipt_link(
            ofd.link_template,
            fn=stamp.fn,
            fd=stamp.fd,
            fp=stamp.fp,
            inn=self.config.seller.inn,
            rnm=self.config.kkt.rnm,
            qr=stamp.qr,
            http=ofd.lab_http,
        )

    def _settle_fiscal(self, record: SaleRecord) -> ReceiptSigned | None:
        """After a crash or a lost answer during 15h…16h: did the FN sign this sale's receipt?

        Reads 30h and 40h only: an open document is cancelled (nothing was signed); a new FD whose type,
        operation and total are this receipt's is taken as its fiscal document. Never signs again.
        """
        receipt = receipt_from_dict(record.data["receipt"])
        before = int(record.data["last_fd_before"])
        status = self.fn.status()
        if status.current_doc != CurrentDoc.NONE:
            self.fn.cancel_document()
        for fd in range(before + 1, status.last_fd + 1):
            doc = self.fn.find_document(fd)
            if (doc.doc_type, doc.operation, doc.total) == (
                DocForm.RECEIPT,
                int(receipt.operation),
                receipt.total,
            ):
                taken = self.journal.find_by_fiscal(self.fn.fn_number(), fd)
                if taken is not None and taken.id != record.id:
                    continue
                receipt_no = _receipt_number(self.fn, fd)
                signed = ReceiptSigned(receipt_no, fd, doc.fp)
                self._record_fiscal(record.id, receipt, signed)
                return signed
        answer = LoyaltyAnswer.from_journal(record.data.get("loyalty") or {})
        self._mark_aborted(record.id, answer, "the FN made no receipt for this sale")
        return None

    # --- delivery and the loyalty backend -------------------------------------------------------

    def _finish(self, record: SaleRecord) -> SaleOutcome:
        """From FISCALISED on: deliver, then confirm; each step journaled. Used by sell() and recover()."""
        data = record.data
        receipt = receipt_from_dict(data["receipt"])
        decision = _decision_from(data["decision"])
        answer = LoyaltyAnswer.from_journal(data["loyalty"])
        stamp = _stamp_from(data["fiscal"], self.config)
        link = data["link"]
        if record.stage in (Stage.FISCALISED,):
            printed = False
            reprint = False
            # A print begun before a crash may have come out: any made after it says it is a repeat.
            repeat = bool(data.get("delivery", {}).get("printStarted"))
            if decision.print_paper:
                if repeat:
                    if REPEAT_PROBLEM not in data.get("problems", ()):
                        self._add_problem(record.id, REPEAT_PROBLEM)
                else:
                    self.journal.note(record.id, delivery={"printStarted": True})
                printed, print_problems = self._print(receipt, stamp, answer, decision, repeat=repeat)
                reprint = not printed
                for problem in print_problems:
                    self._add_problem(record.id, problem)
            _crash_point("printed")
            record = self.journal.advance(
                record.id,
                Stage.DELIVERED,
                delivery={
                    "printed": printed,
                    "reprintPending": reprint,
                    "repeat": repeat,
                    "suppressed": not decision.print_paper,
                    "sender": decision.sender.value,
                    "link": link,
                },
            )
            self._emit(record.id, "delivered", **record.data["delivery"])
            _crash_point("delivered")
        messages = (
            self._settle_loyalty(record, decision, answer, link) if record.stage is Stage.DELIVERED else ()
        )
        record = self.journal.sale(record.id)
        delivery = record.data.get("delivery", {})
        return SaleOutcome(
            sale_id=record.id,
            decision=decision,
            receipt=receipt,
            stamp=stamp,
            link=link,
            printed=bool(delivery.get("printed")),
            reprint_pending=bool(delivery.get("reprintPending")),
            loyalty=answer.status,
            messages=tuple(record.data.get("messages", messages)),
            cashier_messages=tuple(dict.fromkeys((*answer.cashier_messages, decision.cashier_message))),
            problems=tuple(record.data.get("problems", ())),
        )

    def _print(
        self,
        receipt: Receipt,
        stamp: FiscalStamp,
        answer: LoyaltyAnswer,
        decision: Decision,
        *,
        repeat: bool = False,
    ) -> tuple[bool, list[str]]:
        """Print the receipt; returns whether the printer confirmed it, and what the cashier must know.
        ``repeat``: it may have printed already, and says so."""
        if self.printer is None:
            return False, ["no printer configured: reprint queued"]
        messages = () if decision.drop_cheque_messages else tuple(answer.cheque_messages)
        try:
            result = self.printer.print_receipt(receipt, stamp, cheque_messages=messages, repeat=repeat)
        except (PrinterDriverError, OSError) as exc:
            return False, [f"paper receipt not printed ({exc}): replace paper and reprint"]
        warnings = [f"printer: {warning}" for warning in result.warnings]
        if not result.printed:
            return False, [*warnings, "printing not confirmed by the printer: reprint queued"]
        return True, warnings

    def _settle_loyalty(
        self, record: SaleRecord, decision: Decision, answer: LoyaltyAnswer, link: str
    ) -> tuple[dict[str, Any], ...]:
        """Owe the backend its calls (journaled first, so a crash replays them), then send what is owed."""
        fiscal = record.data["fiscal"]
        fiscal_body = {k: fiscal[k] for k in ("fn", "fd", "fp", "operation", "total", "dateTime")}
        receipt = record.data["receipt"]
        request = record.data["request"]
        sale_id = record.id
        calls: list[tuple[str, dict[str, Any]]] = []
        link_body = {"url": link, "qr": fiscal["qr"]} if decision.send_link_to_loyalty else {}
        if self.loyalty is None or answer.status in ("none", "blocked"):
            pass
        elif answer.status == "offline" and record.kind == "sale":
            # no link: the buyer got paper (offline), and a link would make the backend send one
            calls.append(("offline-purchase", _offline_purchase(record, link=None)))
        elif record.kind == "refund":
            original = request.get("original") or {}
            ref = (
                {"originalPurchaseId": original["purchaseId"]}
                if original.get("purchaseId")
                else {"originalFiscal": {k: original[k] for k in ("fn", "fd", "fp")}}
            )
            lines = cheque_lines_json(receipt_from_dict(receipt).lines)
            calls.append(
                (
                    "refund",
                    {**ref, "lines": lines, "total": receipt["total"], "fiscal": fiscal_body, **link_body},
                )
            )
        elif answer.purchase_id:
            calls.append(("confirm", {"purchaseId": answer.purchase_id, "fiscal": fiscal_body}))
            if link_body:
                calls.append(
                    ("cheque-link", {"purchaseId": answer.purchase_id, "fiscal": fiscal_body, **link_body})
                )
        for call, body in calls:
            self.journal.enqueue(sale_id, call, request_id(sale_id, call), body)
        messages = self.flush_outbox(sale_id)
        if link_body and not decision.print_paper and decision.sender is Sender.LOYALTY:
            self._paper_unless_sent(self.journal.sale(sale_id), answer, decision)
        self.journal.advance(sale_id, Stage.DONE, messages=list(messages))
        self._emit(sale_id, "done", messages=list(messages))
        _crash_point("done")
        return messages

    def _paper_unless_sent(self, record: SaleRecord, answer: LoyaltyAnswer, decision: Decision) -> None:
        """Paper was suppressed for the loyalty backend to send the e-receipt: print it unless it will.

        54-FZ lets the register skip paper only when the receipt is actually sent (ffd-receipt.md §8).
        "Will be sent" is a message queued or sent on the link; a link still owed (backend down), refused,
        or answered with no message gets the paper receipt, with the reason journaled.
        """
        if record.data["delivery"].get("paperFallback"):
            return  # printed (or owed to reprint) already: a recovery replaying this step prints no copy
        channel = "email" if "@" in (decision.customer_contact or "") else "sms"
        sent = [
            m
            for m in record.data.get("linkMessages") or ()
            if m.get("status") in MESSAGE_ON_ITS_WAY and _carries_receipt(m, channel)
        ]
        if sent:
            return
        if any(item.sale_id == record.id and item.body.get("url") for item in self.journal.pending_calls()):
            why = "the loyalty backend has not taken the receipt link yet"
        elif record.data.get("linkMessages") is None:
            why = "the loyalty backend refused the receipt link"
        else:
            why = "the loyalty backend sends no message for this receipt"
        receipt = receipt_from_dict(record.data["receipt"])
        stamp = _stamp_from(record.data["fiscal"], self.config)
        printed, problems = self._print(receipt, stamp, answer, decision)
        delivery = record.data["delivery"]
        self.journal.note(
            record.id,
            delivery={**delivery, "printed": printed, "reprintPending": not printed, "paperFallback": why},
        )
        self._add_problem(record.id, f"e-receipt not confirmed ({why}): paper receipt printed instead")
        for problem in problems:
            self._add_problem(record.id, problem)
        self._emit(record.id, "paper-fallback", reason=why, printed=printed)

    def _upload_expired(self, sale_id: str) -> None:
        """The backend let the calculation expire before the register confirmed it (a long outage, a
        recovery much later): the sale goes up as an offline purchase, with its link when one was owed."""
        record = self.journal.sale(sale_id)
        decision = _decision_from(record.data["decision"])
        link = record.data["link"] if decision.send_link_to_loyalty else None
        body = _offline_purchase(record, link=link)
        self.journal.enqueue(sale_id, "offline-purchase", request_id(sale_id, "offline-purchase"), body)
        for item in self.journal.pending_calls():
            if item.sale_id == sale_id and item.call in ("confirm", "cheque-link"):
                self.journal.call_done(item.id)
        self._emit(sale_id, "loyalty-expired", uploaded="offline-purchase")

    def _add_problem(self, sale_id: str, problem: str) -> None:
        problems = self.journal.sale(sale_id).data.get("problems") or []
        self.journal.note(sale_id, problems=[*problems, problem])

    def flush_outbox(self, sale_id: str | None = None) -> tuple[dict[str, Any], ...]:
        """Send what the journal owes the loyalty backend; returns the messages sent for ``sale_id``.

        The messages answered for a receipt link are journaled with the sale (``linkMessages``) as soon as
        they arrive, so a crash after the call still knows whether the e-receipt is on its way.
        """
        if self.loyalty is None:
            return ()
        messages: tuple[dict[str, Any], ...] = ()
        while pending := self.journal.pending_calls():  # re-read: a refusal may owe a new call, or settle one
            item = pending[0]
            try:
                result = self.loyalty.send(item.call, item.request_id, item.body)
            except ConnectionError as exc:
                self.journal.call_failed(item.id, str(exc))
                self.loyalty_seen = "offline"
                break  # the backend is down: keep the order, try again later
            except ValueError as exc:  # refused by the backend: recorded, not retried
                self.journal.call_failed(item.id, str(exc))
                self.journal.call_done(item.id)
                if str(exc).startswith(f"{PURCHASE_EXPIRED}:") and item.call in ("confirm", "cheque-link"):
                    self._upload_expired(item.sale_id)
                    continue
                self._add_problem(item.sale_id, f"the loyalty backend refused {item.call}: {exc}")
                self._emit(item.sale_id, "loyalty-refused", call=item.call, error=str(exc))
                continue
            self.loyalty_seen = "online"
            if item.body.get("url"):
                self.journal.note(item.sale_id, linkMessages=list(result.get("messages") or ()))
            self.journal.call_done(item.id)
            if item.sale_id == sale_id and result.get("messages"):
                messages = tuple(result["messages"])
        return messages

    # --- the OFD --------------------------------------------------------------------------------

    def drain_ofd(self) -> DrainResult | None:
        """Send the FN's queued documents to the OFD; a failure leaves them queued (reported, not raised)."""
        if not self.config.ofd.uri:
            return None
        if self._links_owed():
            self.flush_outbox()
        owed = self._links_owed()
        if owed:
            # the lab OFD decides whether to send an e-receipt by whether the backend holds its link
            self._emit("", "ofd-deferred", linksOwed=owed)
            return None
        try:
            result = drain_ofd(self.fn, OfdClient(self.config.ofd.uri, timeout=5.0))
        except (OfdError, OfdDrainError) as exc:
            self._emit("", "ofd-failed", error=str(exc))
            return None
        self._emit("", "ofd-drained", confirmed=list(result.confirmed), remaining=result.remaining)
        return result

    def _links_owed(self) -> int:
        return sum(1 for item in self.journal.pending_calls() if item.body.get("url"))

    # --- recovery -------------------------------------------------------------------------------

    def recover(self) -> list[SaleOutcome]:
        """Finish every sale a crash interrupted; run before the first sale of a process."""
        outcomes = []
        for record in self.journal.open_sales():
            self._emit(record.id, "recovering", stage=record.stage.value)
            if record.stage in (Stage.STARTED, Stage.CALCULATED, Stage.DECIDED):
                answer = LoyaltyAnswer.from_journal(record.data.get("loyalty") or {})
                self._mark_aborted(record.id, answer, "interrupted before the receipt was made")
                continue
            if record.stage is Stage.FISCAL_PENDING and self._settle_fiscal(record) is None:
                continue
            outcomes.append(self._finish(self.journal.sale(record.id)))
        self.flush_outbox()
        self.reprint_pending()
        return outcomes

    def pending_reprints(self) -> list[str]:
        """Sales with a fiscal document whose paper receipt is still owed (printer failed), oldest first."""
        return [record.id for record in self.journal.pending_reprints()]

    def reprint_pending(self) -> dict[str, bool]:
        """Try every owed paper receipt once, oldest first; stops at the first the printer refuses."""
        results: dict[str, bool] = {}
        for sale_id in self.pending_reprints():
            results[sale_id] = self.reprint(sale_id)
            if not results[sale_id]:
                break
        return results

    def reprint(self, sale_id: str) -> bool:
        """Print a receipt whose printing failed after its fiscal document was made; True once printed."""
        record = self.journal.sale(sale_id)
        delivery = record.data.get("delivery") or {}
        if not delivery.get("reprintPending"):
            return False
        receipt = receipt_from_dict(record.data["receipt"])
        stamp = _stamp_from(record.data["fiscal"], self.config)
        answer = LoyaltyAnswer.from_journal(record.data["loyalty"])
        decision = _decision_from(record.data["decision"])
        printed, problems = self._print(receipt, stamp, answer, decision, repeat=bool(delivery.get("repeat")))
        if printed:
            self.journal.note(sale_id, delivery={**delivery, "printed": True, "reprintPending": False})
        self._emit(sale_id, "reprinted" if printed else "reprint-failed", problems=problems)
        return printed


def _carries_receipt(message: dict[str, Any], channel: str) -> bool:
    """The backend says the message delivers the receipt; a backend that does not say: its channel."""
    carries = message.get("carries_receipt")
    return bool(carries) if carries is not None else message.get("channel") == channel


def _offline_purchase(record: SaleRecord, *, link: str | None) -> dict[str, Any]:
    """The offline-batch upload of a sale the backend has not settled (offline, or calculation expired)."""
    fiscal = record.data["fiscal"]
    receipt = record.data["receipt"]
    return {
        "chequeNumber": record.id.replace("-", ""),
        "chequeDateTime": fiscal["dateTime"],
        "identifier": record.data["request"].get("identifier"),
        "lines": cheque_lines_json(receipt_from_dict(receipt).lines),
        "total": receipt["total"],
        "fiscal": {k: fiscal[k] for k in ("fn", "fd", "fp", "operation", "total", "dateTime")},
        "url": link,
        "qr": fiscal["qr"] if link else None,
    }


def _payment(request: SaleRequest, total: int) -> Payment:
    if request.pay is PaymentKind.CASH:
        given = request.cash_given if request.cash_given is not None else -(-total // 10000) * 10000
        if given < total:
            raise SaleError(f"cash of {format_rub(given)} does not cover the total of {format_rub(total)}")
        return Payment(PaymentKind.CASH, max(given, 1))
    return Payment(request.pay, total)


def _request_json(request: SaleRequest, when: datetime) -> dict[str, Any]:
    return {
        "when": when.isoformat(),
        "lines": [line_to_dict(line) for line in request.lines],
        "pay": request.pay.name,
        "cashGiven": request.cash_given,
        "identifier": None
        if request.identifier is None
        else {"type": request.identifier.type, "value": request.identifier.value},
        "buyer": None
        if request.buyer is None
        else {
            "wants_electronic": request.buyer.wants_electronic,
            "contact": request.buyer.contact,
            "also_paper": request.buyer.also_paper,
        },
        "operation": int(request.operation),
        "original": request.original,
    }


def _decision_from(data: dict[str, Any]) -> Decision:
    return Decision(**data)


def _stamp_from(fiscal: dict[str, Any], config: RegisterConfig) -> FiscalStamp:
    return FiscalStamp(
        fn=fiscal["fn"],
        fd=fiscal["fd"],
        fp=fiscal["fp"],
        shift=fiscal["shift"],
        receipt_no=fiscal["receipt"],
        rnm=config.kkt.rnm,
        qr=fiscal["qr"],
        fns_site=config.kkt.fns_site,
        emulated=fiscal.get("emulated", True),
    )


def _receipt_number(fn: FnDriver, fd: int) -> int:
    """Tag 1042 of a stored receipt (45h/46h)."""
    _form, tlv = fn.document_tlv(fd)
    for tag, value in iter_tlv(tlv):
        if tag == 1042:
            return int.from_bytes(value, "little")
    return 0
