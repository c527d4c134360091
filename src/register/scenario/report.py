"""Scenario results as a person reads them (text), as a machine reads them (JSON), and as CI reads them
(JUnit XML): every step, every check with what was expected and what was seen."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from register.scenario.runner import ScenarioResult, StepResult


def as_text(results: Sequence[ScenarioResult]) -> str:
    lines = []
    for result in results:
        lines.append(
            f"{'PASS' if result.ok else 'FAIL'} {result.name} ({result.path}, {result.seconds:.2f} s)"
        )
        for step in result.steps:
            lines.append(f"  {'ok ' if step.ok else 'BAD'} step {step.number} {step.kind} (line {step.line})")
            if step.error:
                lines.append(f"      error: {step.error}")
            for check in step.checks:
                if not check.ok:
                    lines.append(f"      {check.what}: expected {check.expected!r}, got {check.actual!r}")
    passed = sum(r.ok for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def as_json(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "name": r.name,
                "path": r.path,
                "ok": r.ok,
                "seconds": round(r.seconds, 4),
                "steps": [_step_json(step) for step in r.steps],
            }
            for r in results
        ],
        "passed": sum(r.ok for r in results),
        "failed": sum(not r.ok for r in results),
    }


def _step_json(step: StepResult) -> dict[str, Any]:
    return {
        "number": step.number,
        "kind": step.kind,
        "line": step.line,
        "ok": step.ok,
        "error": step.error,
        "seconds": round(step.seconds, 4),
        "detail": step.detail,
        "checks": [{**asdict(check), "ok": check.ok} for check in step.checks],
    }


def as_junit(results: Sequence[ScenarioResult]) -> str:
    suite = ET.Element(
        "testsuite",
        name="scenarios",
        tests=str(len(results)),
        failures=str(sum(not r.ok for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=result.path, name=result.name, time=f"{result.seconds:.3f}"
        )
        if not result.ok:
            failure = ET.SubElement(case, "failure", message="scenario failed")
            failure.text = as_text([result])
    return ET.tostring(suite, encoding="unicode")


def write_reports(results: Sequence[ScenarioResult], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    report = directory / "report.json"
    junit = directory / "junit.xml"
    text = directory / "report.txt"
    report.write_text(
        json.dumps(as_json(results), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    junit.write_text(as_junit(results), encoding="utf-8")
    text.write_text(as_text(results) + "\n", encoding="utf-8")
    return [text, report, junit]
