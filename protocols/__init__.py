"""Sans-IO wire formats for the Bluetooth LE Fitness Machine Service (FTMS) and Heart Rate Service.

Nothing in this package performs IO, reads a clock or imports an async framework: it turns bytes
into typed values and typed values into bytes. Every parser raises only :class:`ProtocolError`
(a :class:`ValueError`) on malformed input.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Bytes that cannot be read as the characteristic they claim to be.

    ``characteristic`` names the characteristic (e.g. ``"2ACD Treadmill Data"``), ``data`` holds
    the offending bytes and ``offset`` the position where reading failed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        characteristic: str = "",
        data: bytes = b"",
        offset: int | None = None,
    ) -> None:
        where = f"{characteristic}: " if characteristic else ""
        at = f" at byte {offset}" if offset is not None else ""
        shown = f" (bytes: {data.hex(' ')})" if data else ""
        super().__init__(f"{where}{message}{at}{shown}")
        self.characteristic = characteristic
        self.data = data
        self.offset = offset


__all__ = ["ProtocolError"]
