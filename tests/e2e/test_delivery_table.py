"""Every row of DESIGN.md's delivery table, end to end: real backend, real emulators, real SMTP."""

from __future__ import annotations

import pytest

from register.domain.decision import BuyerAnswer
from register.fiscal.tlv import iter_tlv
from register.sale import Identifier, Register, SaleError, SaleOutcome, SaleRequest

from .conftest import LabClient

ANNA = "anna@example.ru"


def sell(register: Register, card: str | None = None, buyer: BuyerAnswer | None = None) -> SaleOutcome:
    config = register.config
    lines = (config.catalogue.scan("4600000000011x2"), config.catalogue.scan("2000000000015x0.734"))
    identifier = Identifier("CardNumber", card) if card else None
    outcome = register.sell(SaleRequest(lines=lines, identifier=identifier, buyer=buyer))
    register.drain_ofd()
    return outcome


def tag_1008(register: Register, outcome: SaleOutcome) -> str | None:
    assert outcome.stamp is not None
    _form, tlv = register.fn.document_tlv(outcome.stamp.fd)
    values = [v for tag, v in iter_tlv(tlv) if tag == 1008]
    return values[0].decode("cp866") if values else None


def test_refused_paper_loyalty_mode_is_not_printed_and_arrives_in_one_email(
    lab: LabClient, register: Register
) -> None:
    printed_before = len(lab.printed())
    outcome = sell(register, "7000000000001")

    assert not outcome.printed and not outcome.decision.print_paper
    assert outcome.decision.reason == "refused-paper-loyalty"
    assert tag_1008(register, outcome) == ANNA
    assert len(lab.printed()) == printed_before
    assert outcome.link is not None
    mails = lab.mails_with(outcome.link, expect=1)
    assert len(mails) == 1  # the backend's, and not the OFD's too
    assert mails[0]["To"] == ANNA
    member_history = lab.http.get("/member/v1/history", headers=lab.member_token("7000000000001")).json()
    assert outcome.link in [link["url"] for item in member_history["items"] for link in item["links"]]
    crm = lab.crm_history("7000000000001")
    assert outcome.link in [link["url"] for item in crm for link in item["links"]]
    journal = register.journal.sale(outcome.sale_id).data
    assert journal["decision"]["reason"] == "refused-paper-loyalty"
    assert journal["delivery"] == {
        "printed": False,
        "reprintPending": False,
        "repeat": False,
        "suppressed": True,
        "sender": "loyalty",
        "link": outcome.link,
    }


def test_refused_paper_with_a_phone_gets_one_sms(lab: LabClient, register: Register) -> None:
    outcome = sell(register, "7000000000002")
    assert not outcome.printed
    assert tag_1008(register, outcome) == "+79001234502"
    assert outcome.link is not None
    sent = [m for m in lab.settled_messages("7000000000002", outcome.link) if m["status"] == "sent"]
    assert [m["channel"] for m in sent] == ["sms"]
    assert lab.mails_with(outcome.link, expect=0, wait=1) == []


def test_mode_ofd_the_ofd_sends_the_only_email(lab: LabClient, register: Register) -> None:
    lab.set_mode("OFD")
    try:
        outcome = sell(register, "7000000000001")
    finally:
        lab.set_mode("LOYALTY")
    assert not outcome.printed
    assert outcome.decision.reason == "refused-paper-ofd"
    assert tag_1008(register, outcome) == ANNA
    mails = lab.mails_with(outcome.link or "?", expect=1)
    assert len(mails) == 1
    assert mails[0]["X-Envelope-From"] == register.config.seller.sender_email  # from 1117: the OFD sent it
    assert not [
        m for m in lab.crm_messages("7000000000001") if m["link"] == outcome.link and m["status"] == "sent"
    ]


def test_refused_paper_without_a_contact_is_printed_with_a_warning(
    lab: LabClient, register: Register
) -> None:
    before = len(lab.printed())
    outcome = sell(register, "7000000000003")
    assert outcome.printed
    assert outcome.decision.reason == "refused-paper-no-contact" and outcome.decision.warning
    assert tag_1008(register, outcome) is None
    assert len(lab.printed()) == before + 1


def test_buyer_agrees_at_the_till_electronic_only_or_both(lab: LabClient, register: Register) -> None:
    before = len(lab.printed())
    only = sell(register, "7000000000004", BuyerAnswer(True, "petr@example.ru"))
    assert not only.printed and tag_1008(register, only) == "petr@example.ru"
    both = sell(register, "7000000000004", BuyerAnswer(True, "petr@example.ru", also_paper=True))
    assert both.printed and tag_1008(register, both) == "petr@example.ru"
    assert len(lab.printed()) == before + 1
    assert len(lab.mails_with(only.link or "?", expect=1)) == 1
    assert len(lab.mails_with(both.link or "?", expect=1)) == 1


def test_buyer_declines_gets_paper_and_no_message(lab: LabClient, register: Register) -> None:
    outcome = sell(register, "7000000000004", BuyerAnswer(False, None))
    assert outcome.printed and outcome.decision.reason == "buyer-declined"
    assert tag_1008(register, outcome) is None
    assert outcome.messages == ()
    assert lab.mails_with(outcome.link or "?", expect=0, wait=1) == []


