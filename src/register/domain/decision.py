"""The delivery decision: print the receipt, send it electronically, or both.

DESIGN.md "The delivery decision" is the contract.

Law (ffd-receipt.md §8): without a contact in tag 1008 paper is mandatory, and an electronic receipt must
carry 1008. So paper is suppressed only when the member refused paper (or the buyer chose electronic only),
a valid contact goes in 1008 and someone sends the receipt. Refunds follow the same rules as sales.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, TypeVar

from register.domain.receipt import Operation, is_customer_contact


class DeliveryDecisionError(ValueError):
    """An input to the delivery decision that is of the wrong kind or contradicts itself."""


class DeliveryMode(StrEnum):
    """Who delivers a member's e-receipt (electronicCheque.mode, loyalty-protocol.md)."""

    LOYALTY = "LOYALTY"
    OFD = "OFD"


class Sender(StrEnum):
    """Who sends the electronic copy of the receipt."""

    NONE = "none"
    LOYALTY = "loyalty"
    """The register builds the link and sends it with cheque-link; the backend sends the message."""
    OFD = "ofd"
    """The OFD sends the receipt to the contact in tag 1008."""


class Reason(StrEnum):
    """The rule that made the decision: a stable code for the journal."""

    REFUSED_PAPER_LOYALTY = "refused-paper-loyalty"
    REFUSED_PAPER_OFD = "refused-paper-ofd"
    REFUSED_PAPER_NO_CONTACT = "refused-paper-no-contact"
    BUYER_NOT_ASKED = "buyer-not-asked"
    BUYER_ELECTRONIC_ONLY = "buyer-electronic-only"
    BUYER_ELECTRONIC_AND_PAPER = "buyer-electronic-and-paper"
    BUYER_DECLINED = "buyer-declined"
    BUYER_NO_VALID_CONTACT = "buyer-no-valid-contact"
    NO_MEMBER = "no-member"
    LOYALTY_OFFLINE = "loyalty-offline"
    CARD_BLOCKED = "card-blocked"


_Code = TypeVar("_Code", bound=StrEnum)

_DECISION_FLAGS = (
    "print_paper",
    "send_link_to_loyalty",
    "drop_cheque_messages",
    "queue_offline",
    "ask_buyer",
    "warning",
)
_SENDER_OF_MODE = {DeliveryMode.LOYALTY: Sender.LOYALTY, DeliveryMode.OFD: Sender.OFD}
_REFUSED_REASON_OF_MODE = {
    DeliveryMode.LOYALTY: Reason.REFUSED_PAPER_LOYALTY,
    DeliveryMode.OFD: Reason.REFUSED_PAPER_OFD,
}


@dataclass(frozen=True)
class LoyaltyState:
    """What the loyalty backend said about the member, or that it could not say anything.

    The electronicCheque fields (paper_refused, mode, notifier) belong to an identified member only;
    an identified member always comes with a mode. Unreachable (or slower than the timeout) means nothing
    is known; a blocked card means the backend answered CARD_BLOCKED and the sale goes on without loyalty.
    """

    reachable: bool
    member_identified: bool
    paper_refused: bool
    mode: DeliveryMode | None
    notifier: str | None
    """The member's confirmed contact from the backend; it may still fail the 1008 format check."""
    blocked: bool = False

    def __post_init__(self) -> None:
        for name in ("reachable", "member_identified", "paper_refused", "blocked"):
            _require_bool(getattr(self, name), f"loyalty state: {name}")
        if self.mode is not None:
            object.__setattr__(self, "mode", _delivery_mode(self.mode))
        if self.notifier is not None and not isinstance(self.notifier, str):
            raise DeliveryDecisionError(
                f"loyalty state: notifier must be text or None, got {self.notifier!r}"
            )
        if not self.reachable and (self.member_identified or self.blocked):
            raise DeliveryDecisionError(
                "loyalty state: an unreachable backend can neither identify a member nor block a card"
            )
        if self.blocked and self.member_identified:
            raise DeliveryDecisionError("loyalty state: a blocked card identifies no member for the sale")
        if self.member_identified and self.mode is None:
            raise DeliveryDecisionError("loyalty state: an identified member's electronicCheque has no mode")
        if not self.member_identified and (
            self.paper_refused or self.mode is not None or self.notifier is not None
        ):
            raise DeliveryDecisionError(
                f"loyalty state: paper_refused / mode / notifier need an identified member, got "
                f"paper_refused={self.paper_refused}, mode={self.mode!r}, notifier={self.notifier!r}"
            )

    @classmethod
    def offline(cls) -> LoyaltyState:
        """The backend is unreachable or slower than the register's timeout."""
        return cls(reachable=False, member_identified=False, paper_refused=False, mode=None, notifier=None)

    @classmethod
    def no_member(cls) -> LoyaltyState:
        """The backend answered, but no member was identified for this purchase."""
        return cls(reachable=True, member_identified=False, paper_refused=False, mode=None, notifier=None)

    @classmethod
    def card_blocked(cls) -> LoyaltyState:
        """The backend answered CARD_BLOCKED: the sale goes on without loyalty."""
        return cls(
            reachable=True,
            member_identified=False,
            paper_refused=False,
            mode=None,
            notifier=None,
            blocked=True,
        )

    @classmethod
    def member(cls, *, paper_refused: bool, mode: DeliveryMode, notifier: str | None) -> LoyaltyState:
        """An identified member, with the backend's electronicCheque."""
        return cls(
            reachable=True, member_identified=True, paper_refused=paper_refused, mode=mode, notifier=notifier
        )

    @property
    def has_valid_notifier(self) -> bool:
        return self.notifier is not None and is_customer_contact(self.notifier)


