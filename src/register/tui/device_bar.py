"""The status of every device, always on screen: FN, printer, loyalty backend."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from register.sale import DeviceReport, DeviceState

DEVICES = ("fn", "printer", "loyalty")
_MARK = {
    DeviceState.READY: "●",
    DeviceState.WARNING: "▲",
    DeviceState.ERROR: "■",
    DeviceState.UNKNOWN: "?",
    DeviceState.OFF: "○",
}


class DeviceBar(Horizontal):
    """One cell per device; a cell's CSS class is its state, so the colour says it at a glance."""

    def compose(self) -> ComposeResult:
        for device in DEVICES:
            yield Static(f"? {device}: …", id=f"device-{device}", classes="device unknown")

    def show(self, report: DeviceReport) -> None:
        cell = self.query_one(f"#device-{report.device}", Static)
        cell.update(f"{_MARK[report.state]} {report.summary}")
        cell.set_classes(f"device {report.state.value}")

    def state_of(self, device: str) -> str:
        """The state shown for ``device`` (its CSS class), for tests and scenario checks."""
        cell = self.query_one(f"#device-{device}", Static)
        return next(c for c in cell.classes if c != "device")
