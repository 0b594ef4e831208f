"""Fitness Machine Control Point (0x2AD9), FTMS v1.0.1 §4.16: requests and the 0x80 response.

Each request the spec defines (Table 4.15) is one small frozen dataclass with ``build()`` and
``parse()``; :func:`parse_control_point_request` dispatches on the op code (the virtual treadmill
uses it on incoming writes). Parsing a request is strict, as a server must be: an unknown op code
or a parameter of the wrong size or value raises :class:`ControlPointError`, which carries the
result code the server should answer with.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Self, cast

from protocols import BuildError, BytesLike, ProtocolError
from protocols.ftms._codec import Param, decode_params, encode_params

CHARACTERISTIC: Final = "2AD9 Fitness Machine Control Point"


class ControlPointOpCode(IntEnum):
    """Control point op codes (FTMS v1.0.1 Table 4.15); 0x15-0x7F and 0x81-0xFF are RFU."""

    REQUEST_CONTROL = 0x00
    RESET = 0x01
    SET_TARGET_SPEED = 0x02
    SET_TARGET_INCLINATION = 0x03
    SET_TARGET_RESISTANCE_LEVEL = 0x04
    SET_TARGET_POWER = 0x05
    SET_TARGET_HEART_RATE = 0x06
    START_OR_RESUME = 0x07
    STOP_OR_PAUSE = 0x08
    SET_TARGETED_EXPENDED_ENERGY = 0x09
    SET_TARGETED_NUMBER_OF_STEPS = 0x0A
    SET_TARGETED_NUMBER_OF_STRIDES = 0x0B
    SET_TARGETED_DISTANCE = 0x0C
    SET_TARGETED_TRAINING_TIME = 0x0D
    SET_TARGETED_TIME_IN_TWO_HEART_RATE_ZONES = 0x0E
    SET_TARGETED_TIME_IN_THREE_HEART_RATE_ZONES = 0x0F
    SET_TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES = 0x10
    SET_INDOOR_BIKE_SIMULATION_PARAMETERS = 0x11
    SET_WHEEL_CIRCUMFERENCE = 0x12
    SPIN_DOWN_CONTROL = 0x13
    SET_TARGETED_CADENCE = 0x14
    RESPONSE_CODE = 0x80


class ResultCode(IntEnum):
    """Result codes of a control point response (FTMS v1.0.1 Table 4.24); others are RFU."""

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    CONTROL_NOT_PERMITTED = 0x05


class StopControl(IntEnum):
    """Control Information of Stop or Pause (FTMS v1.0.1 §4.16.2.9; also status 0x02)."""

    STOP = 0x01
    PAUSE = 0x02


class SpinDownCommand(IntEnum):
    """Parameter of Spin Down Control (FTMS v1.0.1 §4.16.2.20)."""

    START = 0x01
    IGNORE = 0x02


class ControlPointError(ProtocolError):
    """A control point write that a server must refuse.

    ``opcode`` is the request's op code (``None`` for an empty write) and ``result`` the result
    code to answer with (:attr:`ResultCode.OP_CODE_NOT_SUPPORTED` or
    :attr:`ResultCode.INVALID_PARAMETER`).
    """

    def __init__(self, message: str, *, data: bytes, opcode: int | None, result: ResultCode):
        super().__init__(message, characteristic=CHARACTERISTIC, data=data)
        self.opcode = opcode
        self.result = result


class ControlPointRequest:
    """Base of every control point request (FTMS v1.0.1 §4.16.1): ``OpCode(u8)`` + parameter."""

    __slots__ = ()
    OPCODE: ClassVar[ControlPointOpCode]
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def build(self) -> bytes:
        """The bytes to write; raises :class:`BuildError` for an unencodable parameter."""
        values = tuple(getattr(self, p.attr) for p in self.PARAMS)
        return bytes((self.OPCODE,)) + encode_params(self.PARAMS, values)

    @classmethod
    def parse(cls, data: BytesLike) -> Self:
        """Read this request from ``data``; raises :class:`ControlPointError`.

        On the base class this dispatches on the op code like :func:`parse_control_point_request`.
        """
        if cls is ControlPointRequest:
            return cast(Self, parse_control_point_request(data))
        data = bytes(data)
        if not data or data[0] != cls.OPCODE:
            raise ControlPointError(
                f"expected op code {cls.OPCODE:#04x} ({cls.OPCODE.name})",
                data=data,
                opcode=data[0] if data else None,
                result=ResultCode.OP_CODE_NOT_SUPPORTED,
            )
        try:
            values, end = decode_params(cls.PARAMS, data, 1, CHARACTERISTIC)
        except ProtocolError as exc:
            raise ControlPointError(
                str(exc), data=data, opcode=data[0], result=ResultCode.INVALID_PARAMETER
            ) from None
        if end != len(data):
            raise ControlPointError(
                f"{cls.OPCODE.name} takes {end - 1} parameter byte(s), got {len(data) - 1}",
                data=data,
                opcode=data[0],
                result=ResultCode.INVALID_PARAMETER,
            )
        return cls(**values)


def _p(attr: str, wire: str, scale: int = 1, unit: str = "") -> Param:
    return Param(attr, wire, scale, unit)


@dataclass(frozen=True, slots=True)
class RequestControl(ControlPointRequest):
    """0x00 Request Control (§4.16.2.1)."""

    OPCODE = ControlPointOpCode.REQUEST_CONTROL


@dataclass(frozen=True, slots=True)
class Reset(ControlPointRequest):
    """0x01 Reset (§4.16.2.2): targets to defaults, times to 0, and control is revoked."""

    OPCODE = ControlPointOpCode.RESET


@dataclass(frozen=True, slots=True)
class SetTargetSpeed(ControlPointRequest):
    """0x02 Set Target Speed (§4.16.2.3): ``speed_kmh`` as uint16 at 0.01 km/h."""

    speed_kmh: float
    OPCODE = ControlPointOpCode.SET_TARGET_SPEED
    PARAMS = (_p("speed_kmh", "H", 100, " km/h"),)


@dataclass(frozen=True, slots=True)
class SetTargetInclination(ControlPointRequest):
    """0x03 Set Target Inclination (§4.16.2.4): ``inclination_pct`` as sint16 at 0.1 %."""

    inclination_pct: float
    OPCODE = ControlPointOpCode.SET_TARGET_INCLINATION
    PARAMS = (_p("inclination_pct", "h", 10, " %"),)


@dataclass(frozen=True, slots=True)
class SetTargetResistance(ControlPointRequest):
    """0x04 Set Target Resistance Level (§4.16.2.5): uint8, unitless, resolution 0.1."""

    resistance_level: float
    OPCODE = ControlPointOpCode.SET_TARGET_RESISTANCE_LEVEL
    PARAMS = (_p("resistance_level", "B", 10),)


@dataclass(frozen=True, slots=True)
class SetTargetPower(ControlPointRequest):
    """0x05 Set Target Power (§4.16.2.6): ``power_w`` as sint16 in W."""

    power_w: int
    OPCODE = ControlPointOpCode.SET_TARGET_POWER
    PARAMS = (_p("power_w", "h", 1, " W"),)


@dataclass(frozen=True, slots=True)
class SetTargetHeartRate(ControlPointRequest):
    """0x06 Set Target Heart Rate (§4.16.2.7): ``heart_rate_bpm`` as uint8 in bpm."""

    heart_rate_bpm: int
    OPCODE = ControlPointOpCode.SET_TARGET_HEART_RATE
    PARAMS = (_p("heart_rate_bpm", "B", 1, " bpm"),)


@dataclass(frozen=True, slots=True)
class StartOrResume(ControlPointRequest):
    """0x07 Start or Resume (§4.16.2.8)."""

    OPCODE = ControlPointOpCode.START_OR_RESUME


@dataclass(frozen=True, slots=True)
class StopOrPause(ControlPointRequest):
    """0x08 Stop or Pause (§4.16.2.9): ``control`` is :class:`StopControl` STOP (1) or PAUSE (2)."""

    control: StopControl
    OPCODE = ControlPointOpCode.STOP_OR_PAUSE
    PARAMS = (Param("control", "B", enum=StopControl, strict=True),)


@dataclass(frozen=True, slots=True)
class TargetedExpendedEnergy(ControlPointRequest):
    """0x09 Set Targeted Expended Energy (§4.16.2.10): uint16 kcal."""

    energy_kcal: int
    OPCODE = ControlPointOpCode.SET_TARGETED_EXPENDED_ENERGY
    PARAMS = (_p("energy_kcal", "H", 1, " kcal"),)


@dataclass(frozen=True, slots=True)
class TargetedSteps(ControlPointRequest):
    """0x0A Set Targeted Number of Steps (§4.16.2.11): uint16 steps."""

    steps: int
    OPCODE = ControlPointOpCode.SET_TARGETED_NUMBER_OF_STEPS
    PARAMS = (_p("steps", "H"),)


@dataclass(frozen=True, slots=True)
class TargetedStrides(ControlPointRequest):
    """0x0B Set Targeted Number of Strides (§4.16.2.12): uint16 strides."""

    strides: int
    OPCODE = ControlPointOpCode.SET_TARGETED_NUMBER_OF_STRIDES
    PARAMS = (_p("strides", "H"),)


@dataclass(frozen=True, slots=True)
class TargetedDistance(ControlPointRequest):
    """0x0C Set Targeted Distance (§4.16.2.13): uint24 m."""

    distance_m: int
    OPCODE = ControlPointOpCode.SET_TARGETED_DISTANCE
    PARAMS = (_p("distance_m", "T", 1, " m"),)


@dataclass(frozen=True, slots=True)
class TargetedTrainingTime(ControlPointRequest):
    """0x0D Set Targeted Training Time (§4.16.2.14): uint16 s."""

    time_s: int
    OPCODE = ControlPointOpCode.SET_TARGETED_TRAINING_TIME
    PARAMS = (_p("time_s", "H", 1, " s"),)


@dataclass(frozen=True, slots=True)
class TargetedTimeInTwoHrZones(ControlPointRequest):
    """0x0E Set Targeted Time in Two Heart Rate Zones (§4.16.2.15): uint16 s each."""

    fat_burn_s: int
    fitness_s: int
    OPCODE = ControlPointOpCode.SET_TARGETED_TIME_IN_TWO_HEART_RATE_ZONES
    PARAMS = (_p("fat_burn_s", "H", 1, " s"), _p("fitness_s", "H", 1, " s"))


@dataclass(frozen=True, slots=True)
class TargetedTimeInThreeHrZones(ControlPointRequest):
    """0x0F Set Targeted Time in Three Heart Rate Zones (§4.16.2.16): uint16 s each."""

    light_s: int
    moderate_s: int
    hard_s: int
    OPCODE = ControlPointOpCode.SET_TARGETED_TIME_IN_THREE_HEART_RATE_ZONES
    PARAMS = (
        _p("light_s", "H", 1, " s"),
        _p("moderate_s", "H", 1, " s"),
        _p("hard_s", "H", 1, " s"),
    )


@dataclass(frozen=True, slots=True)
class TargetedTimeInFiveHrZones(ControlPointRequest):
    """0x10 Set Targeted Time in Five Heart Rate Zones (§4.16.2.17): uint16 s each."""

    very_light_s: int
    light_s: int
    moderate_s: int
    hard_s: int
    maximum_s: int
    OPCODE = ControlPointOpCode.SET_TARGETED_TIME_IN_FIVE_HEART_RATE_ZONES
    PARAMS = (
        _p("very_light_s", "H", 1, " s"),
        _p("light_s", "H", 1, " s"),
        _p("moderate_s", "H", 1, " s"),
        _p("hard_s", "H", 1, " s"),
        _p("maximum_s", "H", 1, " s"),
    )


_BIKE_SIMULATION_PARAMS: Final = (
    _p("wind_speed_mps", "h", 1000, " m/s"),
    _p("grade_pct", "h", 100, " %"),
    _p("rolling_resistance", "B", 10000),
    _p("wind_resistance_kg_per_m", "B", 100, " kg/m"),
)


@dataclass(frozen=True, slots=True)
class IndoorBikeSimulation(ControlPointRequest):
    """0x11 Set Indoor Bike Simulation Parameters (§4.16.2.18).

    Wind speed sint16 at 0.001 m/s, grade sint16 at 0.01 %, rolling resistance coefficient uint8
    at 0.0001, wind resistance coefficient uint8 at 0.01 kg/m.
    """

    wind_speed_mps: float
    grade_pct: float
    rolling_resistance: float
    wind_resistance_kg_per_m: float
    OPCODE = ControlPointOpCode.SET_INDOOR_BIKE_SIMULATION_PARAMETERS
    PARAMS = _BIKE_SIMULATION_PARAMS


@dataclass(frozen=True, slots=True)
class WheelCircumference(ControlPointRequest):
    """0x12 Set Wheel Circumference (§4.16.2.19): uint16 at 0.1 mm."""

    circumference_mm: float
    OPCODE = ControlPointOpCode.SET_WHEEL_CIRCUMFERENCE
    PARAMS = (_p("circumference_mm", "H", 10, " mm"),)


@dataclass(frozen=True, slots=True)
class SpinDownControl(ControlPointRequest):
    """0x13 Spin Down Control (§4.16.2.20): :class:`SpinDownCommand` START (1) or IGNORE (2)."""

    command: SpinDownCommand
    OPCODE = ControlPointOpCode.SPIN_DOWN_CONTROL
    PARAMS = (Param("command", "B", enum=SpinDownCommand, strict=True),)


@dataclass(frozen=True, slots=True)
class TargetedCadence(ControlPointRequest):
    """0x14 Set Targeted Cadence (§4.16.2.21): uint16 at 0.5 per minute."""

    cadence_per_min: float
    OPCODE = ControlPointOpCode.SET_TARGETED_CADENCE
    PARAMS = (_p("cadence_per_min", "H", 2, " /min"),)


REQUEST_TYPES: Final[dict[int, type[ControlPointRequest]]] = {
    cls.OPCODE: cls
    for cls in (
        RequestControl,
        Reset,
        SetTargetSpeed,
        SetTargetInclination,
        SetTargetResistance,
        SetTargetPower,
        SetTargetHeartRate,
        StartOrResume,
        StopOrPause,
        TargetedExpendedEnergy,
        TargetedSteps,
        TargetedStrides,
        TargetedDistance,
        TargetedTrainingTime,
        TargetedTimeInTwoHrZones,
        TargetedTimeInThreeHrZones,
        TargetedTimeInFiveHrZones,
        IndoorBikeSimulation,
        WheelCircumference,
        SpinDownControl,
        TargetedCadence,
    )
}
"""Request class per op code."""


def parse_control_point_request(data: BytesLike) -> ControlPointRequest:
    """Read a control point write (FTMS v1.0.1 §4.16.1) as the matching request value.

    Raises :class:`ControlPointError` (a :class:`ProtocolError`) with
    ``result=OP_CODE_NOT_SUPPORTED`` for an empty write or an op code the spec does not define
    as a request, and ``result=INVALID_PARAMETER`` for a parameter of the wrong size or an RFU
    value.
    """
    data = bytes(data)
    if not data:
        raise ControlPointError(
            "empty write", data=data, opcode=None, result=ResultCode.OP_CODE_NOT_SUPPORTED
        )
    cls = REQUEST_TYPES.get(data[0])
    if cls is None:
        raise ControlPointError(
            f"op code {data[0]:#04x} is not a request the spec defines",
            data=data,
            opcode=data[0],
            result=ResultCode.OP_CODE_NOT_SUPPORTED,
        )
    return cls.parse(data)


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    """The server's answer ``80 <request op code> <result> [parameter]`` (FTMS v1.0.1 §4.16.2.22).

    ``request_opcode`` and ``result`` are enum members when known and plain ``int`` otherwise
    (RFU values still parse). ``parameter`` is the response parameter (only Spin Down Control
    defines one: see :meth:`spin_down_target_speeds_kmh`).
    """

    request_opcode: ControlPointOpCode | int
    result: ResultCode | int
    parameter: bytes = b""

    @property
    def success(self) -> bool:
        """Whether the result is Success (accepted; not proof that it was applied)."""
        return self.result == ResultCode.SUCCESS

    def build(self) -> bytes:
        """Encode as the 0x80 response indication; raises :class:`BuildError`."""
        for name, value in (("request_opcode", self.request_opcode), ("result", self.result)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise BuildError("must be an integer 0..255", field=name, value=value)
        return bytes((ControlPointOpCode.RESPONSE_CODE, self.request_opcode, self.result)) + bytes(
            self.parameter
        )

    @classmethod
    def parse(cls, data: BytesLike) -> ControlPointResponse:
        """Read a response indication (or notification); raises :class:`ProtocolError`."""
        data = bytes(data)
        if len(data) < 3 or data[0] != ControlPointOpCode.RESPONSE_CODE:
            raise ProtocolError(
                "a response is 0x80, the request op code and a result code",
                characteristic=CHARACTERISTIC,
                data=data,
            )
        opcode: ControlPointOpCode | int
        result: ResultCode | int
        try:
            opcode = ControlPointOpCode(data[1])
        except ValueError:
            opcode = data[1]
        try:
            result = ResultCode(data[2])
        except ValueError:
            result = data[2]
        return cls(opcode, result, data[3:])

    def spin_down_target_speeds_kmh(self) -> tuple[float, float] | None:
        """Low and high target speed (km/h) of a successful Spin Down Control response."""
        if (
            self.request_opcode != ControlPointOpCode.SPIN_DOWN_CONTROL
            or self.result != ResultCode.SUCCESS
            or len(self.parameter) < 4
        ):
            return None
        low = int.from_bytes(self.parameter[0:2], "little") / 100
        high = int.from_bytes(self.parameter[2:4], "little") / 100
        return low, high


def parse_control_point_response(data: BytesLike) -> ControlPointResponse:
    """Read a control point response; see :meth:`ControlPointResponse.parse`."""
    return ControlPointResponse.parse(data)


def build_control_point_response(response: ControlPointResponse) -> bytes:
    """Encode a control point response; see :meth:`ControlPointResponse.build`."""
    return response.build()


__all__ = [
    "REQUEST_TYPES",
    "ControlPointError",
    "ControlPointOpCode",
    "ControlPointRequest",
    "ControlPointResponse",
    "IndoorBikeSimulation",
    "RequestControl",
    "Reset",
    "ResultCode",
    "SetTargetHeartRate",
    "SetTargetInclination",
    "SetTargetPower",
    "SetTargetResistance",
    "SetTargetSpeed",
    "SpinDownCommand",
    "SpinDownControl",
    "StartOrResume",
    "StopControl",
    "StopOrPause",
    "TargetedCadence",
    "TargetedDistance",
    "TargetedExpendedEnergy",
    "TargetedSteps",
    "TargetedStrides",
    "TargetedTimeInFiveHrZones",
    "TargetedTimeInThreeHrZones",
    "TargetedTimeInTwoHrZones",
    "TargetedTrainingTime",
    "WheelCircumference",
    "build_control_point_response",
    "parse_control_point_request",
    "parse_control_point_response",
]
