"""The delivery decision against the DESIGN.md table, the loyalty protocol and 54-FZ (ffd-receipt.md §8)."""

import json
from collections.abc import Callable
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.domain import Operation, is_customer_contact
from register.domain.decision import (
    BuyerAnswer,
    Decision,
    DeliveryDecisionError,
    DeliveryMode,
    LoyaltyState,
    Reason,
    Sender,
    decide,
)

ANNA = "anna@example.ru"
PHONE = "+79161234567"
TILL_EMAIL = "ivan.petrov@mail.ru"
BAD_CONTACTS = ("anna@localhost", "89161234567", "+7916123456", "anna example.ru", "")

SALE = Operation.SALE
REFUNDS = (Operation.SALE_RETURN, Operation.EXPENSE_RETURN)

NOT_ASKED = None
DECLINES = BuyerAnswer(wants_electronic=False, contact=None)


def refused(mode: DeliveryMode, notifier: str | None = ANNA) -> LoyaltyState:
    return LoyaltyState.member(paper_refused=True, mode=mode, notifier=notifier)


def not_refused(mode: DeliveryMode = DeliveryMode.LOYALTY, notifier: str | None = ANNA) -> LoyaltyState:
    return LoyaltyState.member(paper_refused=False, mode=mode, notifier=notifier)


def electronic(contact: str | None, *, also_paper: bool = False) -> BuyerAnswer:
    return BuyerAnswer(wants_electronic=True, contact=contact, also_paper=also_paper)


# --- one test per row of the DESIGN.md table ---------------------------------------------------------


def test_refused_paper_with_notifier_in_loyalty_mode_is_not_printed_and_loyalty_sends() -> None:
    assert decide(refused(DeliveryMode.LOYALTY), NOT_ASKED, operation=SALE) == Decision(
        print_paper=False,
        customer_contact=ANNA,
        sender=Sender.LOYALTY,
        send_link_to_loyalty=True,
        drop_cheque_messages=True,
        queue_offline=False,
        ask_buyer=False,
        reason=Reason.REFUSED_PAPER_LOYALTY,
        cashier_message="Бумажный чек не печатается: эл. чек на anna@example.ru",
        warning=False,
    )


def test_refused_paper_with_notifier_in_ofd_mode_is_not_printed_and_the_ofd_sends() -> None:
    decision = decide(refused(DeliveryMode.OFD, notifier=PHONE), NOT_ASKED, operation=SALE)

    assert decision == Decision(
        print_paper=False,
        customer_contact=PHONE,
        sender=Sender.OFD,
        send_link_to_loyalty=True,  # the link is stored in the member's history in both modes
        drop_cheque_messages=True,
        queue_offline=False,
        ask_buyer=False,
        reason=Reason.REFUSED_PAPER_OFD,
        cashier_message="Бумажный чек не печатается: эл. чек на +79161234567",
        warning=False,
    )


@pytest.mark.parametrize("mode", list(DeliveryMode))
@pytest.mark.parametrize("notifier", [None, *BAD_CONTACTS])
def test_refused_paper_without_a_valid_notifier_prints_with_a_warning(
    mode: DeliveryMode, notifier: str | None
) -> None:
    decision = decide(refused(mode, notifier=notifier), NOT_ASKED, operation=SALE)

    assert decision == Decision(
        print_paper=True,
        customer_contact=None,
        sender=Sender.NONE,
        send_link_to_loyalty=False,
        drop_cheque_messages=True,
        queue_offline=False,
        ask_buyer=True,  # the cashier may still get a contact at the till
        reason=Reason.REFUSED_PAPER_NO_CONTACT,
        cashier_message="Нет контакта для эл. чека: чек напечатан",
        warning=True,
    )


@pytest.mark.parametrize("mode", list(DeliveryMode))
def test_refused_paper_without_notifier_but_a_contact_at_the_till_goes_electronic(mode: DeliveryMode) -> None:
    decision = decide(refused(mode, notifier=None), electronic(TILL_EMAIL), operation=SALE)

    assert not decision.print_paper
    assert decision.customer_contact == TILL_EMAIL
    assert decision.sender is Sender.OFD  # the backend can send only to the member's confirmed contact
    assert decision.reason is Reason.BUYER_ELECTRONIC_ONLY
    assert decision.drop_cheque_messages
    assert not decision.warning


