"""What can go wrong asking the loyalty backend, as the sale flow needs to tell it apart.

``LoyaltyUnavailable``: no usable answer (refused connection, timeout, 5xx, garbage): the sale goes on
offline, paper is printed, the purchase is queued for offline-batch. ``LoyaltyRejected``: the backend
answered and said no (4xx): the cashier is told ``message``; ``CardBlocked`` and ``MemberNotFound`` mean
the sale goes on without loyalty.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """Any failure of a loyalty request."""


class LoyaltyInputError(LoyaltyError, ValueError):
    """A request the adapter will not send: a field is malformed (the message names it)."""


class LoyaltyUnavailable(LoyaltyError):
    """The backend gave no usable answer: unreachable, slower than the timeout, 5xx or malformed."""


class LoyaltyProtocolError(LoyaltyUnavailable):
    """The backend answered 2xx with a body that is not the protocol's shape."""


class LoyaltyRejected(LoyaltyError):
    """The backend refused the request (HTTP 4xx) with an error code and a message for the cashier."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{error_code} (HTTP {status}): {message}")
        self.error_code = error_code
        self.message = message
        self.status = status


class CardBlocked(LoyaltyRejected):
    """CARD_BLOCKED: the card may not be used; the sale goes on without loyalty."""


class MemberNotFound(LoyaltyRejected):
    """MEMBER_NOT_FOUND: nobody has this card, phone or e-mail."""


_REJECTIONS: dict[str, type[LoyaltyRejected]] = {
    "CARD_BLOCKED": CardBlocked,
    "MEMBER_NOT_FOUND": MemberNotFound,
}


def rejection(error_code: str, message: str, status: int) -> LoyaltyRejected:
    """The typed refusal for an error code (``LoyaltyRejected`` itself for codes without a subclass)."""
    return _REJECTIONS.get(error_code, LoyaltyRejected)(error_code, message, status)
