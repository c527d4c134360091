"""Field types and shapes shared by every part of the API: text, money, times, errors, fiscal data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

MAX_KOPECKS = 10**12  # ten billion roubles: far above any receipt, far below int64
MAX_COUNTER = 2**32 - 1  # FD numbers are 4 bytes in the FN
MAX_FISCAL_SIGN = 2**48 - 1  # tag 1077 is at most 6 bytes
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
_YEARS = range(2000, 2100)


# Printable text of bounded length: control characters have no place in any field.
Text32 = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NO_CONTROL_CHARS)]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]
Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_CONTROL_CHARS)]
Text512 = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=NO_CONTROL_CHARS)]
Url = Annotated[str, StringConstraints(max_length=1024, pattern=r"^https?://[^\x00-\x20\x7f]+$")]


def _require_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time with offset, as a string")
    return value


def _require_offset_and_sane_year(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset, e.g. 2026-01-15T14:32:00+03:00")
    if value.year not in _YEARS:
        raise ValueError(f"year {value.year} is outside {_YEARS.start}..{_YEARS.stop - 1}")
    return value


Kopecks = Annotated[int, Strict(), Field(ge=0, le=MAX_KOPECKS, description="Money in kopecks.")]
StrictBool = Annotated[bool, Strict()]
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_require_text),
    AfterValidator(_require_offset_and_sane_year),
    Field(description="ISO 8601 with the register's offset, e.g. 2026-01-15T14:32:00+03:00."),
]
RecordId = Text64
FnNumber = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{16}$"), Field(description="FN number, tag 1041.")
]
DeliveryModeName = Literal["LOYALTY", "OFD"]
ContactKindName = Literal["email", "phone"]


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True)


class ErrorBody(Wire):
    error_code: str = Field(description="VALIDATION, UNAUTHORIZED, FORBIDDEN, CARD_BLOCKED, … (machine).")
    message: str = Field(description="What went wrong, in Russian, for the cashier or the member.")


class Fiscal(Wire):
    """The fiscal document a purchase or a return was registered with."""

    fn: FnNumber
    fd: Annotated[int, Strict(), Field(ge=1, le=MAX_COUNTER, description="FD number, tag 1040.")]
    fp: Annotated[int, Strict(), Field(ge=0, le=MAX_FISCAL_SIGN, description="Fiscal sign, tag 1077.")]
    operation: Annotated[int, Strict(), Field(ge=1, le=4, description="Tag 1054: 1 sale, 2 return of sale.")]
    total: Kopecks
    date_time: IsoDateTime


class FiscalView(Wire):
    """A stored fiscal document, times as they were sent."""

    fn: str
    fd: int
    fp: int
    operation: int
    total: int
    date_time: str


class FiscalRef(Wire):
    """A fiscal document named by FN, FD number and fiscal sign (to find the purchase of a return)."""

    fn: FnNumber
    fd: Annotated[int, Strict(), Field(ge=1, le=MAX_COUNTER)]
    fp: Annotated[int, Strict(), Field(ge=0, le=MAX_FISCAL_SIGN)]


class Notifier(Wire):
    kind: ContactKindName
    value: str


class ElectronicCheque(Wire):
    """How the receipt reaches the member: the answer this product exists for."""

    paper_refused: bool
    mode: DeliveryModeName
    notifier: Notifier | None = Field(description="The member's confirmed contact for tag 1008, or null.")
    need_link: bool = Field(description="True in mode LOYALTY: send the receipt link with cheque-link.")


class ChequeLinkView(Wire):
    url: str
    qr: str


class HistoryItem(Wire):
    kind: Literal["purchase", "refund"]
    id: str
    date_time: str
    total: int
    status: Literal["CALCULATED", "CONFIRMED", "PARTIALLY_REFUNDED", "REFUNDED", "CANCELLED", "EXPIRED"] = (
        Field(
            description="A purchase: CALCULATED, CONFIRMED, PARTIALLY_REFUNDED or REFUNDED (by its refunds' "
            "total), CANCELLED, or EXPIRED (calculated, never confirmed within the lifetime). A refund: "
            "REFUNDED."
        )
    )
    fiscal: FiscalView | None
    links: list[ChequeLinkView]
    refunds: list[str] = Field(description="A purchase's refunds (ids), oldest first.")
    refunded_amount: int = Field(description="A purchase: the total of its refunds, kopecks; a refund: 0.")


class History(Wire):
    items: list[HistoryItem] = Field(description="Newest first.")
