"""Shared encoding helpers for the FTMS characteristics (FTMS v1.0.1 §1.7: little-endian).

Scalar parameters are described once as :class:`Param` and shared by the control point requests
(§4.16) and the machine status notifications (§4.17) that echo the same values.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from protocols import BuildError, ProtocolError

#: struct format per wire type; "T" is the 24-bit unsigned integer struct lacks.
_SIZES: Final = {"B": 1, "b": 1, "H": 2, "h": 2, "T": 3, "I": 4}
_LIMITS: Final = {
    "B": (0, 0xFF),
    "b": (-0x80, 0x7F),
    "H": (0, 0xFFFF),
    "h": (-0x8000, 0x7FFF),
    "T": (0, 0xFFFFFF),
    "I": (0, 0xFFFFFFFF),
}


def to_raw(
    field: str,
    value: float,
    scale: int,
    wire: str,
    *,
    forbidden: frozenset[int] = frozenset(),
    unit: str = "",
) -> int:
    """Convert a physical ``value`` to the integer sent on the wire (``round(value * scale)``).

    Raises :class:`BuildError` (never :class:`ProtocolError`) when the value is not a finite
    number, does not fit the wire type ``wire``, or would be read back as a "not available"
    sentinel (``forbidden``).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BuildError(f"expected a number, got {value!r}", field=field, value=value)
    if not math.isfinite(value):
        raise BuildError(f"expected a finite number, got {value!r}", field=field, value=value)
    raw = round(value * scale)
    lo, hi = _LIMITS[wire]
    if not lo <= raw <= hi or raw in forbidden:
        lo_v, hi_v = lo / scale, hi / scale
        extra = f" except {sorted(v / scale for v in forbidden)}" if forbidden else ""
        raise BuildError(
            f"{value!r}{unit} is outside the encodable range {lo_v:g}..{hi_v:g}{unit}{extra}",
            field=field,
            value=value,
        )
    return raw


def pack_raw(wire: str, raw: int) -> bytes:
    """Pack an already range-checked integer as ``wire``."""
    if wire == "T":
        return raw.to_bytes(3, "little")
    return struct.pack("<" + wire, raw)


def unpack_raw(wire: str, data: bytes, offset: int) -> int:
    """Read one integer of type ``wire`` at ``offset`` (the caller checked the length)."""
    if wire == "T":
        return int.from_bytes(data[offset : offset + 3], "little")
    value: int = struct.unpack_from("<" + wire, data, offset)[0]
    return value


def wire_size(wire: str) -> int:
    """Bytes taken by one value of wire type ``wire``."""
    return _SIZES[wire]


@dataclass(frozen=True, slots=True)
class Param:
    """One scalar parameter: dataclass attribute ``attr`` sent as ``wire`` at ``1/scale`` units.

    With ``scale == 1`` the value is an ``int``; otherwise a ``float``. With ``enum`` set, the raw
    value is read as that IntEnum: unknown values are kept as plain ``int`` unless ``strict``.
    """

    attr: str
    wire: str
    scale: int = 1
    unit: str = ""
    enum: type[IntEnum] | None = None
    strict: bool = False

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return _SIZES[self.wire]

    def encode(self, value: object) -> bytes:
        """Validate and encode ``value``; raises :class:`BuildError`."""
        if self.enum is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BuildError(f"expected {self.enum.__name__}", field=self.attr, value=value)
            if self.strict and value not in set(self.enum):
                allowed = ", ".join(m.name for m in self.enum)
                raise BuildError(f"{value!r} is not one of {allowed}", field=self.attr, value=value)
            return pack_raw(self.wire, to_raw(self.attr, value, 1, self.wire))
        if not isinstance(value, int | float):
            raise BuildError(f"expected a number, got {value!r}", field=self.attr, value=value)
        return pack_raw(self.wire, to_raw(self.attr, value, self.scale, self.wire, unit=self.unit))

    def decode(self, raw: int, characteristic: str, data: bytes) -> object:
        """Turn a raw integer into the physical value; raises :class:`ProtocolError`."""
        if self.enum is not None:
            try:
                return self.enum(raw)
            except ValueError:
                if self.strict:
                    raise ProtocolError(
                        f"{self.attr} value {raw:#04x} is reserved for future use",
                        characteristic=characteristic,
                        data=data,
                    ) from None
                return raw
        if self.scale == 1:
            return raw
        return raw / self.scale


def encode_params(params: tuple[Param, ...], values: tuple[object, ...]) -> bytes:
    """Encode ``values`` (one per ``params`` entry) in order."""
    return b"".join(p.encode(v) for p, v in zip(params, values, strict=True))


def decode_params(
    params: tuple[Param, ...], data: bytes, offset: int, characteristic: str
) -> tuple[dict[str, object], int]:
    """Decode ``params`` from ``data`` starting at ``offset``.

    Returns the attribute values and the offset after the last parameter. Raises
    :class:`ProtocolError` when the data ends early.
    """
    values: dict[str, object] = {}
    for p in params:
        if offset + p.size > len(data):
            raise ProtocolError(
                f"{p.attr} needs {p.size} byte(s), {len(data) - offset} left",
                characteristic=characteristic,
                data=data,
                offset=offset,
            )
        values[p.attr] = p.decode(unpack_raw(p.wire, data, offset), characteristic, data)
        offset += p.size
    return values, offset


def params_size(params: tuple[Param, ...]) -> int:
    """Total bytes of ``params``."""
    return sum(p.size for p in params)
