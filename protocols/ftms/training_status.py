"""Training Status (0x2AD3), FTMS v1.0.1 §4.10: ``Flags(u8)``, ``Training Status(u8)``, string.

Tolerant reading (ftms-notes §4): RFU status codes (Urevo sends 0x10 and 0x11) are kept as plain
``int``; a "string present" flag with no string (CITYSPORTS ``01 01``) reads as an empty string;
undecodable UTF-8 is replaced, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from protocols import BuildError, BytesLike, ProtocolError

CHARACTERISTIC: Final = "2AD3 Training Status"

_STRING_PRESENT: Final = 0x01
_EXTENDED_STRING: Final = 0x02


class TrainingStatusCode(IntEnum):
    """Training Status values (FTMS v1.0.1 §4.10.1.2); 0x10-0xFF are RFU."""

    OTHER = 0x00
    IDLE = 0x01
    WARMING_UP = 0x02
    LOW_INTENSITY_INTERVAL = 0x03
    HIGH_INTENSITY_INTERVAL = 0x04
    RECOVERY_INTERVAL = 0x05
    ISOMETRIC = 0x06
    HEART_RATE_CONTROL = 0x07
    FITNESS_TEST = 0x08
    SPEED_OUTSIDE_CONTROL_REGION_LOW = 0x09
    SPEED_OUTSIDE_CONTROL_REGION_HIGH = 0x0A
    COOL_DOWN = 0x0B
    WATT_CONTROL = 0x0C
    MANUAL_MODE = 0x0D
    PRE_WORKOUT = 0x0E
    POST_WORKOUT = 0x0F


_LABELS: Final = {
    TrainingStatusCode.OTHER: "Other",
    TrainingStatusCode.IDLE: "Idle",
    TrainingStatusCode.WARMING_UP: "Warming Up",
    TrainingStatusCode.LOW_INTENSITY_INTERVAL: "Low Intensity Interval",
    TrainingStatusCode.HIGH_INTENSITY_INTERVAL: "High Intensity Interval",
    TrainingStatusCode.RECOVERY_INTERVAL: "Recovery Interval",
    TrainingStatusCode.ISOMETRIC: "Isometric",
    TrainingStatusCode.HEART_RATE_CONTROL: "Heart Rate Control",
    TrainingStatusCode.FITNESS_TEST: "Fitness Test",
    TrainingStatusCode.SPEED_OUTSIDE_CONTROL_REGION_LOW: "Speed Outside of Control Region - Low",
    TrainingStatusCode.SPEED_OUTSIDE_CONTROL_REGION_HIGH: "Speed Outside of Control Region - High",
    TrainingStatusCode.COOL_DOWN: "Cool Down",
    TrainingStatusCode.WATT_CONTROL: "Watt Control",
    TrainingStatusCode.MANUAL_MODE: "Manual Mode (Quick Start)",
    TrainingStatusCode.PRE_WORKOUT: "Pre-Workout",
    TrainingStatusCode.POST_WORKOUT: "Post-Workout",
}


@dataclass(frozen=True, slots=True)
class TrainingStatus:
    """One Training Status value (FTMS v1.0.1 §4.10).

    ``code`` is a :class:`TrainingStatusCode`, or a plain ``int`` for an RFU value. ``string`` is
    the Training Status String (``None`` when absent; ``""`` when flagged present but empty).
    ``extended`` is the Extended String flag (the string was cut by the MTU; read it again with a
    long read).
    """

    code: TrainingStatusCode | int
    string: str | None = None
    extended: bool = False

    @property
    def name(self) -> str:
        """Readable status, e.g. ``"Pre-Workout"``; ``"Reserved (0x10)"`` for RFU codes."""
        if isinstance(self.code, TrainingStatusCode):
            return _LABELS[self.code]
        try:
            return _LABELS[TrainingStatusCode(self.code)]
        except ValueError:
            return f"Reserved ({self.code:#04x})"


def parse_training_status(data: BytesLike) -> TrainingStatus:
    """Read a Training Status value (FTMS v1.0.1 §4.10); raises :class:`ProtocolError`.

    Text after the status byte is read as the string even if the flag does not announce it.
    """
    data = bytes(data)
    if len(data) < 2:
        raise ProtocolError(
            "need the flags and the status byte", characteristic=CHARACTERISTIC, data=data
        )
    flags, raw = data[0], data[1]
    code: TrainingStatusCode | int
    try:
        code = TrainingStatusCode(raw)
    except ValueError:
        code = raw
    text = data[2:]
    string: str | None
    if text:
        string = text.decode("utf-8", errors="replace")
    else:
        string = "" if flags & _STRING_PRESENT else None
    return TrainingStatus(code, string, bool(flags & _EXTENDED_STRING))


def build_training_status(status: TrainingStatus) -> bytes:
    """Encode a Training Status value; raises :class:`BuildError` for a code outside 0..255."""
    code = status.code
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 0xFF:
        raise BuildError("must be an integer 0..255", field="code", value=code)
    if status.string is not None and not isinstance(status.string, str):
        raise BuildError("must be a str or None", field="string", value=status.string) from None
    flags = (_STRING_PRESENT if status.string is not None else 0) | (
        _EXTENDED_STRING if status.extended else 0
    )
    try:
        text = status.string.encode("utf-8") if status.string is not None else b""
    except UnicodeEncodeError as exc:
        raise BuildError(
            f"not encodable as UTF-8: {exc}", field="string", value=status.string
        ) from None
    return bytes((flags, code)) + text


__all__ = [
    "TrainingStatus",
    "TrainingStatusCode",
    "build_training_status",
    "parse_training_status",
]
