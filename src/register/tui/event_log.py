"""Every step of every sale, as the sale flow reports it: what an integrator watches to trust the till."""

from __future__ import annotations

from textual.widgets import RichLog

from register.sale import SaleEvent

_SHOWN = ("reason", "fd", "fp", "printed", "suppressed", "sender", "status", "error", "linksOwed", "problems")


class EventLog(RichLog):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=500, markup=False, wrap=True, **kwargs)  # type: ignore[arg-type]

    def add(self, event: SaleEvent) -> None:
        shown = {k: v for k, v in event.detail.items() if k in _SHOWN and v not in (None, "", [], ())}
        sale = event.sale_id[:8] if event.sale_id else "—"
        self.write(f"{sale} {event.step}" + (f" {shown}" if shown else ""))

    def note(self, text: str) -> None:
        self.write(text)
