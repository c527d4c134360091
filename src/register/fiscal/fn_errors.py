"""Typed exceptions of the FN driver: one class per FN answer code, plus link failures."""

from __future__ import annotations

from register.fiscal.fn_protocol import ERROR_TEXT, Cmd, FnError


class FnDriverError(Exception):
    """Anything the FN driver reports."""


class FnLinkError(FnDriverError):
    """The link to the FN failed: no answer, or answers that cannot be read."""


class FnNoAnswer(FnLinkError):
    """The FN did not answer within the timeout (and ENQ did not bring the answer back)."""


class FnBadAnswer(FnLinkError):
    """An answer that does not fit the command's layout."""


class FnCorruptAnswer(FnBadAnswer):
    """Every answer to a command, and to the ENQs after it, came with a bad CRC.

    The FN did answer, so it may have executed the command: for a signing command the driver finds out
    from 30h/40h, as after a lost answer.
    """


class FnOutcomeUnknown(FnLinkError):
    """A signing command got no answer and the FN could not be asked whether it signed.

    The document may or may not exist. Never repeat the command: on reconnect, read 30h and 40h first.
    """


class FnDocumentLost(FnLinkError):
    """The FN lost the open document (power loss or restart) before signing it; nothing was signed."""


def _command_name(code: int) -> str:
    try:
        return f"{code:02X}h {Cmd(code).name.lower().replace('_', ' ')}"
    except ValueError:
        return f"{code:02X}h"


class FnCommandError(FnDriverError):
    """The FN refused a command with an error code."""

    code: int = -1

    def __init__(self, command: int, code: int, detail: bytes = b"") -> None:
        self.command = command
        self.code = code
        self.detail = detail
        ru, en = ERROR_TEXT.get(code, ("неизвестная ошибка", "unknown error"))
        super().__init__(f"{_command_name(command)}: FN error {code:02X}h: {ru} / {en}")


class FnUnknownCommand(FnCommandError):
    pass


class FnWrongState(FnCommandError):
    pass


class FnFailure(FnCommandError):
    pass


class FnCryptoFailure(FnCommandError):
    pass


class FnExpired(FnCommandError):
    pass


class FnArchiveFull(FnCommandError):
    pass


class FnWrongDateTime(FnCommandError):
    pass


class FnNoData(FnCommandError):
    pass


class FnBadParameter(FnCommandError):
    pass


class FnTlvTooLarge(FnCommandError):
    pass


class FnNoTransport(FnCommandError):
    pass


class FnCryptoExhausted(FnCommandError):
    pass


class FnOfdStorageExhausted(FnCommandError):
    pass


class FnOfdMessageTooOld(FnCommandError):
    pass


class FnShiftOver24h(FnCommandError):
    pass


class FnClockDrift(FnCommandError):
    pass


OFD_REJECT_REASONS = {
    1: "неверный фискальный признак / wrong fiscal sign",
    2: "неверный формат квитанции / wrong receipt format",
    3: "неверный номер ФД / wrong FD number",
    4: "неверный номер ФН / wrong FN number",
    5: "неверный CRC / wrong CRC",
}


class FnOfdRejected(FnCommandError):
    """26h: the FN did not accept the OFD's receipt; ``reason`` says why."""

    def __init__(self, command: int, code: int, detail: bytes = b"") -> None:
        super().__init__(command, code, detail)
        self.reason = detail[0] if detail else 0
        text = OFD_REJECT_REASONS.get(self.reason, "причина не указана / no reason given")
        self.args = (f"{self.args[0]}: {text}",)


ERROR_CLASSES: dict[int, type[FnCommandError]] = {
    FnError.UNKNOWN_COMMAND: FnUnknownCommand,
    FnError.WRONG_STATE: FnWrongState,
    FnError.FN_FAILURE: FnFailure,
    FnError.CRYPTO_FAILURE: FnCryptoFailure,
    FnError.EXPIRED: FnExpired,
    FnError.ARCHIVE_FULL: FnArchiveFull,
    FnError.WRONG_DATETIME: FnWrongDateTime,
    FnError.NO_DATA: FnNoData,
    FnError.BAD_PARAMETER: FnBadParameter,
    FnError.TLV_TOO_LARGE: FnTlvTooLarge,
    FnError.NO_TRANSPORT: FnNoTransport,
    FnError.CRYPTO_EXHAUSTED: FnCryptoExhausted,
    FnError.OFD_STORAGE_EXHAUSTED: FnOfdStorageExhausted,
    FnError.OFD_MESSAGE_TOO_OLD: FnOfdMessageTooOld,
    FnError.SHIFT_OVER_24H: FnShiftOver24h,
    FnError.CLOCK_DRIFT: FnClockDrift,
    FnError.OFD_MESSAGE_REJECTED: FnOfdRejected,
}


def command_error(command: int, code: int, detail: bytes = b"") -> FnCommandError:
    return ERROR_CLASSES.get(code, FnCommandError)(command, code, detail)
