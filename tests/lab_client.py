"""The embedded lab as tests read it: mail in the sink, printed receipts, the backend's APIs.

One client for every suite that runs the whole lab in process (e2e, the TUI, the lab's OFD delivery).
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from register.lab.launcher import Lab, LabAddresses


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

    def mails(self) -> list[EmailMessage]:
        out = []
        for path in sorted((self.data / "mail").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            out.append(message)
        return out

    def mails_with(self, needle: str, *, expect: int, wait: float = 10.0) -> list[EmailMessage]:
        """Mails whose text contains ``needle``: waits up to ``wait`` s for ``expect`` of them, then a little
        longer, so that a second (wrong) one would have time to arrive too."""
        deadline = time.monotonic() + wait
        found: list[EmailMessage] = []
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

    def settled_messages(self, card: str, link: str, *, wait: float = 10.0) -> list[dict]:
        """The member's messages for ``link`` once none is queued or retrying any more (bounded wait):
        the backend sends in the background."""
        deadline = time.monotonic() + wait
        while True:
            found = [m for m in self.crm_messages(card) if m["link"] == link]
            if all(m["status"] in ("sent", "failed") for m in found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def set_mode(self, mode: str) -> None:
        current = self.http.get("/crm/v1/settings", headers=self.staff).json()
        answer = self.http.put("/crm/v1/settings", json={**current, "deliveryMode": mode}, headers=self.staff)
        answer.raise_for_status()


def _text(message: EmailMessage) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    out = []
    for part in parts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
    return "\n".join(out)


@contextmanager
def running_lab(data: Path, **lab_options: Any) -> Iterator[LabClient]:
    """A whole lab under ``data``, started, and a client on it; stopped on exit."""
    lab = Lab(data, **lab_options)
    client = LabClient(lab, lab.start())
    try:
        yield client
    finally:
        client.http.close()
        lab.stop()
