"""pytest collects scenario files: each `scenarios/**/*.yaml` is one test, played on a fresh embedded lab.

Enabled for this project in pyproject.toml (``-p register.scenario.plugin``); a bad file fails its own test
with the loader's ``file:line`` message and does not stop the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from register.scenario.loader import ScenarioError, load_scenario
from register.scenario.report import as_text


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Any:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        from register.lab_session import run_lab_scenario

        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise ScenarioFailed(str(exc)) from None
        data = self.config._tmp_path_factory.mktemp(self.path.stem)  # type: ignore[attr-defined]
        result = run_lab_scenario(scenario, data)
        if not result.ok:
            raise ScenarioFailed(as_text([result]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.path.name}"
