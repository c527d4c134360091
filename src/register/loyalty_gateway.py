"""The sale flow's side of the loyalty adapter: journal-able answers and replayable calls.

The sale flow records what loyalty said (`LoyaltyAnswer`) and owes it calls (confirm, cheque-link, refund,
offline purchases) that survive a crash as JSON bodies in the journal's outbox; `send` turns such a body
back into the adapter's typed call. Errors are mapped for the outbox: no usable answer -> ConnectionError
(keep the call, retry later), a refusal -> ValueError (recorded, not retried).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from register.config import LoyaltySettings
from register.domain.decision import DeliveryMode as DecisionMode
from register.domain.decision import LoyaltyState
from register.domain.quantity import Quantity
from register.domain.receipt import ReceiptLine
from register.loyalty.adapter import LoyaltyAdapter
from register.loyalty.errors import CardBlocked, LoyaltyRejected, LoyaltyUnavailable
from register.loyalty.http_adapter import HttpLoyaltyAdapter
from register.loyalty.models import (
    Cheque,
    ChequeLine,
    ElectronicCheque,
    Fiscal,
    FiscalRef,
    Identifier,
    IdentifierType,
    Member,
    OfflinePurchase,
    OfflinePurchaseAnswer,
    Refund,
    derive_request_id,
)


@dataclass(frozen=True, slots=True)
class LoyaltyAnswer:
    """What the loyalty programme said about this sale, as the journal keeps it."""

    status: str
    """online (a member or not), offline (unreachable or too slow), blocked, none (no backend configured)."""
    purchase_id: str | None = None
    member: dict[str, Any] | None = None
    paper_refused: bool = False
    mode: str | None = None
    notifier: str | None = None
    cheque_messages: tuple[str, ...] = ()
    cashier_messages: tuple[str, ...] = ()
    error: str | None = None

    @classmethod
    def not_configured(cls) -> LoyaltyAnswer:
        return cls("none")

    @classmethod
    def from_answer(
        cls,
        purchase_id: str | None,
        member: Member | None,
        cheque: ElectronicCheque | None,
        cheque_messages: Sequence[str] = (),
        cashier_messages: Sequence[str] = (),
    ) -> LoyaltyAnswer:
        return cls(
            "online",
            purchase_id=purchase_id,
            member=asdict(member) if member is not None else None,
            paper_refused=bool(cheque and cheque.paper_refused),
            mode=str(cheque.mode) if cheque else None,
            notifier=cheque.notifier.value if cheque and cheque.notifier else None,
            cheque_messages=tuple(cheque_messages),
            cashier_messages=tuple(cashier_messages),
        )

    @property
    def state(self) -> LoyaltyState:
        if self.status == "offline":
            return LoyaltyState.offline()
        if self.status == "blocked":
            return LoyaltyState.card_blocked()
        if self.member is None or self.mode is None:
            return LoyaltyState.no_member()
        return LoyaltyState.member(
            paper_refused=self.paper_refused, mode=DecisionMode(self.mode), notifier=self.notifier
        )

    def as_journal(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "purchaseId": self.purchase_id,
            "member": self.member,
            "paperRefused": self.paper_refused,
            "mode": self.mode,
            "notifier": self.notifier,
            "chequeMessages": list(self.cheque_messages),
            "cashierMessages": list(self.cashier_messages),
            "error": self.error,
        }

    @classmethod
    def from_journal(cls, data: dict[str, Any]) -> LoyaltyAnswer:
        if not data:
            return cls.not_configured()
        return cls(
            status=data["status"],
            purchase_id=data.get("purchaseId"),
            member=data.get("member"),
            paper_refused=bool(data.get("paperRefused")),
            mode=data.get("mode"),
            notifier=data.get("notifier"),
            cheque_messages=tuple(data.get("chequeMessages") or ()),
            cashier_messages=tuple(data.get("cashierMessages") or ()),
            error=data.get("error"),
        )


@dataclass
class LoyaltyGateway:
    adapter: LoyaltyAdapter
    sent: list[str] = field(default_factory=list)

    @classmethod
    @contextmanager
    def open(cls, settings: LoyaltySettings) -> Iterator[LoyaltyGateway]:
        assert settings.url is not None
        with HttpLoyaltyAdapter(settings.url, settings.device, settings.secret, settings.timeout) as adapter:
            yield cls(adapter)

    # --- asking ---------------------------------------------------------------------------------

    def calculate(
        self,
        request_id: str,
        *,
        cheque_number: str,
        when: datetime,
        identifier: Any,
        lines: Sequence[ReceiptLine],
        total: int,
    ) -> LoyaltyAnswer:
        cheque = Cheque(
            cheque_number=cheque_number,
            cheque_datetime=when.astimezone(),
            lines=cheque_lines(lines),
            total=total,
            identifier=_identifier(identifier),
        )
        try:
            answer = self.adapter.calculate(request_id, cheque)
        except LoyaltyUnavailable as exc:
            return LoyaltyAnswer(
                "offline", error=str(exc), cashier_messages=("Программа лояльности недоступна",)
            )
        except CardBlocked as exc:
            return LoyaltyAnswer("blocked", error=str(exc), cashier_messages=(exc.message,))
        except LoyaltyRejected as exc:  # MemberNotFound, or a request it refused: the sale goes on without
            return LoyaltyAnswer("online", error=str(exc), cashier_messages=(exc.message,))
        return LoyaltyAnswer.from_answer(
            answer.purchase_id,
            answer.member,
            answer.electronic_cheque,
            answer.cheque_messages,
            answer.cashier_messages,
        )

    def about_member(self, request_id: str, identifier: Any) -> LoyaltyAnswer:
        """For a refund: the member's e-receipt choice (balance), before the return is fiscalised."""
        ident = _identifier(identifier)
        if ident is None:
            return LoyaltyAnswer("online")
        try:
            answer = self.adapter.balance(request_id, ident)
        except LoyaltyUnavailable as exc:
            return LoyaltyAnswer(
                "offline", error=str(exc), cashier_messages=("Программа лояльности недоступна",)
            )
        except CardBlocked as exc:
            return LoyaltyAnswer("blocked", error=str(exc), cashier_messages=(exc.message,))
        except LoyaltyRejected as exc:
            return LoyaltyAnswer("online", error=str(exc), cashier_messages=(exc.message,))
        return LoyaltyAnswer.from_answer(None, answer.member, answer.electronic_cheque)

    # --- owed calls (replayable from the journal) ----------------------------------------------

    def send(self, call: str, request_id: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._send(call, request_id, body)
        except LoyaltyUnavailable as exc:
            raise ConnectionError(str(exc)) from None
        except LoyaltyRejected as exc:
            raise ValueError(f"{exc.error_code}: {exc.message}") from None

    def _send(self, call: str, request_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if call == "confirm":
            answer = self.adapter.confirm(request_id, body["purchaseId"], fiscal_from(body["fiscal"]))
            return {"status": answer.status, "pointsEarned": answer.points_earned}
        if call == "cancel":
            return {"status": self.adapter.cancel(request_id, body["purchaseId"]).status}
        if call == "cheque-link":
            link = self.adapter.cheque_link(
                request_id, body["purchaseId"], fiscal_from(body["fiscal"]), body["url"], body["qr"]
            )
            return {"messages": [asdict(m) for m in link.messages]}
        if call == "refund":
            refund = Refund(
                lines=cheque_lines_from(body["lines"]),
                total=body["total"],
                fiscal=fiscal_from(body["fiscal"]),
                original_purchase_id=body.get("originalPurchaseId"),
                original_fiscal=FiscalRef(**body["originalFiscal"]) if body.get("originalFiscal") else None,
            )
            answer = self.adapter.refund(request_id, refund)
            messages: list[dict[str, Any]] = []
            if body.get("url"):
                link = self.adapter.cheque_link(
                    derive_request_id(request_id, "cheque-link"),
                    answer.refund_id,
                    refund.fiscal,
                    body["url"],
                    body["qr"],
                )
                messages = [asdict(m) for m in link.messages]
            return {"refundId": answer.refund_id, "messages": messages}
        if call == "offline-purchase":
            cheque = Cheque(
                cheque_number=body["chequeNumber"],
                cheque_datetime=datetime.fromisoformat(body["chequeDateTime"]),
                lines=cheque_lines_from(body["lines"]),
                total=body["total"],
                identifier=Identifier(**body["identifier"]) if body.get("identifier") else None,
            )
            item = OfflinePurchase(
                request_id, cheque, fiscal_from(body["fiscal"]), body.get("url"), body.get("qr")
            )
            (result,) = self.adapter.offline_batch(derive_request_id(request_id, "batch"), [item])
            if result.error is not None:
                raise result.error
            answer = result.answer
            messages = answer.messages if isinstance(answer, OfflinePurchaseAnswer) else ()
            return {"status": result.status, "messages": [asdict(m) for m in messages]}
        raise ValueError(f"unknown loyalty call {call!r} in the journal")


def _identifier(identifier: Any) -> Identifier | None:
    if identifier is None:
        return None
    return Identifier(IdentifierType(identifier.type), identifier.value)


def cheque_lines(lines: Sequence[ReceiptLine]) -> tuple[ChequeLine, ...]:
    return tuple(
        ChequeLine(
            position=i,
            sku=line.sku or f"POS-{i}",
            name=line.name,
            price=line.price,
            quantity=line.quantity,
            amount=line.total,
        )
        for i, line in enumerate(lines, 1)
    )


def cheque_lines_json(lines: Sequence[ReceiptLine]) -> list[dict[str, Any]]:
    return [
        {
            "position": c.position,
            "sku": c.sku,
            "name": c.name,
            "price": c.price,
            "quantity": str(c.quantity),
            "amount": c.amount,
        }
        for c in cheque_lines(lines)
    ]


def cheque_lines_from(data: Sequence[dict[str, Any]]) -> tuple[ChequeLine, ...]:
    return tuple(
        ChequeLine(
            position=d["position"],
            sku=d["sku"],
            name=d["name"],
            price=d["price"],
            quantity=Quantity.parse(d["quantity"]),
            amount=d["amount"],
        )
        for d in data
    )


def fiscal_from(data: dict[str, Any]) -> Fiscal:
    return Fiscal(
        fn=data["fn"],
        fd=int(data["fd"]),
        fp=int(data["fp"]),
        operation=int(data["operation"]),
        total=int(data["total"]),
        date_time=datetime.fromisoformat(data["dateTime"]),
    )
