"""Fitness Machine Status (0x2ADA), FTMS v1.0.1 §4.17: ``OpCode(u8)`` + parameter.

One frozen dataclass per op code of ftms-notes §7 (including 0xFF Control Permission Lost);
RFU op codes read as :class:`UnknownMachineStatus`. Reading is tolerant: trailing bytes after the
parameter (Urevo and CITYSPORTS append zeros, e.g. ``04 00 00``) are kept in ``extra``, and RFU
values of an enumerated parameter stay plain ``int``. Only a parameter cut short is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final, Self, cast

from protocols import BuildError, BytesLike, ProtocolError
from protocols.ftms._codec import Param, decode_params, encode_params, pack_raw, to_raw
from protocols.ftms.control_point import (
    IndoorBikeSimulation,
    SetTargetHeartRate,
    SetTargetInclination,
    SetTargetPower,
    SetTargetSpeed,
    StopControl,
    TargetedCadence,
    TargetedDistance,
    TargetedExpendedEnergy,
    TargetedSteps,
    TargetedStrides,
    TargetedTimeInFiveHrZones,
    TargetedTimeInThreeHrZones,
    TargetedTimeInTwoHrZones,
    TargetedTrainingTime,
    WheelCircumference,
)

CHARACTERISTIC: Final = "2ADA Fitness Machine Status"


class MachineStatusOpCode(IntEnum):
    """Fitness Machine Status op codes (FTMS v1.0.1 Table 4.26); 0x00 and 0x16-0xFE are RFU."""

    RESET = 0x01
    STOPPED_OR_PAUSED_BY_USER = 0x02
    STOPPED_BY_SAFETY_KEY = 0x03
    STARTED_OR_RESUMED_BY_USER = 0x04
    TARGET_SPEED_CHANGED = 0x05
    TARGET_INCLINE_CHANGED = 0x06
    TARGET_RESISTANCE_LEVEL_CHANGED = 0x07
    TARGET_POWER_CHANGED = 0x08
    TARGET_HEART_RATE_CHANGED = 0x09
    TARGETED_EXPENDED_ENERGY_CHANGED = 0x0A
    TARGETED_NUMBER_OF_STEPS_CHANGED = 0x0B
    TARGETED_NUMBER_OF_STRIDES_CHANGED = 0x0C
    TARGETED_DISTANCE_CHANGED = 0x0D
    TARGETED_TRAINING_TIME_CHANGED = 0x0E
    TARGETED_TIME_IN_TWO_HEART_RATE_ZONES_CHANGED = 0x0F
    TARGETED_TIME_IN_THREE_HEART_RATE_ZONES_CHANGED = 0x10
    TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES_CHANGED = 0x11
    INDOOR_BIKE_SIMULATION_PARAMETERS_CHANGED = 0x12
    WHEEL_CIRCUMFERENCE_CHANGED = 0x13
    SPIN_DOWN_STATUS = 0x14
    TARGETED_CADENCE_CHANGED = 0x15
    CONTROL_PERMISSION_LOST = 0xFF


class SpinDownStatusCode(IntEnum):
    """Parameter of Spin Down Status (FTMS v1.0.1 §4.17, op code 0x14)."""

    SPIN_DOWN_REQUESTED = 0x01
    SUCCESS = 0x02
    ERROR = 0x03
    STOP_PEDALING = 0x04


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """Base of every Fitness Machine Status value (FTMS v1.0.1 §4.17).

    ``extra`` holds bytes after the parameter that the spec does not define (tolerated).
    """

    OPCODE: ClassVar[int]
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    extra: bytes = field(default=b"", kw_only=True)

    @property
    def opcode(self) -> int:
        """The op code of this status."""
        return self.OPCODE

    def build(self) -> bytes:
        """Encode as one notification; raises :class:`BuildError`."""
        values = tuple(getattr(self, p.attr) for p in self.PARAMS)
        return bytes((self.OPCODE,)) + encode_params(self.PARAMS, values) + bytes(self.extra)

    @classmethod
    def parse(cls, data: BytesLike) -> Self:
        """Read this status from ``data``; raises :class:`ProtocolError`.

        On the base class this dispatches on the op code like :func:`parse_machine_status`.
        """
        if cls is MachineStatus:
            return cast(Self, parse_machine_status(data))
        data = bytes(data)
        if not data or data[0] != cls.OPCODE:
            raise ProtocolError(
                f"expected op code {cls.OPCODE:#04x}", characteristic=CHARACTERISTIC, data=data
            )
        values, end = decode_params(cls.PARAMS, data, 1, CHARACTERISTIC)
        return cls(**values, extra=data[end:])


@dataclass(frozen=True, slots=True)
class MachineReset(MachineStatus):
    """0x01 Reset: the machine was reset (targets to defaults; control is revoked)."""

    OPCODE = MachineStatusOpCode.RESET


@dataclass(frozen=True, slots=True)
class StoppedOrPausedByUser(MachineStatus):
    """0x02 Fitness Machine Stopped or Paused by the User; ``control`` STOP (1) or PAUSE (2)."""

    control: StopControl | int
    OPCODE = MachineStatusOpCode.STOPPED_OR_PAUSED_BY_USER
    PARAMS = (Param("control", "B", enum=StopControl),)


@dataclass(frozen=True, slots=True)
class StoppedBySafetyKey(MachineStatus):
    """0x03 Fitness Machine Stopped by Safety Key."""

    OPCODE = MachineStatusOpCode.STOPPED_BY_SAFETY_KEY


@dataclass(frozen=True, slots=True)
class StartedOrResumedByUser(MachineStatus):
    """0x04 Fitness Machine Started or Resumed by the User."""

    OPCODE = MachineStatusOpCode.STARTED_OR_RESUMED_BY_USER


@dataclass(frozen=True, slots=True)
class TargetSpeedChanged(MachineStatus):
    """0x05 Target Speed Changed: new target ``speed_kmh`` (uint16, 0.01 km/h).

    Urevo streams these while its belt ramps, so it may mirror the moving belt (ftms-notes §7).
    """

    speed_kmh: float
    OPCODE = MachineStatusOpCode.TARGET_SPEED_CHANGED
    PARAMS = SetTargetSpeed.PARAMS


@dataclass(frozen=True, slots=True)
class TargetInclinationChanged(MachineStatus):
    """0x06 Target Incline Changed: new target ``inclination_pct`` (sint16, 0.1 %)."""

    inclination_pct: float
    OPCODE = MachineStatusOpCode.TARGET_INCLINE_CHANGED
    PARAMS = SetTargetInclination.PARAMS


@dataclass(frozen=True, slots=True)
class TargetResistanceChanged(MachineStatus):
    """0x07 Target Resistance Level Changed: sint16 at 0.1 (SPEC).

    Wireshark and pyftms read a uint8; a 1-byte parameter is read that way. The two readings
    agree whenever the level is small and positive, which is all a treadmill sends.
    """

    resistance_level: float
    OPCODE = MachineStatusOpCode.TARGET_RESISTANCE_LEVEL_CHANGED
    PARAMS = (Param("resistance_level", "h", 10),)

    @classmethod
    def parse(cls, data: BytesLike) -> Self:
        """Read the status, accepting a uint8 parameter as some devices send."""
        data = bytes(data)
        if len(data) == 2 and data[0] == cls.OPCODE:
            return cls(data[1] / 10)
        return super(TargetResistanceChanged, cls).parse(data)


@dataclass(frozen=True, slots=True)
class TargetPowerChanged(MachineStatus):
    """0x08 Target Power Changed: sint16 W."""

    power_w: int
    OPCODE = MachineStatusOpCode.TARGET_POWER_CHANGED
    PARAMS = SetTargetPower.PARAMS


@dataclass(frozen=True, slots=True)
class TargetHeartRateChanged(MachineStatus):
    """0x09 Target Heart Rate Changed: uint8 bpm."""

    heart_rate_bpm: int
    OPCODE = MachineStatusOpCode.TARGET_HEART_RATE_CHANGED
    PARAMS = SetTargetHeartRate.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedExpendedEnergyChanged(MachineStatus):
    """0x0A Targeted Expended Energy Changed: uint16 kcal."""

    energy_kcal: int
    OPCODE = MachineStatusOpCode.TARGETED_EXPENDED_ENERGY_CHANGED
    PARAMS = TargetedExpendedEnergy.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedStepsChanged(MachineStatus):
    """0x0B Targeted Number of Steps Changed: uint16."""

    steps: int
    OPCODE = MachineStatusOpCode.TARGETED_NUMBER_OF_STEPS_CHANGED
    PARAMS = TargetedSteps.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedStridesChanged(MachineStatus):
    """0x0C Targeted Number of Strides Changed: uint16."""

    strides: int
    OPCODE = MachineStatusOpCode.TARGETED_NUMBER_OF_STRIDES_CHANGED
    PARAMS = TargetedStrides.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedDistanceChanged(MachineStatus):
    """0x0D Targeted Distance Changed: uint24 m."""

    distance_m: int
    OPCODE = MachineStatusOpCode.TARGETED_DISTANCE_CHANGED
    PARAMS = TargetedDistance.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedTrainingTimeChanged(MachineStatus):
    """0x0E Targeted Training Time Changed: uint16 s."""

    time_s: int
    OPCODE = MachineStatusOpCode.TARGETED_TRAINING_TIME_CHANGED
    PARAMS = TargetedTrainingTime.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedTimeInTwoHrZonesChanged(MachineStatus):
    """0x0F Targeted Time in Two Heart Rate Zones Changed: uint16 s each."""

    fat_burn_s: int
    fitness_s: int
    OPCODE = MachineStatusOpCode.TARGETED_TIME_IN_TWO_HEART_RATE_ZONES_CHANGED
    PARAMS = TargetedTimeInTwoHrZones.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedTimeInThreeHrZonesChanged(MachineStatus):
    """0x10 Targeted Time in Three Heart Rate Zones Changed: uint16 s each."""

    light_s: int
    moderate_s: int
    hard_s: int
    OPCODE = MachineStatusOpCode.TARGETED_TIME_IN_THREE_HEART_RATE_ZONES_CHANGED
    PARAMS = TargetedTimeInThreeHrZones.PARAMS


@dataclass(frozen=True, slots=True)
class TargetedTimeInFiveHrZonesChanged(MachineStatus):
    """0x11 Targeted Time in Five Heart Rate Zones Changed: uint16 s each."""

    very_light_s: int
    light_s: int
    moderate_s: int
    hard_s: int
    maximum_s: int
    OPCODE = MachineStatusOpCode.TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES_CHANGED
    PARAMS = TargetedTimeInFiveHrZones.PARAMS


@dataclass(frozen=True, slots=True)
class IndoorBikeSimulationChanged(MachineStatus):
    """0x12 Indoor Bike Simulation Parameters Changed: the 6 bytes of control point op 0x11."""

    wind_speed_mps: float
    grade_pct: float
    rolling_resistance: float
    wind_resistance_kg_per_m: float
    OPCODE = MachineStatusOpCode.INDOOR_BIKE_SIMULATION_PARAMETERS_CHANGED
    PARAMS = IndoorBikeSimulation.PARAMS


@dataclass(frozen=True, slots=True)
class WheelCircumferenceChanged(MachineStatus):
    """0x13 Wheel Circumference Changed: uint16 at 0.1 mm."""

    circumference_mm: float
    OPCODE = MachineStatusOpCode.WHEEL_CIRCUMFERENCE_CHANGED
    PARAMS = WheelCircumference.PARAMS


@dataclass(frozen=True, slots=True)
class SpinDownStatus(MachineStatus):
    """0x14 Spin Down Status: :class:`SpinDownStatusCode` (RFU values stay ``int``)."""

    status: SpinDownStatusCode | int
    OPCODE = MachineStatusOpCode.SPIN_DOWN_STATUS
    PARAMS = (Param("status", "B", enum=SpinDownStatusCode),)


@dataclass(frozen=True, slots=True)
class TargetedCadenceChanged(MachineStatus):
    """0x15 Targeted Cadence Changed: uint16 at 0.5 per minute."""

    cadence_per_min: float
    OPCODE = MachineStatusOpCode.TARGETED_CADENCE_CHANGED
    PARAMS = TargetedCadence.PARAMS


@dataclass(frozen=True, slots=True)
class ControlPermissionLost(MachineStatus):
    """0xFF Control Permission Lost: this client no longer controls the machine."""

    OPCODE = MachineStatusOpCode.CONTROL_PERMISSION_LOST


@dataclass(frozen=True, slots=True)
class UnknownMachineStatus(MachineStatus):
    """A status with an RFU op code (0x00, 0x16-0xFE): kept, not rejected."""

    code: int
    parameter: bytes = b""
    OPCODE = -1

    @property
    def opcode(self) -> int:
        """The RFU op code as received."""
        return self.code

    def build(self) -> bytes:
        """Encode the op code and parameter verbatim."""
        if self.code in STATUS_TYPES or not 0 <= self.code <= 0xFF:
            raise BuildError(
                "must be an RFU op code 0x00..0xFE without a defined status",
                field="code",
                value=self.code,
            )
        return pack_raw("B", to_raw("code", self.code, 1, "B")) + bytes(self.parameter)

    @classmethod
    def parse(cls, data: BytesLike) -> Self:
        """Keep an RFU status as op code + parameter bytes."""
        data = bytes(data)
        if not data:
            raise ProtocolError("empty notification", characteristic=CHARACTERISTIC, data=data)
        return cls(data[0], data[1:])


STATUS_TYPES: Final[dict[int, type[MachineStatus]]] = {
    cls.OPCODE: cls
    for cls in (
        MachineReset,
        StoppedOrPausedByUser,
        StoppedBySafetyKey,
        StartedOrResumedByUser,
        TargetSpeedChanged,
        TargetInclinationChanged,
        TargetResistanceChanged,
        TargetPowerChanged,
        TargetHeartRateChanged,
        TargetedExpendedEnergyChanged,
        TargetedStepsChanged,
        TargetedStridesChanged,
        TargetedDistanceChanged,
        TargetedTrainingTimeChanged,
        TargetedTimeInTwoHrZonesChanged,
        TargetedTimeInThreeHrZonesChanged,
        TargetedTimeInFiveHrZonesChanged,
        IndoorBikeSimulationChanged,
        WheelCircumferenceChanged,
        SpinDownStatus,
        TargetedCadenceChanged,
        ControlPermissionLost,
    )
}
"""Status class per op code."""


def parse_machine_status(data: BytesLike) -> MachineStatus:
    """Read one Fitness Machine Status notification (FTMS v1.0.1 §4.17).

    Returns the matching :class:`MachineStatus` subclass, or :class:`UnknownMachineStatus` for an
    RFU op code. Raises :class:`ProtocolError` for an empty notification or a parameter cut short.
    """
    if not data:
        raise ProtocolError("empty notification", characteristic=CHARACTERISTIC, data=b"")
    cls = STATUS_TYPES.get(data[0], UnknownMachineStatus)
    return cls.parse(data)


def build_machine_status(status: MachineStatus) -> bytes:
    """Encode a Fitness Machine Status notification; raises :class:`BuildError`."""
    return status.build()


__all__ = [
    "STATUS_TYPES",
    "ControlPermissionLost",
    "IndoorBikeSimulationChanged",
    "MachineReset",
    "MachineStatus",
    "MachineStatusOpCode",
    "SpinDownStatus",
    "SpinDownStatusCode",
    "StartedOrResumedByUser",
    "StoppedBySafetyKey",
    "StoppedOrPausedByUser",
    "TargetHeartRateChanged",
    "TargetInclinationChanged",
    "TargetPowerChanged",
    "TargetResistanceChanged",
    "TargetSpeedChanged",
    "TargetedCadenceChanged",
    "TargetedDistanceChanged",
    "TargetedExpendedEnergyChanged",
    "TargetedStepsChanged",
    "TargetedStridesChanged",
    "TargetedTimeInFiveHrZonesChanged",
    "TargetedTimeInThreeHrZonesChanged",
    "TargetedTimeInTwoHrZonesChanged",
    "TargetedTrainingTimeChanged",
    "UnknownMachineStatus",
    "WheelCircumferenceChanged",
    "build_machine_status",
    "parse_machine_status",
]
