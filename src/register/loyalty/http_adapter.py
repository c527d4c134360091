"""``HttpLoyaltyAdapter``: the project's loyalty protocol over HTTP (httpx, synchronous).

Synchronous on purpose: the TUI calls it from a worker thread, the scenario runner and tests directly.
The timeout bounds each phase of a request (connect, write, read); an unusable answer is
``LoyaltyUnavailable`` and the sale goes on offline. With ``retries`` > 0, a request that got no usable
answer is sent again with the very same body, so the same requestId: the backend answers a repeat with
its first answer and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from register.loyalty.adapter import LoyaltyAdapter
from register.loyalty.codec import (
    cheque_json,
    fiscal_json,
    identifier_json,
    offline_item_json,
    parse_balance,
    parse_calculate,
    parse_cancel,
    parse_cheque_link,
    parse_confirm,
    parse_offline_batch,
    parse_refund,
    refund_json,
)
from register.loyalty.errors import (
    LoyaltyInputError,
    LoyaltyProtocolError,
    LoyaltyRejected,
    LoyaltyUnavailable,
    rejection,
)
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
    require_request_id,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 2.0
POS_PREFIX = "/pos/v1"


class HttpLoyaltyAdapter(LoyaltyAdapter):
    """The register's client of the loyalty backend (``register.backend`` or any server of the protocol)."""

    ADAPTER_NAME = "loyalty-http"

    def __init__(
        self,
        base_url: str,
        device: str,
        secret: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        retries: int = 0,
    ) -> None:
        """``device``/``secret``: the register's code and secret (HTTP Basic). ``retries``: how many times
        a request without a usable answer is repeated (same requestId) before ``LoyaltyUnavailable``."""
        if not base_url.startswith(("http://", "https://")):
            raise LoyaltyInputError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        if timeout <= 0:
            raise LoyaltyInputError(f"timeout must be positive seconds, got {timeout!r}")
        if retries < 0:
            raise LoyaltyInputError(f"retries must be 0 or more, got {retries!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._client = httpx.Client(
            base_url=self.base_url, auth=(device, secret), timeout=httpx.Timeout(timeout)
        )

    def close(self) -> None:
        self._client.close()

    # --- the protocol ---------------------------------------------------------------------------------

    def balance(self, request_id: str, identifier: Identifier) -> BalanceAnswer:
        return self._call("balance", request_id, {"identifier": identifier_json(identifier)}, parse_balance)

    def calculate(self, request_id: str, cheque: Cheque) -> CalculateAnswer:
        return self._call("calculate", request_id, cheque_json(cheque), parse_calculate)

    def confirm(self, request_id: str, purchase_id: str, fiscal: Fiscal) -> ConfirmAnswer:
        body = {"purchaseId": purchase_id, "fiscal": fiscal_json(fiscal)}
        return self._call("confirm", request_id, body, parse_confirm)

    def cancel(self, request_id: str, purchase_id: str) -> CancelAnswer:
        return self._call("cancel", request_id, {"purchaseId": purchase_id}, parse_cancel)

    def refund(self, request_id: str, refund: Refund) -> RefundAnswer:
        return self._call("refund", request_id, refund_json(refund), parse_refund)

    def cheque_link(
        self, request_id: str, purchase_id: str, fiscal: Fiscal, url: str, qr: str
    ) -> ChequeLinkAnswer:
        body = {"purchaseId": purchase_id, "fiscal": fiscal_json(fiscal), "url": url, "qr": qr}
        return self._call("cheque-link", request_id, body, parse_cheque_link)

    def offline_batch(self, request_id: str, items: Sequence[OfflineItem]) -> list[OfflineResult]:
        batch = list(items)
        if not batch:
            raise LoyaltyInputError("an offline batch needs at least one item")
        item_ids = [require_request_id(item.request_id) for item in batch]
        if len(set(item_ids)) != len(item_ids) or require_request_id(request_id) in item_ids:
            raise LoyaltyInputError(
                "every offline item needs its own requestId, distinct from the other items' and the batch's "
                "(derive_request_id makes one from another)"
            )
        body = {"requests": [offline_item_json(item) for item in batch]}
        return self._call(
            "offline-batch", request_id, body, lambda answer: parse_offline_batch(answer, batch)
        )

    # --- transport ------------------------------------------------------------------------------------

    def _call(self, endpoint: str, request_id: str, fields: dict[str, Any], parse: Callable[[Any], T]) -> T:
        body = {"requestId": require_request_id(request_id), **fields}
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return parse(self._post(endpoint, body))
            except LoyaltyProtocolError:
                raise
            except LoyaltyUnavailable as failure:
                if attempt == attempts:
                    raise
                log.info(
                    "loyalty %s attempt %d/%d: %s; retrying with the same requestId",
                    endpoint,
                    attempt,
                    attempts,
                    failure,
                )
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(self, endpoint: str, body: dict[str, Any]) -> Any:
        url = f"{POS_PREFIX}/{endpoint}"
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException:
            raise LoyaltyUnavailable(
                f"loyalty backend {self.base_url} did not answer {endpoint} within {self.timeout} s"
            ) from None
        except httpx.TransportError as exc:
            raise LoyaltyUnavailable(f"loyalty backend {self.base_url} unreachable: {exc}") from None
        if response.status_code >= 500:
            raise LoyaltyUnavailable(f"loyalty backend failed on {endpoint}: HTTP {response.status_code}")
        payload = _json(response)
        if response.status_code >= 400:
            raise _refusal(response.status_code, payload, response.text)
        if response.status_code != 200:
            raise LoyaltyProtocolError(f"loyalty {endpoint}: unexpected HTTP {response.status_code}")
        return payload


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        if response.status_code >= 400:
            return None
        raise LoyaltyProtocolError(f"loyalty answer is not JSON: {response.text[:200]!r}") from None


def _refusal(status: int, payload: Any, text: str) -> LoyaltyRejected:
    if isinstance(payload, dict) and isinstance(payload.get("errorCode"), str):
        return rejection(payload["errorCode"], str(payload.get("message", "")), status)
    return LoyaltyRejected(f"HTTP_{status}", text[:200], status)
