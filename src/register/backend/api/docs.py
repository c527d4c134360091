"""What the OpenAPI document says about errors: every refusal has the ``ErrorBody`` shape."""

from __future__ import annotations

from typing import Any

from register.backend.api.wire import ErrorBody

_WHAT = {
    400: "VALIDATION: the body or a parameter is malformed or breaks a rule (message says which).",
    401: "UNAUTHORIZED: missing or wrong credentials.",
    403: "FORBIDDEN (wrong kind of token) or CARD_BLOCKED.",
    404: "MEMBER_NOT_FOUND, PURCHASE_NOT_FOUND or OFFER_NOT_FOUND.",
    409: "DUPLICATE_CONFLICT (requestId reused with another body), WRONG_STATE, or PURCHASE_EXPIRED (the "
    "calculation outlived its lifetime and was released: upload the receipt with offline-batch).",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for these error statuses."""
    return {status: {"model": ErrorBody, "description": _WHAT[status]} for status in statuses}
