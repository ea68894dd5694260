"""NOTIFICATION values and ``BgpError``: a BGP error *is* the NOTIFICATION it causes.

RFC 4271 §4.5/§6, RFC 4486 (cease subcodes), RFC 9003 (shutdown communication), RFC 8538 (hard reset).
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import Cease, ErrorCode, FsmError, HeaderError, OpenError, RouteRefreshError, UpdateError

SUBCODES: dict[int, type[HeaderError | OpenError | UpdateError | FsmError | Cease | RouteRefreshError]] = {
    ErrorCode.MESSAGE_HEADER: HeaderError,
    ErrorCode.OPEN_MESSAGE: OpenError,
    ErrorCode.UPDATE_MESSAGE: UpdateError,
    ErrorCode.FSM: FsmError,
    ErrorCode.CEASE: Cease,
    ErrorCode.ROUTE_REFRESH_MESSAGE: RouteRefreshError,
}

# RFC 9003: these cease subcodes may carry a UTF-8 shutdown communication (length octet + text).
SHUTDOWN_COMMUNICATION_SUBCODES = frozenset({Cease.ADMINISTRATIVE_SHUTDOWN, Cease.ADMINISTRATIVE_RESET})
MAX_SHUTDOWN_COMMUNICATION = 255


@dataclass(frozen=True, slots=True)
class Notification:
    """The NOTIFICATION message (RFC 4271 §4.5)."""

    code: int
    subcode: int = 0
    data: bytes = b""

    @classmethod
    def shutdown(cls, subcode: Cease, communication: str = "") -> Notification:
        """A cease with an RFC 9003 shutdown communication (truncated on a UTF-8 boundary to 255)."""
        text = communication.encode()[:MAX_SHUTDOWN_COMMUNICATION]
        text = text.decode("utf-8", "ignore").encode()
        return cls(ErrorCode.CEASE, subcode, bytes((len(text),)) + text if communication else b"")

    @property
    def is_hard_reset(self) -> bool:
        """RFC 8538: Cease/Hard Reset ends graceful restart; every other NOTIFICATION keeps it."""
        return self.code == ErrorCode.CEASE and self.subcode == Cease.HARD_RESET

    @property
    def shutdown_communication(self) -> str | None:
        """The RFC 9003 text, when this NOTIFICATION carries a well-formed one."""
        if self.code != ErrorCode.CEASE or self.subcode not in SHUTDOWN_COMMUNICATION_SUBCODES:
            return None
        if not self.data or self.data[0] != len(self.data) - 1:
            return None
        try:
            return self.data[1:].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def describe(self) -> str:
        """``Cease/Administrative Shutdown: "maintenance"`` — for logs, status and the CLI."""
        try:
            code_name = ErrorCode(self.code).name.replace("_", " ").title()
        except ValueError:
            code_name = f"code {self.code}"
        subcodes = SUBCODES.get(self.code)
        try:
            sub_name = subcodes(self.subcode).name.replace("_", " ").title() if subcodes else ""
        except ValueError:
            sub_name = ""
        text = f"{code_name}/{sub_name or f'subcode {self.subcode}'}"
        communication = self.shutdown_communication
        if communication is not None:
            text += f': "{communication}"'
        elif self.data:
            text += f" (data {self.data.hex()})"
        return text


class BgpError(Exception):
    """An error caused by the peer: carries the NOTIFICATION to send and a reason for the log."""

    def __init__(self, notification: Notification, reason: str = "") -> None:
        super().__init__(reason or notification.describe())
        self.notification = notification
        self.reason = reason or notification.describe()

    @classmethod
    def of(cls, code: int, subcode: int, data: bytes = b"", reason: str = "") -> BgpError:
        return cls(Notification(code, subcode, data), reason)
