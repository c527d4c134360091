"""Text snapshots of the TUI at a fixed terminal size: the screen as a person reads it, compared with a
golden file a person reviewed. REGISTER_SNAPSHOT_UPDATE=1 rewrites the golden files (review the diff)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console
from textual.app import App

SNAPSHOTS = Path(__file__).parent / "snapshots"


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as text (the same compositor output export_screenshot draws)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    screen = app.screen
    console.print(screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def assert_snapshot(app: App[object], name: str) -> None:
    shown = screen_text(app)
    golden = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("REGISTER_SNAPSHOT_UPDATE") == "1" or not golden.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        golden.write_text(shown, encoding="utf-8")
        if os.environ.get("REGISTER_SNAPSHOT_UPDATE") != "1":
            raise AssertionError(f"no golden file {golden.name}: written now; review it and commit it")
    assert shown == golden.read_text(encoding="utf-8"), f"the screen differs from {golden.name}"
