"""Calculations that outlive their lifetime (a register whose calculate timed out never cancels) are
released as EXPIRED, by the sweep or, before it runs, by confirm and cheque-link themselves.

A calculation is made old by moving its created_at back in the database: no test waits for a clock.
"""

from __future__ import annotations

from sqlalchemy import update

from register.backend.database import Database
from register.backend.expiry import ExpirySweeper
from register.backend.schema import purchases
from register.backend.settings import BackendSettings
from tests.backend.support import CARD_ANNA, LabClient, lab_backend, new_id, wait_until

LONG_AGO = "2000-01-01T00:00:00.000000+00:00"
EXPIRED_CODE = "PURCHASE_EXPIRED"


def _age(db_url: str, purchase_id: str) -> None:
    db = Database(db_url)
    try:
        with db.write() as conn:
            conn.execute(update(purchases).where(purchases.c.id == purchase_id).values(created_at=LONG_AGO))
    finally:
        db.dispose()


def _status(lab: LabClient, purchase_id: str) -> str:
    return next(item["status"] for item in lab.staff_history(CARD_ANNA) if item["id"] == purchase_id)


def test_the_sweep_expires_an_old_calculation_and_leaves_confirmed_ones(seeded_db_url: str) -> None:
    with lab_backend(seeded_db_url, None, calculation_lifetime_seconds=600, expiry_sweep_seconds=0.05) as lab:
        stale = lab.calculate(CARD_ANNA)["purchaseId"]
        fresh = lab.calculate(CARD_ANNA)["purchaseId"]
        confirmed, _ = lab.sale(CARD_ANNA)
        _age(lab.db_url, stale)
        _age(lab.db_url, confirmed)

        wait_until(lambda: _status(lab, stale) == "EXPIRED", "the old calculation is swept")

        assert _status(lab, fresh) == "CALCULATED"
        assert _status(lab, confirmed) == "CONFIRMED"
        refused = lab.post("confirm", {"requestId": new_id(), "purchaseId": stale, "fiscal": lab.fiscal()})
        assert refused.status_code == 409
        assert refused.json()["errorCode"] == EXPIRED_CODE
        assert "устарел" in refused.json()["message"]
        cancel = lab.ok("cancel", {"requestId": new_id(), "purchaseId": stale})
        assert cancel == {"purchaseId": stale, "status": "EXPIRED"}
        member = lab.http.get("/member/v1/history", headers=lab.member_headers(CARD_ANNA)).json()["items"]
        assert stale not in [item["id"] for item in member]  # it never became a receipt
        lab.confirm(fresh, lab.fiscal())  # within its lifetime: confirmed as usual
        assert _status(lab, fresh) == "CONFIRMED"


def test_confirm_and_cheque_link_refuse_an_old_calculation_before_the_sweep(seeded_db_url: str) -> None:
    with lab_backend(seeded_db_url, None, calculation_lifetime_seconds=600, expiry_sweep_seconds=3600) as lab:
        purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
        _age(lab.db_url, purchase_id)
        fiscal = lab.fiscal()
        confirm = {"requestId": new_id(), "purchaseId": purchase_id, "fiscal": fiscal}

        first = lab.post("confirm", confirm)
        again = lab.post("confirm", confirm)  # the same requestId: the same refusal
        link = lab.post(
            "cheque-link",
            {
                "requestId": new_id(),
                "purchaseId": purchase_id,
                "fiscal": fiscal,
                "url": "https://check.ofd.lab/r/late",
                "qr": "t=20260115T1432&s=355.81&fn=9999078900004312&i=1&n=1",
            },
        )

        assert (first.status_code, first.json()["errorCode"]) == (409, EXPIRED_CODE)
        assert again.json() == first.json()
        assert (link.status_code, link.json()["errorCode"]) == (409, EXPIRED_CODE)
        assert _status(lab, purchase_id) == "CALCULATED"  # not swept yet, yet refused
        assert lab.settled_messages() == []
        # The register then uploads the receipt as an offline purchase: recorded, points accrued.
        batch = lab.ok(
            "offline-batch",
            {
                "requestId": new_id(),
                "requests": [{"type": "purchase", **lab.cheque(CARD_ANNA), "fiscal": fiscal}],
            },
        )
        assert batch["results"][0]["status"] == 200
        assert batch["results"][0]["body"]["status"] == "CONFIRMED"


def test_a_calculation_within_its_lifetime_is_never_swept(seeded_db_url: str) -> None:
    with lab_backend(seeded_db_url, None, calculation_lifetime_seconds=600, expiry_sweep_seconds=3600) as lab:
        purchase_id = lab.calculate(CARD_ANNA)["purchaseId"]
        backend_db = Database(lab.db_url)
        try:
            settings = BackendSettings(db_url=lab.db_url, calculation_lifetime_seconds=600)
            sweeper = ExpirySweeper(backend_db, settings)
            assert sweeper.sweep() == 0
            _age(lab.db_url, purchase_id)
            assert sweeper.sweep() == 1
            assert sweeper.sweep() == 0
        finally:
            backend_db.dispose()
        assert _status(lab, purchase_id) == "EXPIRED"
