"""The last sale's result: printed or not and why, the fiscal data, the e-receipt, problems to act on."""

from __future__ import annotations

from textual.widgets import Static

from register.domain.money import format_rub
from register.domain.receipt import Operation
from register.sale import SaleOutcome

RETURNS = (Operation.SALE_RETURN, Operation.EXPENSE_RETURN)


class OutcomePanel(Static):
    def show(self, outcome: SaleOutcome) -> None:
        self.update(describe_outcome(outcome))
        self.set_classes("problem" if outcome.problems else "")

    def show_refusal(self, error: str) -> None:
        self.update(f"[b]Чек не пробит[/b]: {error}")
        self.set_classes("problem")


def describe_outcome(outcome: SaleOutcome) -> str:
    decision = outcome.decision
    lines = []
    receipt, stamp = outcome.receipt, outcome.stamp
    if stamp is not None and receipt is not None:
        kind = "Возврат" if receipt.operation in RETURNS else "Продажа"
        lines.append(f"[b]{kind} на {format_rub(receipt.total)} руб.[/b] · ФД {stamp.fd} · ФП {stamp.fp}")
    if outcome.printed:
        paper = "чек напечатан"
    elif outcome.reprint_pending:
        paper = "[b]чек НЕ напечатан: допечатать (F9)[/b]"
    else:
        paper = "бумажный чек не печатается"
    lines.append(f"{paper} — {decision.reason}")
    if decision.customer_contact:
        lines.append(f"эл. чек: {decision.customer_contact} (отправляет: {decision.sender})")
    if outcome.link:
        lines.append(f"ссылка: {outcome.link}")
    lines += [f"• {message}" for message in outcome.cashier_messages if message]
    lines += [f"[b]! {problem}[/b]" for problem in outcome.problems]
    return "\n".join(lines)