@dataclass(frozen=True)
class BuyerAnswer:
    """The buyer's answer to the cashier's question "electronic receipt?".

    `contact` is what was given or confirmed at the till (it may be the member's notifier); it is kept as
    typed, so a bad e-mail or phone reaches the decision and makes it print. A buyer who declines gives no
    contact: a contact given before payment makes sending mandatory (ffd-receipt.md §8).
    """

    wants_electronic: bool
    contact: str | None
    also_paper: bool = False

    def __post_init__(self) -> None:
        _require_bool(self.wants_electronic, "buyer answer: wants_electronic")
        _require_bool(self.also_paper, "buyer answer: also_paper")
        if self.contact is not None and not isinstance(self.contact, str):
            raise DeliveryDecisionError(f"buyer answer: contact must be text or None, got {self.contact!r}")
        if not self.wants_electronic and self.contact is not None:
            raise DeliveryDecisionError(
                f"buyer answer: a buyer who declines the e-receipt gives no contact, got {self.contact!r}"
            )
        if not self.wants_electronic and self.also_paper:
            raise DeliveryDecisionError("buyer answer: also_paper qualifies an e-receipt the buyer declined")

    @property
    def valid_contact(self) -> str | None:
        """The contact for 1008 if the buyer wants an e-receipt and gave a well-formed one."""
        if self.wants_electronic and self.contact is not None and is_customer_contact(self.contact):
            return self.contact
        return None


@dataclass(frozen=True)
class Decision:
    """How one receipt is delivered; constructing one that breaks the law raises DeliveryDecisionError."""

    print_paper: bool
    customer_contact: str | None
    """The contact written to tag 1008."""
    sender: Sender
    send_link_to_loyalty: bool
    drop_cheque_messages: bool
    queue_offline: bool
    ask_buyer: bool
    reason: Reason
    cashier_message: str
    warning: bool

    def __post_init__(self) -> None:
        for name in _DECISION_FLAGS:
            _require_bool(getattr(self, name), f"decision: {name}")
        object.__setattr__(self, "sender", _coerce(Sender, self.sender, "sender"))
        object.__setattr__(self, "reason", _coerce(Reason, self.reason, "reason"))
        if self.customer_contact is not None and not is_customer_contact(self.customer_contact):
            raise DeliveryDecisionError(
                f"decision: tag 1008 must be an e-mail or +7XXXXXXXXXX, got {self.customer_contact!r}"
            )
        if (self.customer_contact is None) != (self.sender is Sender.NONE):
            raise DeliveryDecisionError(
                f"decision: an e-receipt needs both a 1008 contact and a sender, got "
                f"contact={self.customer_contact!r}, sender={self.sender.value!r}"
            )
        if not self.print_paper and self.customer_contact is None:
            raise DeliveryDecisionError("decision: paper may be suppressed only when an e-receipt is sent")
        if self.send_link_to_loyalty and self.queue_offline:
            raise DeliveryDecisionError("decision: the link cannot go to a loyalty backend that is offline")

    def as_journal(self) -> dict[str, Any]:
        """Every field as plain JSON values, for the journal integrators read to prove suppression."""
        entry = asdict(self)
        entry["sender"] = self.sender.value
        entry["reason"] = self.reason.value
        return entry