def test_refused_paper_without_notifier_and_a_bad_contact_at_the_till_prints() -> None:
    decision = decide(refused(DeliveryMode.OFD, notifier=None), electronic("ivan@mail"), operation=SALE)

    assert decision.print_paper
    assert decision.customer_contact is None
    assert decision.sender is Sender.NONE
    assert decision.reason is Reason.REFUSED_PAPER_NO_CONTACT
    assert decision.warning
    assert "ivan@mail" in decision.cashier_message


@pytest.mark.parametrize(
    "buyer", [DECLINES, electronic(TILL_EMAIL, also_paper=True), electronic(None), electronic("bad")]
)
def test_a_refusal_with_a_valid_notifier_is_not_overridden_at_the_till(buyer: BuyerAnswer) -> None:
    decision = decide(refused(DeliveryMode.LOYALTY), buyer, operation=SALE)

    assert not decision.print_paper
    assert decision.customer_contact == ANNA
    assert decision.reason is Reason.REFUSED_PAPER_LOYALTY


@pytest.mark.parametrize(
    ("mode", "contact", "sender", "link"),
    [
        (DeliveryMode.LOYALTY, ANNA, Sender.LOYALTY, True),  # the member's own confirmed contact
        (DeliveryMode.OFD, ANNA, Sender.OFD, True),
        # another contact: only the OFD can send to it, and no link makes the backend message the member
        (DeliveryMode.LOYALTY, TILL_EMAIL, Sender.OFD, False),
        (DeliveryMode.OFD, TILL_EMAIL, Sender.OFD, True),
    ],
)
def test_member_who_did_not_refuse_and_wants_only_an_e_receipt_is_not_printed(
    mode: DeliveryMode, contact: str, sender: Sender, link: bool
) -> None:
    decision = decide(not_refused(mode), electronic(contact), operation=SALE)

    assert decision == Decision(
        print_paper=False,
        customer_contact=contact,
        sender=sender,
        send_link_to_loyalty=link,
        drop_cheque_messages=False,
        queue_offline=False,
        ask_buyer=False,
        reason=Reason.BUYER_ELECTRONIC_ONLY,
        cashier_message=f"Бумажный чек не печатается: эл. чек на {contact}",
        warning=False,
    )


def test_member_who_did_not_refuse_and_confirms_the_notifier_for_both_gets_paper_and_e_receipt() -> None:
    decision = decide(not_refused(DeliveryMode.OFD), electronic(ANNA, also_paper=True), operation=SALE)

    assert decision.print_paper
    assert decision.customer_contact == ANNA
    assert decision.sender is Sender.OFD
    assert decision.reason is Reason.BUYER_ELECTRONIC_AND_PAPER
    assert not decision.drop_cheque_messages
    assert not decision.warning


@pytest.mark.parametrize("contact", [None, *BAD_CONTACTS])
def test_member_who_wants_an_e_receipt_without_a_valid_contact_gets_paper(contact: str | None) -> None:
    decision = decide(not_refused(), electronic(contact), operation=SALE)

    assert decision.print_paper
    assert decision.customer_contact is None
    assert decision.sender is Sender.NONE
    assert decision.reason is Reason.BUYER_NO_VALID_CONTACT
    assert decision.warning


def test_member_who_did_not_refuse_declines_the_e_receipt_and_gets_paper_only() -> None:
    decision = decide(not_refused(), DECLINES, operation=SALE)

    assert decision == Decision(
        print_paper=True,
        customer_contact=None,
        sender=Sender.NONE,
        send_link_to_loyalty=False,
        drop_cheque_messages=False,
        queue_offline=False,
        ask_buyer=False,
        reason=Reason.BUYER_DECLINED,
        cashier_message="Покупатель отказался от эл. чека: чек напечатан",
        warning=False,
    )


def test_member_who_did_not_refuse_is_asked_and_paper_stays_the_default_meanwhile() -> None:
    decision = decide(not_refused(), NOT_ASKED, operation=SALE)

    assert decision.ask_buyer
    assert decision.print_paper
    assert decision.customer_contact is None
    assert decision.reason is Reason.BUYER_NOT_ASKED


