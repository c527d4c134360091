"""The loyalty adapter interface: the only way the sale flow talks to a loyalty backend.

Modelled on harlequin's database adapters: an abstract class whose methods document the contract every
vendor implementation keeps, so an integrator can plug in another vendor's backend without touching the
sale flow. Every call takes the caller's ``request_id`` (a UUID): the caller makes one per operation and
passes the same one to every retry, which is what makes a retry after a timeout safe.

Errors: ``LoyaltyUnavailable`` when there is no usable answer (the sale goes on offline),
``LoyaltyRejected`` (``CardBlocked``, ``MemberNotFound``, …) when the backend says no,
``LoyaltyInputError`` (a ``ValueError``) for a request the adapter will not send.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from register.loyalty.models import (
    BalanceAnswer,
    CalculateAnswer,
    CancelAnswer,
    Cheque,
    ChequeLinkAnswer,
    ConfirmAnswer,
    Fiscal,
    Identifier,
    OfflineItem,
    OfflineResult,
    Refund,
    RefundAnswer,
)


class LoyaltyAdapter(ABC):
    """A loyalty backend as the sale flow sees it."""

    ADAPTER_NAME: ClassVar[str] = "abstract"
    """Short name of the vendor protocol, shown in settings and logs."""

    @abstractmethod
    def balance(self, request_id: str, identifier: Identifier) -> BalanceAnswer:
        """The member named by ``identifier`` with their points and e-receipt choice."""

    @abstractmethod
    def calculate(self, request_id: str, cheque: Cheque) -> CalculateAnswer:
        """Phase 1 of a purchase: discounts (none yet), the member and the electronic cheque. The
        delivery mode in the answer is fixed for this purchase."""

    @abstractmethod
    def confirm(self, request_id: str, purchase_id: str, fiscal: Fiscal) -> ConfirmAnswer:
        """Phase 2: the fiscal document is made; points are accrued."""

    @abstractmethod
    def cancel(self, request_id: str, purchase_id: str) -> CancelAnswer:
        """Release a calculated purchase that will not be fiscalised."""

    @abstractmethod
    def refund(self, request_id: str, refund: Refund) -> RefundAnswer:
        """A return of sale (1054 = 2) attached to its purchase."""

    @abstractmethod
    def cheque_link(
        self, request_id: str, purchase_id: str, fiscal: Fiscal, url: str, qr: str
    ) -> ChequeLinkAnswer:
        """Hand the receipt link of a purchase or refund to the backend, which stores it and, in mode LOYALTY,
        sends the offer messages (once per purchase)."""

    @abstractmethod
    def offline_batch(self, request_id: str, items: Sequence[OfflineItem]) -> list[OfflineResult]:
        """Upload what was done offline; one result per item, in order (each item keeps its own
        request_id, so a repeated upload changes nothing)."""

    def close(self) -> None:
        """Release connections; the adapter is not used afterwards. Nothing to release by default."""
        return None

    def __enter__(self) -> LoyaltyAdapter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
