"""The errors the API answers with: an HTTP status and ``{"errorCode", "message"}`` (Russian, for people)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    CARD_BLOCKED = "CARD_BLOCKED"
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    PURCHASE_NOT_FOUND = "PURCHASE_NOT_FOUND"
    PURCHASE_EXPIRED = "PURCHASE_EXPIRED"
    OFFER_NOT_FOUND = "OFFER_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    DUPLICATE_CONFLICT = "DUPLICATE_CONFLICT"
    WRONG_STATE = "WRONG_STATE"
    INTERNAL = "INTERNAL"


STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CARD_BLOCKED: 403,
    ErrorCode.MEMBER_NOT_FOUND: 404,
    ErrorCode.PURCHASE_NOT_FOUND: 404,
    ErrorCode.OFFER_NOT_FOUND: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.DUPLICATE_CONFLICT: 409,
    ErrorCode.WRONG_STATE: 409,
    ErrorCode.PURCHASE_EXPIRED: 409,
    ErrorCode.INTERNAL: 500,
}


class ApiError(Exception):
    """A refusal the client is told about; the transaction it happened in is rolled back."""

    def __init__(
        self, code: ErrorCode, message: str, *, headers: dict[str, str] | None = None, transient: bool = False
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = STATUS_OF[code]
        self.headers = headers or {}
        self.transient = transient
        """A refusal a retry may not get (a lost race): not stored as the request's answer."""

    def body(self) -> dict[str, str]:
        return {"errorCode": self.code.value, "message": self.message}


def validation(message: str) -> ApiError:
    return ApiError(ErrorCode.VALIDATION, message)


def wrong_state(message: str) -> ApiError:
    return ApiError(ErrorCode.WRONG_STATE, message)


def purchase_not_found(purchase_id: str) -> ApiError:
    return ApiError(ErrorCode.PURCHASE_NOT_FOUND, f"Покупка {purchase_id} не найдена")


def purchase_expired(purchase_id: str) -> ApiError:
    return ApiError(
        ErrorCode.PURCHASE_EXPIRED,
        f"Расчёт покупки {purchase_id} устарел и отменён: скидки и баллы освобождены. "
        "Чек передаётся как офлайн-покупка (offline-batch)",
    )


def member_not_found() -> ApiError:
    return ApiError(ErrorCode.MEMBER_NOT_FOUND, "Участник программы лояльности не найден")


def card_blocked() -> ApiError:
    return ApiError(ErrorCode.CARD_BLOCKED, "Карта заблокирована")


def unauthorized(message: str, scheme: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": scheme})


def forbidden(message: str) -> ApiError:
    return ApiError(ErrorCode.FORBIDDEN, message)