@pytest.mark.parametrize(
    ("loyalty", "reason", "queued", "warned"),
    [
        (LoyaltyState.no_member(), Reason.NO_MEMBER, False, False),
        (LoyaltyState.offline(), Reason.LOYALTY_OFFLINE, True, True),
        (LoyaltyState.card_blocked(), Reason.CARD_BLOCKED, False, True),
    ],
)
def test_without_loyalty_paper_is_printed_and_the_cashier_is_asked(
    loyalty: LoyaltyState, reason: Reason, queued: bool, warned: bool
) -> None:
    decision = decide(loyalty, NOT_ASKED, operation=SALE)

    assert decision.print_paper
    assert decision.customer_contact is None
    assert decision.sender is Sender.NONE
    assert not decision.send_link_to_loyalty
    assert not decision.drop_cheque_messages
    assert decision.queue_offline is queued
    assert decision.ask_buyer
    assert decision.reason is reason
    assert decision.warning is warned


@pytest.mark.parametrize(
    "loyalty", [LoyaltyState.no_member(), LoyaltyState.offline(), LoyaltyState.card_blocked()]
)
@pytest.mark.parametrize("also_paper", [False, True])
def test_without_loyalty_a_contact_at_the_till_goes_in_1008_and_the_ofd_sends(
    loyalty: LoyaltyState, also_paper: bool
) -> None:
    decision = decide(loyalty, electronic(PHONE, also_paper=also_paper), operation=SALE)

    assert decision.print_paper  # the table: paper is printed whenever there is no member
    assert decision.customer_contact == PHONE
    assert decision.sender is Sender.OFD
    assert not decision.send_link_to_loyalty
    assert not decision.ask_buyer


def test_loyalty_offline_tells_the_cashier() -> None:
    decision = decide(LoyaltyState.offline(), DECLINES, operation=SALE)

    assert decision.cashier_message.startswith("Программа лояльности недоступна")
    assert decision.queue_offline


@pytest.mark.parametrize(
    "loyalty", [LoyaltyState.no_member(), LoyaltyState.offline(), LoyaltyState.card_blocked()]
)
def test_without_loyalty_a_bad_contact_at_the_till_warns_and_prints(loyalty: LoyaltyState) -> None:
    decision = decide(loyalty, electronic("+7 916 123-45-67"), operation=SALE)

    assert decision.print_paper
    assert decision.customer_contact is None
    assert decision.warning
    assert "+7 916 123-45-67" in decision.cashier_message


ROWS = [
    (refused(DeliveryMode.LOYALTY), NOT_ASKED),
    (refused(DeliveryMode.OFD), NOT_ASKED),
    (refused(DeliveryMode.LOYALTY, notifier=None), NOT_ASKED),
    (refused(DeliveryMode.OFD, notifier=None), electronic(PHONE)),
    (not_refused(DeliveryMode.LOYALTY), electronic(ANNA)),
    (not_refused(DeliveryMode.OFD), electronic(ANNA, also_paper=True)),
    (not_refused(), DECLINES),
    (not_refused(), NOT_ASKED),
    (LoyaltyState.no_member(), electronic(ANNA)),
    (LoyaltyState.offline(), NOT_ASKED),
    (LoyaltyState.card_blocked(), DECLINES),
]


@pytest.mark.parametrize("refund", REFUNDS)
@pytest.mark.parametrize(("loyalty", "buyer"), ROWS)
def test_a_refund_is_decided_by_the_same_rules_as_a_sale(
    refund: Operation, loyalty: LoyaltyState, buyer: BuyerAnswer | None
) -> None:
    assert decide(loyalty, buyer, operation=refund) == decide(loyalty, buyer, operation=SALE)


def test_a_refund_for_a_member_who_refused_paper_is_not_printed() -> None:
    decision = decide(refused(DeliveryMode.LOYALTY), NOT_ASKED, operation=Operation.SALE_RETURN)

    assert not decision.print_paper
    assert decision.customer_contact == ANNA
    assert decision.sender is Sender.LOYALTY


# --- the journal --------------------------------------------------------------------------------------


def test_the_journal_entry_holds_every_field_as_plain_json() -> None:
    decision = decide(refused(DeliveryMode.OFD), NOT_ASKED, operation=SALE)

    entry = decision.as_journal()

    assert json.loads(json.dumps(entry, ensure_ascii=False)) == {
        "print_paper": False,
        "customer_contact": ANNA,
        "sender": "ofd",
        "send_link_to_loyalty": True,
        "drop_cheque_messages": True,
        "queue_offline": False,
        "ask_buyer": False,
        "reason": "refused-paper-ofd",
        "cashier_message": "Бумажный чек не печатается: эл. чек на anna@example.ru",
        "warning": False,
    }
    assert type(entry["sender"]) is str
    assert type(entry["reason"]) is str


