"""One receipt-link template for the register and the OFD emulator: ``Lab(link_template=…)``,
``register lab --link-template`` and ``register ofd serve --link-template``.

The lab writes the template into register.toml, the register builds its links by it, and the emulator's
HTTP server serves exactly those links (a named template's real OFD host stands for the emulator: the
path and query are what it matches); a document it has not received is "receipt not found".
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from register.config import RegisterConfig
from register.fiscal.ofd_client import OfdClient
from register.lab.launcher import Lab
from register.lab.ofd_pages import NOT_FOUND_TITLE
from register.sale import Register, SaleOutcome, SaleRequest
from tests.lab.test_ofd_server import FN, message, receipt_document

REGISTER = [sys.executable, "-m", "register"]
DEADLINE = 30.0
LAB_INN = "7701234560"  # config.LAB_SELLER
LAB_RNM = "0000000001012345"  # config.LAB_KKT


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def lab_with(tmp_path: Path) -> Iterator[Callable[[str], tuple[Lab, Register]]]:
    """Start a lab with a link template and a register on its config (both stopped after the test)."""
    with ExitStack() as stack:

        def start(template: str) -> tuple[Lab, Register]:
            lab = Lab(tmp_path / "lab", link_template=template)
            addresses = stack.enter_context(lab)
            register = stack.enter_context(Register.open(RegisterConfig.load(addresses.config)))
            register.ensure_shift()
            return lab, register

        yield start


def _sell(register: Register) -> SaleOutcome:
    outcome = register.sell(SaleRequest(lines=(register.config.catalogue.scan("4600000000011x2"),)))
    register.drain_ofd()
    assert outcome.stamp is not None and outcome.link is not None
    return outcome


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("taxcom", "https://receipt.taxcom.ru/v01/show?fp={fp}&fn={fn}&fd={fd}"),
        ("check.ofd.ru", f"https://check.ofd.ru/rec/{LAB_INN}/{LAB_RNM}/{{fn}}/{{fd}}/{{fp}}"),
        ("http://{http}/receipt/{fn}-{fd}?sign={fp}", "{ofd}/receipt/{fn}-{fd}?sign={fp}"),
    ],
    ids=["taxcom", "check.ofd.ru", "custom"],
)
def test_the_register_builds_links_the_lab_ofd_serves(
    lab_with: Callable[[str], tuple[Lab, Register]], template: str, expected: str
) -> None:
    lab, register = lab_with(template)
    assert lab.addresses is not None
    config_text = lab.addresses.config.read_text(encoding="utf-8")
    assert f"link_template = {_toml(template)}" in config_text
    ofd = lab.addresses.ofd_http

    outcome = _sell(register)

    stamp = outcome.stamp
    assert stamp is not None
    assert outcome.link == expected.format(fn=stamp.fn, fd=stamp.fd, fp=stamp.fp, ofd=ofd)
    page = httpx.get(ofd + _path(outcome.link))
    assert page.status_code == 200
    assert "КАССОВЫЙ ЧЕК" in page.text and f"{stamp.fp}" in page.text
    unknown = expected.format(fn=stamp.fn, fd=stamp.fd + 1000, fp=stamp.fp, ofd=ofd)  # not received
    missing = httpx.get(ofd + _path(unknown))
    assert missing.status_code == 404
    assert NOT_FOUND_TITLE in missing.text
    assert httpx.get(f"{ofd}/rec/{stamp.fn}/{stamp.fd}/{stamp.fp}").status_code == 404  # not the default


def test_an_unknown_template_name_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a known name"):
        Lab(tmp_path / "lab", link_template="no-such-ofd")
    assert not (tmp_path / "lab").exists()


def test_register_lab_link_template_goes_into_the_config(tmp_path: Path) -> None:
    command = [*REGISTER, "lab", "--data", str(tmp_path), "--link-template", "kontur"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as lab:
        try:
            assert lab.stdout is not None
            lines: list[str] = []
            while not (lines and lines[-1].startswith("config: ")):
                line = lab.stdout.readline()
                assert line, f"the lab exited early: {lines}"
                lines.append(line.strip())
            config = RegisterConfig.load(Path(lines[-1].removeprefix("config: ")))
            assert config.ofd.link_template == "kontur"
            assert config.ofd.lab_http is not None and config.ofd.lab_http.startswith("127.0.0.1:")
        finally:
            lab.send_signal(signal.SIGTERM)
            assert lab.wait(timeout=DEADLINE) == 0


def test_register_ofd_serve_serves_the_links_of_its_template(tmp_path: Path) -> None:
    template = "http://{http}/c?fn={fn}&i={fd}&s={fp}"
    command = [*REGISTER, "ofd", "serve", "--data", str(tmp_path / "ofd"), "--link-template", template]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            words = process.stdout.readline().split()
            assert words[:2] == ["ofd:", "tcp"] and words[3] == "http"
            tcp, http = words[2], words[4]
            OfdClient(f"tcp:{tcp}", timeout=DEADLINE).exchange(message(3, receipt_document(3, 7)))

            served = httpx.get(f"{http}/c?fn={FN}&i=3&s=7")
            unknown = httpx.get(f"{http}/c?fn={FN}&i=4&s=7")
            default = httpx.get(f"{http}/rec/{FN}/3/7")

            assert served.status_code == 200 and "КАССОВЫЙ ЧЕК" in served.text
            assert unknown.status_code == 404 and NOT_FOUND_TITLE in unknown.text
            assert default.status_code == 404
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=DEADLINE) == 0
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize(
    ("template", "complaint"),
    [("no-such-ofd", "neither a known name"), ("ofd-ya", "does not name the document")],
)
def test_register_ofd_serve_refuses_a_template_it_cannot_serve(
    tmp_path: Path, template: str, complaint: str
) -> None:
    result = subprocess.run(
        [*REGISTER, "ofd", "serve", "--data", str(tmp_path), "--link-template", template],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode == 2
    assert complaint in result.stderr


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
