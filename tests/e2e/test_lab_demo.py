"""`register` with no arguments: three sales on the embedded lab show the delivery decision."""

from __future__ import annotations

from pathlib import Path

from register.lab_session import run_lab_demo


def test_demo_suppresses_paper_for_the_member_who_refused(tmp_path: Path) -> None:
    lines: list[str] = []
    run_lab_demo(lines.append, tmp_path / "lab")
    text = "\n".join(lines)
    assert "paper: NOT printed (refused-paper-loyalty)" in text
    assert "paper: printed (buyer-declined)" in text
    assert "tag 1008: buyer@example.ru; sender: ofd" in text
    assert len(list((tmp_path / "lab" / "printer").glob("*.txt"))) == 2
    recipients = sorted(
        line.removeprefix("To: ").strip()
        for mail in (tmp_path / "lab" / "mail").glob("*.eml")
        for line in mail.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith("To: ")
    )
    assert recipients == ["anna@example.ru", "buyer@example.ru"]