def decide(loyalty: LoyaltyState, buyer: BuyerAnswer | None, *, operation: Operation) -> Decision:
    """Decide how the receipt is delivered. The operation (1054) does not change the rules.

    | loyalty                     | buyer                    | paper | sender  | reason                     |
    |-----------------------------|--------------------------|-------|---------|----------------------------|
    | refused, notifier, LOYALTY  | ignored                  | no    | loyalty | refused-paper-loyalty      |
    | refused, notifier, OFD      | ignored                  | no    | ofd     | refused-paper-ofd          |
    | refused, no valid notifier  | e, valid contact         | as 'did not refuse' below                    |
    | refused, no valid notifier  | anything else            | yes   | none    | refused-paper-no-contact   |
    |                             |                          |       |         | (asks the buyer if unasked)|
    | did not refuse              | not asked yet            | yes   | none    | buyer-not-asked            |
    | did not refuse              | e only, valid contact    | no    | by mode*| buyer-electronic-only      |
    | did not refuse              | e + paper, valid contact | yes   | by mode*| buyer-electronic-and-paper |
    | did not refuse              | e, no or bad contact     | yes   | none    | buyer-no-valid-contact     |
    | did not refuse              | declines                 | yes   | none    | buyer-declined             |
    | no member, blocked, offline | e, valid contact         | yes   | ofd     | no-member, card-blocked,   |
    |                             | anything else            | yes   | none    |   loyalty-offline          |

    * by mode when the contact is the member's notifier, else the OFD (the backend sends only to the
    member's confirmed contact).
    'e' is an e-receipt; when a sender exists, tag 1008 carries the contact (or the notifier).
    cheque-link goes to loyalty when a member is identified and an e-receipt goes out, except to another
    contact in mode LOYALTY (the backend stores the link in the member's history and, in mode LOYALTY,
    messages the member: one e-receipt, one sender); offer texts
    for the printed receipt are dropped when the member refused paper; offline purchases are queued for
    offline-batch. The cashier is asked when nobody has answered and the member has not refused paper.
    """
    _require_type(loyalty, LoyaltyState, "loyalty state")
    if buyer is not None:
        _require_type(buyer, BuyerAnswer, "buyer answer")
    _require_type(operation, Operation, "operation (1054)")
    if not loyalty.reachable:
        return _without_member(buyer, Reason.LOYALTY_OFFLINE, "Программа лояльности недоступна", warning=True)
    if loyalty.blocked:
        return _without_member(
            buyer, Reason.CARD_BLOCKED, "Карта заблокирована: продажа без программы лояльности", warning=True
        )
    if not loyalty.member_identified:
        return _without_member(buyer, Reason.NO_MEMBER, "Покупатель без карты лояльности", warning=False)
    if loyalty.paper_refused:
        return _paper_refused(loyalty, buyer)
    return _paper_not_refused(loyalty, buyer)


def _paper_refused(loyalty: LoyaltyState, buyer: BuyerAnswer | None) -> Decision:
    mode = _member_mode(loyalty)
    if loyalty.has_valid_notifier:
        return Decision(
            print_paper=False,
            customer_contact=loyalty.notifier,
            sender=_SENDER_OF_MODE[mode],
            send_link_to_loyalty=True,
            drop_cheque_messages=True,
            queue_offline=False,
            ask_buyer=False,
            reason=_REFUSED_REASON_OF_MODE[mode],
            cashier_message=f"Бумажный чек не печатается: эл. чек на {loyalty.notifier}",
            warning=False,
        )
    if buyer is not None and buyer.valid_contact is not None:
        return _electronic(loyalty, mode, buyer, buyer.valid_contact, paper_refused=True)
    return _member_paper(
        Reason.REFUSED_PAPER_NO_CONTACT,
        _no_contact_message(buyer.contact if buyer is not None else None),
        paper_refused=True,
        ask_buyer=buyer is None,  # the cashier may still get a contact at the till
        warning=True,
    )


def _paper_not_refused(loyalty: LoyaltyState, buyer: BuyerAnswer | None) -> Decision:
    mode = _member_mode(loyalty)
    if buyer is None:
        return _member_paper(
            Reason.BUYER_NOT_ASKED, "Предложите покупателю электронный чек", ask_buyer=True, warning=False
        )
    if not buyer.wants_electronic:
        return _member_paper(
            Reason.BUYER_DECLINED, "Покупатель отказался от эл. чека: чек напечатан", warning=False
        )
    if buyer.valid_contact is None:
        return _member_paper(Reason.BUYER_NO_VALID_CONTACT, _no_contact_message(buyer.contact), warning=True)
    return _electronic(loyalty, mode, buyer, buyer.valid_contact, paper_refused=False)


