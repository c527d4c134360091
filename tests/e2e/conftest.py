"""The embedded lab in this process (every party on its real channel) and a register driving it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from register.config import RegisterConfig
from register.sale import Register
from tests.lab_client import LabClient, running_lab

__all__ = ["LabClient"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabClient]:
    with running_lab(tmp_path_factory.mktemp("lab")) as client:
        yield client


@pytest.fixture(scope="module")
def register(lab: LabClient) -> Iterator[Register]:
    config = RegisterConfig.load(lab.addresses.config)
    with Register.open(config) as reg:
        reg.ensure_shift()
        yield reg
