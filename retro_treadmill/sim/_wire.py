"""Bytes the virtual treadmill sends and reads (FTMS v1.0.1 §4), in one place."""

from __future__ import annotations

import struct
from collections.abc import Mapping

# Treadmill Data field order (FTMS §4.9.1): flag bit -> (field names, struct format, scale).
_TREADMILL_FIELDS: tuple[tuple[int, tuple[str, ...], str, float], ...] = (
    (1, ("average_speed_kmh",), "<H", 100.0),
    (2, ("total_distance_m",), "u24", 1.0),
    (3, ("inclination_pct", "ramp_angle_deg"), "<hh", 10.0),
    (4, ("positive_elevation_gain_m", "negative_elevation_gain_m"), "<HH", 10.0),
    (7, ("total_energy_kcal", "energy_per_hour_kcal", "energy_per_minute_kcal"), "<HHB", 1.0),
    (8, ("heart_rate_bpm",), "<B", 1.0),
    (9, ("metabolic_equivalent",), "<B", 10.0),
    (10, ("elapsed_time_s",), "<H", 1.0),
    (11, ("remaining_time_s",), "<H", 1.0),
    (13, ("step_count",), "u24", 1.0),
)

TREADMILL_FIELD_GROUPS: tuple[tuple[str, ...], ...] = tuple(n for _, n, _, _ in _TREADMILL_FIELDS)
"""Field names per flag bit, in wire order; a group is present or absent as a whole."""


def _clamp(value: float, fmt: str) -> int:
    limits = {"H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF), "B": (0, 0xFF), "u24": (0, 0xFFFFFF)}
    low, high = limits[fmt]
    return max(low, min(high, round(value)))


def build_treadmill_data(
    speed_kmh: float | None, fields: Mapping[str, float], order: tuple[str, ...] | None = None
) -> bytes:
    """One 2ACD Treadmill Data notification (FTMS §4.9.1).

    ``speed_kmh=None`` sets More Data (bit 0) and leaves Instantaneous Speed out. A group of
    fields is sent when its first field is in ``fields``; missing partners are sent as 0.
    Bit 13 carries the vendor step counter (ftms-notes §3.4.1).
    """
    flags = 0 if speed_kmh is not None else 1
    body = b"" if speed_kmh is None else struct.pack("<H", _clamp(speed_kmh * 100, "H"))
    for bit, names, fmt, scale in _TREADMILL_FIELDS:
        if names[0] not in fields:
            continue
        flags |= 1 << bit
        if fmt == "u24":
            body += _clamp(fields[names[0]] * scale, "u24").to_bytes(3, "little")
            continue
        codes = fmt[1:]
        values = [_clamp(fields.get(n, 0.0) * scale, c) for n, c in zip(names, codes, strict=True)]
        body += struct.pack(fmt, *values)
    return struct.pack("<H", flags) + body


def build_response(request_opcode: int, result: int) -> bytes:
    """Control point Response Code indication ``80 <op> <result>`` (FTMS §4.16.2.22)."""
    return bytes((0x80, request_opcode & 0xFF, result & 0xFF))


def build_speed_range(min_kmh: float, max_kmh: float, inc_kmh: float) -> bytes:
    """2AD4 Supported Speed Range, 0.01 km/h each (FTMS §4.13)."""
    return struct.pack("<HHH", *(_clamp(v * 100, "H") for v in (min_kmh, max_kmh, inc_kmh)))


def build_inclination_range(min_pct: float, max_pct: float, inc_pct: float) -> bytes:
    """2AD5 Supported Inclination Range, 0.1 % each (FTMS §4.14)."""
    return struct.pack(
        "<hhH", _clamp(min_pct * 10, "h"), _clamp(max_pct * 10, "h"), _clamp(inc_pct * 10, "H")
    )


def build_features(machine: int, target: int) -> bytes:
    """2ACC Fitness Machine Feature (FTMS §4.3)."""
    return struct.pack("<II", machine, target)


def build_training_status(code: int) -> bytes:
    """2AD3 Training Status without a string (FTMS §4.10)."""
    return bytes((0x00, code & 0xFF))


def build_service_data(available: bool) -> bytes:
    """FTMS advertising Service Data after the UUID: flags + type Treadmill (FTMS §3.1)."""
    return struct.pack("<BH", 1 if available else 0, 0x0001)


def status_speed(kmh: float) -> bytes:
    """2ADA 0x05 Target Speed Changed (FTMS §4.17)."""
    return b"\x05" + struct.pack("<H", _clamp(kmh * 100, "H"))


def status_incline(pct: float) -> bytes:
    """2ADA 0x06 Target Incline Changed."""
    return b"\x06" + struct.pack("<h", _clamp(pct * 10, "h"))


def parse_u16(param: bytes) -> int | None:
    """A little-endian uint16 parameter, None when the length is wrong."""
    return int(struct.unpack("<H", param)[0]) if len(param) == 2 else None


def parse_s16(param: bytes) -> int | None:
    """A little-endian sint16 parameter, None when the length is wrong."""
    return int(struct.unpack("<h", param)[0]) if len(param) == 2 else None