# --- inputs that contradict themselves ----------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: LoyaltyState(True, True, True, None, ANNA),  # a member without a mode
        lambda: LoyaltyState(False, True, False, DeliveryMode.OFD, None),  # offline yet identified
        lambda: LoyaltyState(False, False, False, None, None, blocked=True),  # offline yet blocked
        lambda: LoyaltyState(True, True, False, DeliveryMode.OFD, None, blocked=True),  # blocked member
        lambda: LoyaltyState(True, False, True, None, None),  # refusal without a member
        lambda: LoyaltyState(True, False, False, None, ANNA),  # notifier without a member
        lambda: LoyaltyState(True, False, False, DeliveryMode.OFD, None),  # mode without a member
        lambda: LoyaltyState(True, True, False, "EMAIL", None),  # no such mode
        lambda: LoyaltyState(1, False, False, None, None),  # not a bool
        lambda: LoyaltyState(True, True, False, DeliveryMode.OFD, 79161234567),  # notifier not text
    ],
)
def test_a_contradictory_loyalty_state_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(DeliveryDecisionError, match="loyalty state"):
        build()


def test_the_mode_may_be_given_as_its_protocol_name() -> None:
    state = LoyaltyState(True, True, False, "OFD", None)

    assert state.mode is DeliveryMode.OFD


@pytest.mark.parametrize(
    "build",
    [
        lambda: BuyerAnswer(wants_electronic=False, contact=ANNA),
        lambda: BuyerAnswer(wants_electronic=False, contact=None, also_paper=True),
        lambda: BuyerAnswer(wants_electronic="yes", contact=ANNA),
        lambda: BuyerAnswer(wants_electronic=True, contact=79161234567),
    ],
)
def test_a_contradictory_buyer_answer_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(DeliveryDecisionError, match="buyer answer"):
        build()


def test_decide_wants_an_operation_value() -> None:
    with pytest.raises(DeliveryDecisionError, match=r"operation \(1054\)"):
        decide(LoyaltyState.no_member(), None, operation=1)  # type: ignore[arg-type]


def test_decision_errors_are_value_errors() -> None:
    assert issubclass(DeliveryDecisionError, ValueError)


def _decision(**changes: object) -> Decision:
    values: dict[str, object] = {
        "print_paper": True,
        "customer_contact": None,
        "sender": Sender.NONE,
        "send_link_to_loyalty": False,
        "drop_cheque_messages": False,
        "queue_offline": False,
        "ask_buyer": False,
        "reason": Reason.NO_MEMBER,
        "cashier_message": "",
        "warning": False,
    }
    return Decision(**(values | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"print_paper": False},  # suppressed with nobody to send it
        {"customer_contact": ANNA},  # a contact in 1008 that nobody sends to
        {"sender": Sender.OFD},  # a sender with no 1008
        {"customer_contact": "anna@localhost", "sender": Sender.OFD},  # not a 1008 contact
        {"send_link_to_loyalty": True, "queue_offline": True},
        {"sender": "email"},
        {"reason": "because"},
        {"warning": "no"},
    ],
)
def test_a_decision_that_breaks_the_law_cannot_be_made(changes: dict[str, object]) -> None:
    with pytest.raises(DeliveryDecisionError, match="decision"):
        _decision(**changes)


# --- properties over all inputs -----------------------------------------------------------------------

contacts = st.one_of(
    st.none(),
    st.sampled_from([ANNA, PHONE, TILL_EMAIL, *BAD_CONTACTS]),
    st.from_regex(r"\+7[0-9]{10}", fullmatch=True),
    st.text(max_size=70),
)


@st.composite
def loyalty_states(draw: st.DrawFn) -> LoyaltyState:
    kind = draw(st.sampled_from(["offline", "no-member", "blocked", "member"]))
    if kind == "offline":
        return LoyaltyState.offline()
    if kind == "no-member":
        return LoyaltyState.no_member()
    if kind == "blocked":
        return LoyaltyState.card_blocked()
    return LoyaltyState.member(
        paper_refused=draw(st.booleans()), mode=draw(st.sampled_from(DeliveryMode)), notifier=draw(contacts)
    )