def _electronic(
    loyalty: LoyaltyState, mode: DeliveryMode, buyer: BuyerAnswer, contact: str, *, paper_refused: bool
) -> Decision:
    """An e-receipt to a contact given at the till. The backend can send only to the member's own confirmed
    contact: a different contact is sent by the OFD from tag 1008, whatever the mode."""
    sender = _SENDER_OF_MODE[mode] if contact == loyalty.notifier else Sender.OFD
    if buyer.also_paper:
        reason = Reason.BUYER_ELECTRONIC_AND_PAPER
        message = f"Эл. чек на {contact}, бумажный чек напечатан"
    else:
        reason = Reason.BUYER_ELECTRONIC_ONLY
        message = f"Бумажный чек не печатается: эл. чек на {contact}"
    return Decision(
        print_paper=buyer.also_paper,
        customer_contact=contact,
        sender=sender,
        # in mode LOYALTY the link makes the backend message the member: only when it is the sender
        send_link_to_loyalty=sender is Sender.LOYALTY or mode is DeliveryMode.OFD,
        drop_cheque_messages=paper_refused,
        queue_offline=False,
        ask_buyer=False,
        reason=reason,
        cashier_message=message,
        warning=False,
    )


def _member_paper(
    reason: Reason, message: str, *, paper_refused: bool = False, ask_buyer: bool = False, warning: bool
) -> Decision:
    """An identified member's receipt on paper only: no link, no message (DESIGN.md: link / message none)."""
    return Decision(
        print_paper=True,
        customer_contact=None,
        sender=Sender.NONE,
        send_link_to_loyalty=False,
        drop_cheque_messages=paper_refused,
        queue_offline=False,
        ask_buyer=ask_buyer,
        reason=reason,
        cashier_message=message,
        warning=warning,
    )


def _without_member(buyer: BuyerAnswer | None, reason: Reason, situation: str, *, warning: bool) -> Decision:
    """No loyalty for this sale: paper always; the OFD sends an e-receipt to a contact given at the till."""
    contact = buyer.valid_contact if buyer is not None else None
    if buyer is None:
        delivery = "предложите эл. чек"
    elif not buyer.wants_electronic:
        delivery = "чек напечатан"
    elif contact is None:
        delivery = _no_contact_message(buyer.contact)
    else:
        delivery = f"чек напечатан, эл. чек на {contact} отправит ОФД"
    return Decision(
        print_paper=True,
        customer_contact=contact,
        sender=Sender.NONE if contact is None else Sender.OFD,
        send_link_to_loyalty=False,
        drop_cheque_messages=False,
        queue_offline=reason is Reason.LOYALTY_OFFLINE,
        ask_buyer=buyer is None,
        reason=reason,
        cashier_message=f"{situation}: {delivery}",
        warning=warning or (buyer is not None and buyer.wants_electronic and contact is None),
    )


def _member_mode(loyalty: LoyaltyState) -> DeliveryMode:
    if loyalty.mode is None:  # LoyaltyState refuses an identified member without a mode
        raise DeliveryDecisionError("loyalty state: an identified member's electronicCheque has no mode")
    return loyalty.mode


def _no_contact_message(contact: str | None) -> str:
    if contact is None:
        return "Нет контакта для эл. чека: чек напечатан"
    return f"Неверный контакт для эл. чека {contact!r} (нужен e-mail или +7XXXXXXXXXX): чек напечатан"


def _delivery_mode(value: object) -> DeliveryMode:
    try:
        return DeliveryMode(value)
    except ValueError:
        raise DeliveryDecisionError(f"loyalty state: mode must be LOYALTY or OFD, got {value!r}") from None


def _coerce(enum: type[_Code], value: object, what: str) -> _Code:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise DeliveryDecisionError(f"decision: {what} must be one of {allowed}, got {value!r}") from None


def _require_bool(value: object, what: str) -> None:
    if not isinstance(value, bool):
        raise DeliveryDecisionError(f"{what} must be True or False, got {value!r}")


def _require_type(value: object, expected: type, what: str) -> None:
    if not isinstance(value, expected):
        raise DeliveryDecisionError(f"{what} must be a {expected.__name__}, got {value!r}")
