"""Scenario files: what a good one becomes, and the error a bad one gets (file, line, field)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from register.scenario.loader import ScenarioError, load_scenario
from register.scenario.model import Clear, Expect, Fault, Mode, Refund, RefusePaper, Reprint, Sell

REGISTER = [sys.executable, "-m", "register"]
S = "scenario: x\nsteps:\n"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_step_kind_becomes_its_value(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """scenario: all kinds
tags: [a, b]
steps:
  - sell: {items: ["4600000000011x2", 4600000000028], card: 7000000000001, pay: card}
    expect: {printed: false, paper: 0, reason: refused-paper-loyalty, contact: null, emails: 1,
             problems: none}
  - sell: {items: ["1"], phone: "+79001234567", buyer: {e-receipt: a@b.ru, also-paper: true}}
  - refund: {original: "@1"}
  - fault: {printer: "paper-out:after-bytes=300"}
  - clear: fn
  - mode: OFD
  - refuse-paper: {card: "7000000000004", refused: false}
  - reprint: {printed: 2}
""",
    )
    scenario = load_scenario(path)
    assert scenario.name == "all kinds" and scenario.tags == ("a", "b")
    actions = [step.action for step in scenario.steps]
    assert actions == [
        Sell(("4600000000011x2", "4600000000028"), card="7000000000001", pay="card"),
        Sell(("1",), phone="+79001234567", buyer={"e-receipt": "a@b.ru", "also-paper": True}),
        Refund("@1", buyer="declined"),
        Fault("printer", "paper-out:after-bytes=300"),
        Clear("fn"),
        Mode("OFD"),
        RefusePaper("7000000000004", refused=False),
        Reprint(printed=2),
    ]
    assert scenario.steps[0].expect == Expect(
        printed=False, paper=0, reason="refused-paper-loyalty", contact=None, emails=1, no_problems=True
    )
    assert [step.where.line for step in scenario.steps] == [4, 7, 8, 9, 10, 11, 12, 13]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: []\n", ":1: scenario (its name): text is needed"),
        ("scenario: x\nsteps: []\n", ":1: steps: a list of at least one step is needed"),
        (S + "  - sell: {items: [1]}\n    pay: cash\n", ":3: step 1: one action"),
        (S + "  - dance: {}\n", ":3: step 1 (dance): unknown action 'dance'"),
        (
            S + "  - sell: {items: [1], colour: red}\n",
            ":3: step 1 (sell): unknown field 'colour'",
        ),
        (S + "  - sell: {items: [1], pay: bitcoin}\n", "pay: cash or card, got 'bitcoin'"),
        (
            S + "  - fault: {toaster: on}\n",
            "unknown field 'toaster' (known: fn, loyalty, printer)",
        ),
        (S + "  - clear: toaster\n", "a device (printer, fn, loyalty), got 'toaster'"),
        (S + "  - mode: PIGEON\n", "LOYALTY or OFD, got 'PIGEON'"),
        (
            S + "  - refund: {original: '@1'}\n",
            ":3: step 1 (refund): original @1: must name an earlier sell",
        ),
        (
            S + "  - mode: OFD\n    expect: {printed: true}\n",
            "only sell and refund take expect",
        ),
        (
            S + "  - sell: {items: [1]}\n    expect: {printed: maybe}\n",
            ":4: step 1 (sell): expect: printed: true or false",
        ),
        (
            S + "  - sell: {items: [1]}\n    expect: {paper: -1}\n",
            "paper: a whole number ≥ 0, got -1",
        ),
        ("scenario: x\nscenario: y\nsteps: []\n", ":2: key 'scenario' given twice"),
        ("scenario: [unclosed\n", ":2:"),
        ("a: &x [1, 2]\nb: [*x, *x]\n", ":2: aliases (*name) are not allowed"),
    ],
)
def test_a_bad_file_names_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_not_utf8_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("scenario: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml: not UTF-8 text"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match=r"gone\.yaml: cannot read"):
        load_scenario(tmp_path / "gone.yaml")


def test_scenario_run_fails_a_wrong_expectation_and_writes_the_reports(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(
        "scenario: wrong on purpose\nsteps:\n"
        "  - sell: {items: ['4600000000028'], card: '7000000000004', buyer: declined}\n"
        "    expect: {printed: false, reason: buyer-declined}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [*REGISTER, "scenario", "run", str(path), "--report", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "printed: expected False, got True" in done.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    (step,) = report["scenarios"][0]["steps"]
    checks = {check["what"]: check for check in step["checks"]}
    assert checks["printed"]["ok"] is False and checks["reason"]["ok"] is True
    assert step["detail"]["fd"] >= 3  # a real fiscal document was made
    assert 'failures="1"' in (tmp_path / "report" / "junit.xml").read_text(encoding="utf-8")


def test_scenario_check_refuses_a_bad_file_before_any_lab_starts(tmp_path: Path) -> None:
    path = _file(tmp_path, S + "  - clear: toaster\n")
    done = subprocess.run(
        [*REGISTER, "scenario", "run", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"{path}:3: step 1 (clear)" in done.stderr
