"""The embedded lab in this process (every party on its real channel) and a register driving it."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import pytest

from register.config import RegisterConfig
from register.lab.launcher import Lab, LabAddresses
from register.sale import Register


class LabClient:
    """What a tester reads off the lab: mail, printed receipts, the backend's APIs."""

    def __init__(self, lab: Lab, addresses: LabAddresses) -> None:
        self.lab = lab
        self.addresses = addresses
        self.http = httpx.Client(base_url=addresses.loyalty, timeout=10)
        token = self.http.post("/crm/v1/login", json={"login": "crm", "password": "lab"}).json()["token"]
        self.staff = {"Authorization": f"Bearer {token}"}

    @property
    def data(self) -> Path:
        return self.lab.data_dir

    def mails(self) -> list[Message]:
        return [email.message_from_bytes(p.read_bytes()) for p in sorted((self.data / "mail").glob("*.eml"))]

    def mails_with(self, needle: str, *, expect: int, wait: float = 10.0) -> list[Message]:
        """Mails whose text contains ``needle``: waits up to ``wait`` s for ``expect`` of them, then a little
        longer, so that a second (wrong) one would have time to arrive too."""
        deadline = time.monotonic() + wait
        found: list[Message] = []
        while time.monotonic() < deadline:
            found = [m for m in self.mails() if needle in _text(m)]
            if len(found) >= expect:
                break
            time.sleep(0.05)
        time.sleep(0.5)
        return [m for m in self.mails() if needle in _text(m)]

    def printed(self) -> list[Path]:
        return sorted((self.data / "printer").glob("*.txt"))

    def member_token(self, card: str) -> dict[str, str]:
        answer = self.http.post("/member/v1/login", json={"card": card, "code": "0000"})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def member_id(self, card: str) -> str:
        items = self.http.get("/crm/v1/members", params={"query": card}, headers=self.staff).json()["items"]
        return items[0]["id"]

    def crm_history(self, card: str) -> list[dict]:
        member = self.member_id(card)
        return self.http.get(f"/crm/v1/members/{member}/history", headers=self.staff).json()["items"]

    def crm_messages(self, card: str) -> list[dict]:
        member = self.member_id(card)
        return self.http.get("/crm/v1/messages", params={"memberId": member}, headers=self.staff).json()[
            "items"
        ]

    def set_mode(self, mode: str) -> None:
        current = self.http.get("/crm/v1/settings", headers=self.staff).json()
        answer = self.http.put("/crm/v1/settings", json={**current, "deliveryMode": mode}, headers=self.staff)
        answer.raise_for_status()


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    out = []
    for part in parts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
    return "\n".join(out)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabClient]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    addresses = lab.start()
    client = LabClient(lab, addresses)
    try:
        yield client
    finally:
        client.http.close()
        lab.stop()


@pytest.fixture(scope="module")
def register(lab: LabClient) -> Iterator[Register]:
    config = RegisterConfig.load(lab.addresses.config)
    with Register.open(config) as reg:
        reg.ensure_shift()
        yield reg
