"""Sans-IO wire formats for the Bluetooth LE Fitness Machine Service (FTMS) and Heart Rate Service.

Nothing in this package performs IO, reads a clock or imports an async framework: it turns bytes
into typed values and typed values into bytes. Every parser raises only :class:`ProtocolError`
(a :class:`ValueError`) on malformed input; every builder raises :class:`BuildError` (also a
:class:`ValueError`, but not a :class:`ProtocolError`) for a value it cannot encode, before
producing any byte.

* :mod:`protocols.ftms`: Fitness Machine Service (0x1826) characteristics and advertising data.
* :mod:`protocols.heart_rate`: Heart Rate Measurement (0x2A37).
"""

from __future__ import annotations

from typing import TypeAlias

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""What the parsers accept: bleak hands notifications over as ``bytearray``."""


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


class BuildError(ValueError):
    """A value that cannot be encoded: negative, out of the field's range, or not a number.

    Raised by the ``build_*`` functions and ``build()`` methods before any byte is produced.
    Deliberately *not* a :class:`ProtocolError`: that one means "the bytes we received are
    malformed", this one means "the value we were asked to send is wrong".
    ``field`` names the offending field and ``value`` holds what was given.
    """

    def __init__(self, message: str, *, field: str = "", value: object = None) -> None:
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{message}")
        self.field = field
        self.value = value


__all__ = ["BuildError", "BytesLike", "ProtocolError"]
