"""The buyer's loyalty card and what the programme says about them (above all: paper refused or not)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from register.sale import LoyaltyAnswer


class MemberPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Input(placeholder="карта или телефон (F2)", id="card")
        yield Static("Покупатель без карты", id="member-info")

    def show(self, card: str, answer: LoyaltyAnswer) -> None:
        self.query_one("#member-info", Static).update(describe_member(card, answer))

    def forget(self) -> None:
        self.query_one("#card", Input).value = ""
        self.query_one("#member-info", Static).update("Покупатель без карты")


def describe_member(card: str, answer: LoyaltyAnswer) -> str:
    if answer.status == "offline":
        return f"{card}: программа лояльности недоступна — чек будет напечатан"
    if answer.status == "blocked":
        return f"{card}: карта заблокирована — продажа без лояльности"
    if answer.status == "none":
        return f"{card}: программа лояльности не настроена"
    if answer.member is None:
        return f"{card}: {'; '.join(answer.cashier_messages) or 'участник не найден'}"
    name = answer.member.get("name") or "участник"
    balance = answer.member.get("balance")
    head = f"{name} ({card})" + (f", баллов: {balance}" if balance is not None else "")
    if answer.paper_refused and answer.notifier:
        return f"{head}\nОтказ от бумажного чека: эл. чек на {answer.notifier} ({answer.mode})"
    if answer.paper_refused:
        return f"{head}\nОтказ от бумаги, но нет подтверждённого контакта — чек будет напечатан"
    return f"{head}\nБумажный чек (спросить про эл. чек)"
