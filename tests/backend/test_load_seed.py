"""The benchmark's shop (``seed_load``): registers that authenticate, members of each kind."""

from __future__ import annotations

import httpx

from register.backend.database import Database
from register.backend.seed import load_cards, seed_load
from tests.backend.support import card, lab_backend


def test_the_load_shop_has_its_registers_and_members_of_each_kind(seeded_db_url: str) -> None:
    db = Database(seeded_db_url)
    try:
        with db.write() as conn:
            registers = seed_load(conn, 2, 3)
    finally:
        db.dispose()
    assert registers == [("LOAD-01", "lab"), ("LOAD-02", "lab")]
    with lab_backend(seeded_db_url, None) as lab:
        answers = []
        for number in load_cards(3):
            body = lab.cheque(None, identifier=card(number))
            answer = httpx.post(f"{lab.base_url}/pos/v1/calculate", json=body, auth=registers[1], timeout=30)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json()["electronicCheque"])
    assert [(a["paperRefused"], (a["notifier"] or {}).get("kind")) for a in answers] == [
        (True, "email"),
        (True, "phone"),
        (False, "email"),
    ]
