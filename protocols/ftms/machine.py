"""Fixed-layout FTMS values: Fitness Machine Feature (0x2ACC, FTMS v1.0.1 §4.3), Supported Speed
Range (0x2AD4, §4.12), Supported Inclination Range (0x2AD5, §4.13) and the advertising Service
Data (§3.1).

The fixed layouts are compiled :mod:`construct` structs. Bytes after a complete value are ignored
(a read value has no room for vendor additions). Feature bits are hints only: real treadmills
claim features they lack and lack ones they have (ftms-notes §2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Final

import construct

from protocols import BuildError, BytesLike, ProtocolError
from protocols.ftms._codec import to_raw


class FitnessMachineFeature(IntFlag):
    """Fitness Machine Features field of 0x2ACC (FTMS v1.0.1 §4.3.1.1); bits 17-31 are RFU."""

    AVERAGE_SPEED = 1 << 0
    CADENCE = 1 << 1
    TOTAL_DISTANCE = 1 << 2
    INCLINATION = 1 << 3
    ELEVATION_GAIN = 1 << 4
    PACE = 1 << 5
    STEP_COUNT = 1 << 6
    RESISTANCE_LEVEL = 1 << 7
    STRIDE_COUNT = 1 << 8
    EXPENDED_ENERGY = 1 << 9
    HEART_RATE_MEASUREMENT = 1 << 10
    METABOLIC_EQUIVALENT = 1 << 11
    ELAPSED_TIME = 1 << 12
    REMAINING_TIME = 1 << 13
    POWER_MEASUREMENT = 1 << 14
    FORCE_ON_BELT_AND_POWER_OUTPUT = 1 << 15
    USER_DATA_RETENTION = 1 << 16


class TargetSettingFeature(IntFlag):
    """Target Setting Features field of 0x2ACC (FTMS v1.0.1 §4.3.1.2); bits 17-31 are RFU."""

    SPEED = 1 << 0
    INCLINATION = 1 << 1
    RESISTANCE = 1 << 2
    POWER = 1 << 3
    HEART_RATE = 1 << 4
    TARGETED_EXPENDED_ENERGY = 1 << 5
    TARGETED_STEP_NUMBER = 1 << 6
    TARGETED_STRIDE_NUMBER = 1 << 7
    TARGETED_DISTANCE = 1 << 8
    TARGETED_TRAINING_TIME = 1 << 9
    TARGETED_TIME_IN_TWO_HEART_RATE_ZONES = 1 << 10
    TARGETED_TIME_IN_THREE_HEART_RATE_ZONES = 1 << 11
    TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES = 1 << 12
    INDOOR_BIKE_SIMULATION = 1 << 13
    WHEEL_CIRCUMFERENCE = 1 << 14
    SPIN_DOWN_CONTROL = 1 << 15
    TARGETED_CADENCE = 1 << 16


class FitnessMachineType(IntFlag):
    """Fitness Machine Type of the advertising Service Data (FTMS v1.0.1 §3.1.1)."""

    TREADMILL = 1 << 0
    CROSS_TRAINER = 1 << 1
    STEP_CLIMBER = 1 << 2
    STAIR_CLIMBER = 1 << 3
    ROWER = 1 << 4
    INDOOR_BIKE = 1 << 5


_FEATURES: Final[Any] = construct.Struct(
    "machine" / construct.Int32ul, "target_setting" / construct.Int32ul
).compile()
_SPEED_RANGE: Final[Any] = construct.Struct(
    "min" / construct.Int16ul, "max" / construct.Int16ul, "increment" / construct.Int16ul
).compile()
_INCLINATION_RANGE: Final[Any] = construct.Struct(
    "min" / construct.Int16sl, "max" / construct.Int16sl, "increment" / construct.Int16ul
).compile()


def _parse_fixed(layout: Any, size: int, data: BytesLike, characteristic: str) -> Any:
    data = bytes(data)
    if len(data) < size:
        raise ProtocolError(
            f"need {size} bytes, got {len(data)}", characteristic=characteristic, data=data
        )
    try:
        return layout.parse(data[:size])
    except (construct.ConstructError, struct.error) as exc:  # pragma: no cover - length checked
        raise ProtocolError(str(exc), characteristic=characteristic, data=data) from None


@dataclass(frozen=True, slots=True)
class FitnessMachineFeatures:
    """Fitness Machine Feature (0x2ACC, FTMS v1.0.1 §4.3): what the machine says it supports.

    RFU bits are kept in the flags. Treat them as hints (ftms-notes §2).
    """

    machine: FitnessMachineFeature
    target_setting: TargetSettingFeature


def parse_features(data: BytesLike) -> FitnessMachineFeatures:
    """Read 0x2ACC (two uint32 bit fields); raises :class:`ProtocolError`."""
    c = _parse_fixed(_FEATURES, 8, data, "2ACC Fitness Machine Feature")
    return FitnessMachineFeatures(
        FitnessMachineFeature(c.machine), TargetSettingFeature(c.target_setting)
    )


def build_features(features: FitnessMachineFeatures) -> bytes:
    """Encode 0x2ACC; raises :class:`BuildError`."""
    machine = to_raw("machine", int(features.machine), 1, "I")
    target = to_raw("target_setting", int(features.target_setting), 1, "I")
    return bytes(_FEATURES.build({"machine": machine, "target_setting": target}))


@dataclass(frozen=True, slots=True)
class SpeedRange:
    """Supported Speed Range (0x2AD4, FTMS v1.0.1 §4.12), km/h at 0.01 km/h resolution.

    Real devices report mph-derived steps and ranges in the wrong unit (ftms-notes §3.4.6, §5).
    """

    min_kmh: float
    max_kmh: float
    increment_kmh: float


def parse_speed_range(data: BytesLike) -> SpeedRange:
    """Read 0x2AD4 (three uint16 at 0.01 km/h); raises :class:`ProtocolError`."""
    c = _parse_fixed(_SPEED_RANGE, 6, data, "2AD4 Supported Speed Range")
    return SpeedRange(c.min / 100, c.max / 100, c.increment / 100)


def build_speed_range(value: SpeedRange) -> bytes:
    """Encode 0x2AD4; raises :class:`BuildError` for a negative or too large value or min > max."""
    lo = to_raw("min_kmh", value.min_kmh, 100, "H", unit=" km/h")
    hi = to_raw("max_kmh", value.max_kmh, 100, "H", unit=" km/h")
    inc = to_raw("increment_kmh", value.increment_kmh, 100, "H", unit=" km/h")
    if lo > hi:
        raise BuildError(f"min {value.min_kmh} > max {value.max_kmh}", field="min_kmh", value=lo)
    return bytes(_SPEED_RANGE.build({"min": lo, "max": hi, "increment": inc}))


@dataclass(frozen=True, slots=True)
class InclinationRange:
    """Supported Inclination Range (0x2AD5, FTMS v1.0.1 §4.13), % at 0.1 % resolution.

    An all-zero range (Urevo E1L) means the machine has no incline (ftms-notes §5).
    """

    min_pct: float
    max_pct: float
    increment_pct: float


def parse_inclination_range(data: BytesLike) -> InclinationRange:
    """Read 0x2AD5 (sint16 min, sint16 max, uint16 increment at 0.1 %)."""
    c = _parse_fixed(_INCLINATION_RANGE, 6, data, "2AD5 Supported Inclination Range")
    return InclinationRange(c.min / 10, c.max / 10, c.increment / 10)


def build_inclination_range(value: InclinationRange) -> bytes:
    """Encode 0x2AD5; raises :class:`BuildError` for an out-of-range value or min > max."""
    lo = to_raw("min_pct", value.min_pct, 10, "h", unit=" %")
    hi = to_raw("max_pct", value.max_pct, 10, "h", unit=" %")
    inc = to_raw("increment_pct", value.increment_pct, 10, "H", unit=" %")
    if lo > hi:
        raise BuildError(f"min {value.min_pct} > max {value.max_pct}", field="min_pct", value=lo)
    return bytes(_INCLINATION_RANGE.build({"min": lo, "max": hi, "increment": inc}))


@dataclass(frozen=True, slots=True)
class ServiceData:
    """FTMS advertising Service Data (FTMS v1.0.1 §3.1): ``Flags(u8)`` + ``Machine Type(u16)``.

    ``available``: Fitness Machine Available (flags bit 0). ``machine_types``: the machine types
    the device says it is.
    """

    available: bool
    machine_types: FitnessMachineType

    @property
    def is_treadmill(self) -> bool:
        """Whether the Treadmill type bit is set."""
        return bool(self.machine_types & FitnessMachineType.TREADMILL)


def parse_service_data(data: BytesLike) -> ServiceData:
    """Read the Service Data for UUID 0x1826 (the value only, without the UUID).

    Some machines send the type bytes reversed or only one byte (ftms-notes §1); like pyftms we
    OR the type bytes together, so ``01 00 01``, ``01 01 00`` and ``01 01`` all read as an
    available treadmill. Bytes after the two type bytes are ignored. Raises
    :class:`ProtocolError` when the type is missing.
    """
    data = bytes(data)
    if len(data) < 2:
        raise ProtocolError(
            "need the flags and at least one machine type byte",
            characteristic="FTMS Service Data",
            data=data,
        )
    types = 0
    for b in data[1:3]:
        types |= b
    return ServiceData(bool(data[0] & 0x01), FitnessMachineType(types))


def build_service_data(value: ServiceData) -> bytes:
    """Encode the Service Data value as the spec defines it (3 bytes).

    Only the low type byte is defined (bits 8-15 are RFU and would not read back, since the
    parser ORs both bytes), so types above 0xFF raise :class:`BuildError`.
    """
    types = to_raw("machine_types", int(value.machine_types), 1, "B")
    return bytes((0x01 if value.available else 0x00,)) + types.to_bytes(2, "little")


__all__ = [
    "FitnessMachineFeature",
    "FitnessMachineFeatures",
    "FitnessMachineType",
    "InclinationRange",
    "ServiceData",
    "SpeedRange",
    "TargetSettingFeature",
    "build_features",
    "build_inclination_range",
    "build_service_data",
    "build_speed_range",
    "parse_features",
    "parse_inclination_range",
    "parse_service_data",
    "parse_speed_range",
]