buyer_answers = st.one_of(
    st.none(),
    st.just(DECLINES),
    st.builds(BuyerAnswer, wants_electronic=st.just(True), contact=contacts, also_paper=st.booleans()),
)
operations = st.sampled_from(Operation)


@given(loyalty_states(), buyer_answers, operations)
def test_paper_is_suppressed_only_for_a_valid_1008_contact_that_someone_sends_to(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(loyalty, buyer, operation=operation)

    if not decision.print_paper:
        assert decision.customer_contact is not None
        assert is_customer_contact(decision.customer_contact)
        assert decision.sender is not Sender.NONE


@given(st.sampled_from(DeliveryMode), st.sampled_from([ANNA, PHONE, TILL_EMAIL]), buyer_answers, operations)
def test_a_member_who_refused_paper_with_a_valid_notifier_is_never_printed(
    mode: DeliveryMode, notifier: str, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(refused(mode, notifier=notifier), buyer, operation=operation)

    assert not decision.print_paper
    assert decision.customer_contact == notifier


@given(buyer_answers, operations)
def test_loyalty_unreachable_always_prints_and_queues(
    buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(LoyaltyState.offline(), buyer, operation=operation)

    assert decision.print_paper
    assert decision.queue_offline
    assert not decision.send_link_to_loyalty


@given(loyalty_states(), buyer_answers, operations)
def test_offer_texts_are_dropped_only_for_a_member_who_refused_paper(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(loyalty, buyer, operation=operation)

    if decision.drop_cheque_messages:
        assert loyalty.paper_refused


@given(loyalty_states(), buyer_answers, operations)
def test_tag_1008_is_empty_or_the_notifier_or_the_buyers_valid_contact(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    contact = decide(loyalty, buyer, operation=operation).customer_contact

    if contact is not None:
        assert is_customer_contact(contact)
        assert contact in (loyalty.notifier, buyer.contact if buyer else None)


@given(loyalty_states(), buyer_answers, operations)
def test_the_link_goes_to_loyalty_exactly_when_a_member_gets_an_e_receipt_from_its_sender(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(loyalty, buyer, operation=operation)

    assert decision.send_link_to_loyalty is (
        loyalty.member_identified
        and decision.customer_contact is not None
        and (decision.sender is Sender.LOYALTY or loyalty.mode is DeliveryMode.OFD)
    )
    assert decision.queue_offline is not loyalty.reachable


@given(loyalty_states(), operations)
def test_the_cashier_is_asked_unless_the_member_refused_paper(
    loyalty: LoyaltyState, operation: Operation
) -> None:
    refused_with_contact = loyalty.paper_refused and loyalty.has_valid_notifier
    assert decide(loyalty, None, operation=operation).ask_buyer is not refused_with_contact


@given(loyalty_states(), buyer_answers)
def test_an_answered_buyer_is_not_asked_again(loyalty: LoyaltyState, buyer: BuyerAnswer | None) -> None:
    if buyer is not None:
        assert not decide(loyalty, buyer, operation=SALE).ask_buyer


@given(loyalty_states(), buyer_answers)
def test_without_an_identified_member_paper_is_always_printed(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None
) -> None:
    if not loyalty.member_identified:
        assert decide(loyalty, buyer, operation=SALE).print_paper


@given(loyalty_states(), buyer_answers, st.sampled_from(REFUNDS))
def test_refunds_are_decided_like_sales(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, refund: Operation
) -> None:
    assert decide(loyalty, buyer, operation=refund) == decide(loyalty, buyer, operation=SALE)


@given(loyalty_states(), buyer_answers, operations)
def test_every_decision_journals_as_json_with_every_field(
    loyalty: LoyaltyState, buyer: BuyerAnswer | None, operation: Operation
) -> None:
    decision = decide(loyalty, buyer, operation=operation)

    entry = json.loads(json.dumps(decision.as_journal(), ensure_ascii=False))

    assert set(entry) == {field.name for field in fields(Decision)}
    assert entry["print_paper"] is decision.print_paper
    assert entry["reason"] == decision.reason.value
    assert Reason(entry["reason"]) is decision.reason