def test_no_member_is_printed_and_a_contact_goes_through_the_ofd(lab: LabClient, register: Register) -> None:
    plain = sell(register)
    assert plain.printed and plain.decision.reason == "no-member"
    with_contact = sell(register, None, BuyerAnswer(True, "ivan@example.ru"))
    assert with_contact.printed and tag_1008(register, with_contact) == "ivan@example.ru"
    assert len(lab.mails_with(with_contact.link or "?", expect=1)) == 1


def test_blocked_card_sells_without_loyalty(register: Register) -> None:
    outcome = sell(register, "7000000000005")
    assert outcome.printed and outcome.loyalty == "blocked"
    assert outcome.decision.reason == "card-blocked"


def test_member_refuses_paper_in_the_app_and_the_next_sale_is_not_printed(
    lab: LabClient, register: Register
) -> None:
    token = lab.member_token("7000000000004")
    lab.http.put(
        "/member/v1/profile/paper-receipts", json={"refused": True}, headers=token
    ).raise_for_status()
    try:
        outcome = sell(register, "7000000000004")
    finally:
        lab.http.put("/member/v1/profile/paper-receipts", json={"refused": False}, headers=token)
    assert not outcome.printed and outcome.decision.reason == "refused-paper-loyalty"
    assert len(lab.mails_with(outcome.link or "?", expect=1)) == 1


def test_refund_by_qr_follows_the_same_rules_and_is_attached(lab: LabClient, register: Register) -> None:
    sale = sell(register, "7000000000001")
    assert sale.stamp is not None
    refund = register.refund_by(sale.stamp.qr)
    register.drain_ofd()
    assert refund.stamp is not None and not refund.printed
    _form, tlv = register.fn.document_tlv(refund.stamp.fd)
    assert dict(iter_tlv(tlv))[1054] == b"\x02"
    assert len(lab.mails_with(refund.link or "?", expect=1)) == 1
    history = lab.crm_history("7000000000001")
    original = next(item for item in history if item["fiscal"] and item["fiscal"]["fd"] == sale.stamp.fd)
    assert original["refunds"], "the refund is attached to the original purchase"


def test_printer_failing_after_the_fiscal_document_queues_a_reprint(
    lab: LabClient, register: Register
) -> None:
    assert lab.lab.printer is not None
    before = len(lab.printed())
    lab.lab.printer.set_fault("paper-out", after_bytes=200)
    try:
        outcome = sell(register, "7000000000004", BuyerAnswer(False, None))
    finally:
        lab.lab.printer.clear_fault()
    assert outcome.stamp is not None and not outcome.printed and outcome.reprint_pending
    assert any("reprint" in p for p in outcome.problems)
    assert register.reprint(outcome.sale_id)
    printed = lab.printed()[-1].read_text(encoding="utf-8")
    assert len(lab.printed()) == before + 2  # the cut-short one and the reprint
    assert f"{outcome.stamp.fp}" in printed
    assert not register.journal.sale(outcome.sale_id).data["delivery"]["reprintPending"]
    assert register.fn.status().last_fd == outcome.stamp.fd  # a reprint, not a second fiscal document


def test_printer_out_of_paper_before_the_sale_makes_no_fiscal_document(
    lab: LabClient, register: Register
) -> None:
    assert lab.lab.printer is not None
    last_fd = register.fn.status().last_fd
    lab.lab.printer.set_fault("paper-out")
    try:
        with pytest.raises(SaleError, match="printer not ready") as refused:
            sell(register, "7000000000004", BuyerAnswer(False, None))
    finally:
        lab.lab.printer.clear_fault()
    assert "no receipt was made" in str(refused.value)
    assert register.fn.status().last_fd == last_fd
    (aborted,) = [s for s in register.journal.sales(limit=1)]
    assert aborted.stage.value == "aborted"
    purchase_id = aborted.data["loyalty"]["purchaseId"]
    statuses = {item["id"]: item["status"] for item in lab.crm_history("7000000000004")}
    assert statuses[purchase_id] == "CANCELLED"


def test_refund_by_fd_number_of_a_paper_sale_is_printed(lab: LabClient, register: Register) -> None:
    sale = sell(register, "7000000000004", BuyerAnswer(False, None))
    assert sale.stamp is not None and sale.receipt is not None
    before = len(lab.printed())
    refund = register.refund_by(str(sale.stamp.fd), buyer=BuyerAnswer(False, None))
    assert refund.printed and refund.receipt is not None
    assert refund.receipt.total == sale.receipt.total
    assert refund.stamp is not None and refund.stamp.qr.endswith("&n=2")
    assert "ВОЗВРАТ ПРИХОДА" in lab.printed()[-1].read_text(encoding="utf-8")
    assert len(lab.printed()) == before + 1
    with pytest.raises(SaleError, match="is a refund"):
        register.refund_by(str(refund.stamp.fd))


def test_member_agrees_at_the_till_to_their_own_contact_gets_one_email(
    lab: LabClient, register: Register
) -> None:
    """Mode LOYALTY, a member who kept paper takes the e-receipt to their confirmed e-mail: the backend
    sends it (with the link in the history), and the OFD does not send it a second time."""
    gleb = "gleb@example.ru"  # 7000000000004's confirmed e-mail (lab seed)
    outcome = sell(register, "7000000000004", BuyerAnswer(True, gleb))
    assert not outcome.printed and outcome.decision.sender == "loyalty"
    assert tag_1008(register, outcome) == gleb
    mails = lab.mails_with(outcome.link or "?", expect=1)
    assert [m["To"] for m in mails] == [gleb]
    history = lab.crm_history("7000000000004")
    assert outcome.link in [link["url"] for item in history for link in item["links"]]
