"""`register lab`, `register catalogue` and `register sell` as a user runs them: separate processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

REGISTER = [sys.executable, "-m", "register"]


def test_lab_sell_and_catalogue_from_the_command_line(tmp_path: Path) -> None:
    lab = subprocess.Popen([*REGISTER, "lab", "--data", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert lab.stdout is not None
    lines = []
    try:
        while not (lines and lines[-1].startswith("config: ")):
            line = lab.stdout.readline()
            assert line, f"the lab exited early: {lines}"
            lines.append(line.strip())
        config = lines[-1].removeprefix("config: ")
        assert [line.split(":")[0] for line in lines] == [
            "fn",
            "printer",
            "loyalty",
            "ofd",
            "smtp",
            "control",
            "config",
        ]

        catalogue = subprocess.run(
            [*REGISTER, "catalogue", "--config", config, "--json"], capture_output=True, text=True, timeout=60
        )
        items = json.loads(catalogue.stdout)
        assert {"barcode": "2000000000015", "weighed": True}.items() <= next(
            i for i in items if i["sku"] == "APPLE-GALA"
        ).items()

        sold = subprocess.run(
            [
                *REGISTER,
                "sell",
                "--config",
                config,
                "--item",
                "4600000000011x2",
                "--card",
                "7000000000002",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sold.returncode == 0, sold.stderr
        outcome = json.loads(sold.stdout)
        assert outcome["printed"] is False
        assert outcome["decision"]["reason"] == "refused-paper-loyalty"
        assert outcome["decision"]["customer_contact"] == "+79001234502"
        assert outcome["fiscal"]["qr"].endswith("&n=1")

        bad = subprocess.run(
            [*REGISTER, "sell", "--config", config, "--item", "nope"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2
        assert "no item with barcode or SKU 'nope'" in bad.stderr
    finally:
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(timeout=30) == 0
    assert (tmp_path / "journal.sqlite3").exists() and (tmp_path / "fn").is_dir()


def _start_lab(data: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    lab = subprocess.Popen([*REGISTER, "lab", "--data", str(data)], stdout=subprocess.PIPE, text=True)
    assert lab.stdout is not None
    found: dict[str, str] = {}
    while "config" not in found:
        line = lab.stdout.readline()
        assert line, f"the lab exited early: {found}"
        key, _, value = line.strip().partition(": ")
        found[key] = value.split(" ")[0]
    return lab, found


def _register(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REGISTER, *args], capture_output=True, text=True, timeout=120)


def test_faults_injected_into_a_running_lab_through_its_control_channel(tmp_path: Path) -> None:
    lab, found = _start_lab(tmp_path)
    control, config = found["control"], found["config"]
    try:
        injected = _register("emulate", "control", control, "fault", "printer", "paper-out:after-bytes=200")
        assert injected.returncode == 0 and injected.stdout.startswith("ok: printer:"), injected.stdout

        sold = _register(
            "sell",
            "--config",
            config,
            "--item",
            "4600000000035",
            "--card",
            "7000000000004",
            "--no-e-receipt",
            "--json",
        )
        assert sold.returncode == 0, sold.stderr
        outcome = json.loads(sold.stdout)
        assert outcome["fiscal"]["fd"] and not outcome["printed"] and outcome["reprintPending"]

        owed = _register("reprint", "--config", config)
        assert owed.returncode == 1 and "still owed" in owed.stderr  # still out of paper

        assert _register("emulate", "control", control, "clear", "printer").returncode == 0
        reprinted = _register("reprint", "--config", config)
        assert reprinted.returncode == 0, reprinted.stderr
        assert f"sale {outcome['saleId']}: printed" in reprinted.stdout
        receipts = sorted((tmp_path / "printer").glob("*.txt"))
        assert str(outcome["fiscal"]["fp"]) in receipts[-1].read_text(encoding="utf-8")

        refused = _register("emulate", "control", control, "fault", "toaster", "on")
        assert refused.returncode == 1 and "no device 'toaster'" in refused.stdout + refused.stderr
    finally:
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(timeout=30) == 0
