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
        assert [line.split(":")[0] for line in lines] == ["fn", "printer", "loyalty", "ofd", "smtp", "config"]

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
