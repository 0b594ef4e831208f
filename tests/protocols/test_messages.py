"""Control point, machine status, training status, ranges, features, service data, heart rate:
spec byte layouts, tolerance of real-device deviations and builder validation."""

from __future__ import annotations

import pytest

from protocols import BuildError, ProtocolError
from protocols.ftms import (
    FITNESS_MACHINE_CONTROL_POINT_UUID,
    FTMS_SERVICE_UUID,
    TREADMILL_DATA_UUID,
    ControlPermissionLost,
    ControlPointError,
    ControlPointOpCode,
    ControlPointRequest,
    ControlPointResponse,
    FitnessMachineType,
    InclinationRange,
    IndoorBikeSimulation,
    MachineReset,
    MachineStatus,
    RequestControl,
    ResultCode,
    ServiceData,
    SetTargetInclination,
    SetTargetSpeed,
    SpeedRange,
    SpinDownControl,
    SpinDownStatus,
    SpinDownStatusCode,
    StartedOrResumedByUser,
    StopControl,
    StopOrPause,
    StoppedBySafetyKey,
    StoppedOrPausedByUser,
    TargetedDistance,
    TargetedTimeInFiveHrZones,
    TargetResistanceChanged,
    TargetSpeedChanged,
    TrainingStatus,
    TrainingStatusCode,
    UnknownMachineStatus,
    build_inclination_range,
    build_service_data,
    build_speed_range,
    build_training_status,
    parse_control_point_request,
    parse_control_point_response,
    parse_machine_status,
    parse_service_data,
    parse_training_status,
)
from protocols.heart_rate import (
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    HeartRateMeasurement,
    build_heart_rate_measurement,
    parse_heart_rate_measurement,
)


def test_uuids_are_full_lowercase_128_bit_strings() -> None:
    assert FTMS_SERVICE_UUID == "00001826-0000-1000-8000-00805f9b34fb"
    assert TREADMILL_DATA_UUID == "00002acd-0000-1000-8000-00805f9b34fb"
    assert FITNESS_MACHINE_CONTROL_POINT_UUID == "00002ad9-0000-1000-8000-00805f9b34fb"
    assert HEART_RATE_SERVICE_UUID == "0000180d-0000-1000-8000-00805f9b34fb"
    assert HEART_RATE_MEASUREMENT_UUID == "00002a37-0000-1000-8000-00805f9b34fb"


# Control point -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "wire"),
    [
        (RequestControl(), "00"),
        (SetTargetSpeed(2.41), "02 f1 00"),
        (SetTargetInclination(-2.5), "03 e7 ff"),
        (StopOrPause(StopControl.STOP), "08 01"),
        (StopOrPause(StopControl.PAUSE), "08 02"),
        (TargetedDistance(70000), "0c 70 11 01"),
        (TargetedTimeInFiveHrZones(1, 2, 3, 4, 5), "10 01 00 02 00 03 00 04 00 05 00"),
        (IndoorBikeSimulation(-1.5, 2.25, 0.004, 0.51), "11 24 fa e1 00 28 33"),
        (SpinDownControl.parse(b"\x13\x01"), "13 01"),
    ],
)
def test_request_bytes_follow_the_spec(request_: ControlPointRequest, wire: str) -> None:
    assert request_.build() == bytes.fromhex(wire)
    assert parse_control_point_request(bytes.fromhex(wire)) == request_


def test_set_target_speed_rounds_to_the_wire_resolution() -> None:
    assert SetTargetSpeed(1.609344).build() == bytes.fromhex("02 a1 00")  # 1 mph -> 1.61 km/h


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (SetTargetSpeed(-0.5), "speed_kmh"),
        (SetTargetSpeed(655.36), "speed_kmh"),
        (SetTargetSpeed(float("inf")), "speed_kmh"),
        (SetTargetInclination(3276.8), "inclination_pct"),
        (SetTargetInclination(-3276.9), "inclination_pct"),
        (StopOrPause(3), "control"),  # type: ignore[arg-type]
        (TargetedDistance(-1), "distance_m"),
    ],
)
def test_request_builder_rejects_bad_values_without_bytes(
    request_: ControlPointRequest, field: str
) -> None:
    with pytest.raises(BuildError) as excinfo:
        request_.build()
    assert excinfo.value.field == field
    assert not isinstance(excinfo.value, ProtocolError)


@pytest.mark.parametrize(
    ("wire", "opcode", "result"),
    [
        ("", None, ResultCode.OP_CODE_NOT_SUPPORTED),
        ("15", 0x15, ResultCode.OP_CODE_NOT_SUPPORTED),
        ("80 00 01", 0x80, ResultCode.OP_CODE_NOT_SUPPORTED),
        ("02 64", 0x02, ResultCode.INVALID_PARAMETER),
        ("02 64 00 00", 0x02, ResultCode.INVALID_PARAMETER),
        ("08", 0x08, ResultCode.INVALID_PARAMETER),
        ("08 03", 0x08, ResultCode.INVALID_PARAMETER),
        ("07 00", 0x07, ResultCode.INVALID_PARAMETER),
    ],
)
def test_bad_writes_say_how_the_server_should_answer(
    wire: str, opcode: int | None, result: ResultCode
) -> None:
    with pytest.raises(ControlPointError) as excinfo:
        parse_control_point_request(bytes.fromhex(wire))
    assert excinfo.value.opcode == opcode
    assert excinfo.value.result is result
    assert isinstance(excinfo.value, ProtocolError)


def test_the_base_classes_dispatch_on_the_op_code() -> None:
    assert ControlPointRequest.parse(b"\x08\x02") == StopOrPause(StopControl.PAUSE)
    assert MachineStatus.parse(b"\x03") == StoppedBySafetyKey()


def test_a_request_class_parses_only_its_own_op_code() -> None:
    with pytest.raises(ControlPointError):
        SetTargetSpeed.parse(bytes.fromhex("03 00 00"))


def test_response_with_unknown_op_code_and_result_keeps_the_ints() -> None:
    response = parse_control_point_response(bytes.fromhex("80 42 09"))
    assert response.request_opcode == 0x42
    assert not isinstance(response.request_opcode, ControlPointOpCode)
    assert response.result == 0x09
    assert not isinstance(response.result, ResultCode)
    assert not response.success


def test_response_success_and_spin_down_parameter() -> None:
    response = parse_control_point_response(bytes.fromhex("80 13 01 e8 03 d0 07"))
    assert response.success
    assert response.spin_down_target_speeds_kmh() == (10.0, 20.0)
    ack = ControlPointResponse(ControlPointOpCode.SET_TARGET_SPEED, ResultCode.SUCCESS)
    assert ack.build() == bytes.fromhex("80 02 01")


@pytest.mark.parametrize("wire", ["", "80", "80 00", "00 00 01"])
def test_malformed_responses_are_protocol_errors(wire: str) -> None:
    with pytest.raises(ProtocolError):
        parse_control_point_response(bytes.fromhex(wire))


def test_response_builder_rejects_out_of_range_codes() -> None:
    with pytest.raises(BuildError):
        ControlPointResponse(0x100, ResultCode.SUCCESS).build()
    with pytest.raises(BuildError):
        ControlPointResponse(0x02, -1).build()


# Machine status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("01", MachineReset()),
        ("02 01", StoppedOrPausedByUser(StopControl.STOP)),
        ("02 02 00", StoppedOrPausedByUser(StopControl.PAUSE, extra=b"\x00")),  # Urevo
        ("03", StoppedBySafetyKey()),
        ("04", StartedOrResumedByUser()),  # CITYSPORTS via the control point
        ("04 00 00", StartedOrResumedByUser(extra=b"\x00\x00")),  # Urevo, CITYSPORTS
        ("05 96 00", TargetSpeedChanged(1.5)),
        ("07 0a 00", TargetResistanceChanged(1.0)),  # SPEC: sint16
        ("07 0a", TargetResistanceChanged(1.0)),  # Wireshark / pyftms: uint8
        ("14 02", SpinDownStatus(SpinDownStatusCode.SUCCESS)),
        ("14 09", SpinDownStatus(9)),  # RFU value kept
        ("ff", ControlPermissionLost()),
        ("00", UnknownMachineStatus(0x00)),
        ("42 01 02", UnknownMachineStatus(0x42, b"\x01\x02")),
    ],
)
def test_machine_status_reads_every_kind(wire: str, expected: object) -> None:
    assert parse_machine_status(bytes.fromhex(wire)) == expected


def test_machine_status_op_codes_match_the_spec_table() -> None:
    assert StoppedBySafetyKey().opcode == 0x03
    assert ControlPermissionLost().opcode == 0xFF
    assert UnknownMachineStatus(0x42).opcode == 0x42
    assert StoppedOrPausedByUser(StopControl.PAUSE).build() == bytes.fromhex("02 02")


@pytest.mark.parametrize("wire", ["", "05", "05 96", "02", "0d 01 02"])
def test_machine_status_cut_short_is_a_protocol_error(wire: str) -> None:
    with pytest.raises(ProtocolError, match="2ADA"):
        parse_machine_status(bytes.fromhex(wire))


def test_machine_status_builder_validates() -> None:
    with pytest.raises(BuildError):
        TargetSpeedChanged(-1.0).build()
    with pytest.raises(BuildError):
        UnknownMachineStatus(0x05).build()  # 0x05 is defined: use TargetSpeedChanged


# Training status ---------------------------------------------------------------------------------


def test_training_status_rfu_codes_are_read() -> None:
    status = parse_training_status(bytes.fromhex("00 10"))
    assert status.code == 0x10
    assert status.name == "Reserved (0x10)"


def test_training_status_string_flag_without_string() -> None:
    status = parse_training_status(bytes.fromhex("01 0e"))  # CITYSPORTS
    assert status == TrainingStatus(TrainingStatusCode.PRE_WORKOUT, "", False)
    assert status.name == "Pre-Workout"


def test_training_status_string_and_extended_flag() -> None:
    status = parse_training_status(bytes.fromhex("03 0d") + b"Quick Start")
    assert status == TrainingStatus(TrainingStatusCode.MANUAL_MODE, "Quick Start", True)
    assert build_training_status(status) == bytes.fromhex("03 0d") + b"Quick Start"


def test_training_status_bad_utf8_is_replaced_not_rejected() -> None:
    assert parse_training_status(b"\x01\x01\xff").string == "\ufffd"


@pytest.mark.parametrize("wire", ["", "01"])
def test_training_status_without_a_status_byte_is_a_protocol_error(wire: str) -> None:
    with pytest.raises(ProtocolError):
        parse_training_status(bytes.fromhex(wire))


def test_training_status_builder_validates() -> None:
    with pytest.raises(BuildError):
        build_training_status(TrainingStatus(0x100))
    with pytest.raises(BuildError):
        build_training_status(TrainingStatus(1, "\ud800"))


# Ranges, features, service data ------------------------------------------------------------------


def test_range_builders_reject_bad_ranges() -> None:
    with pytest.raises(BuildError, match="min_kmh"):
        build_speed_range(SpeedRange(-1.0, 6.0, 0.1))
    with pytest.raises(BuildError, match="min_kmh"):
        build_speed_range(SpeedRange(6.0, 1.0, 0.1))
    with pytest.raises(BuildError, match="increment_pct"):
        build_inclination_range(InclinationRange(-3.0, 10.0, -0.5))
    assert build_inclination_range(InclinationRange(-3.0, 10.0, 0.5)) == bytes.fromhex(
        "e2 ff 64 00 05 00"
    )


@pytest.mark.parametrize("wire", ["01 01 00", "01 00 01", "01 01", "01 01 00 ee"])
def test_service_data_tolerates_reversed_and_short_types(wire: str) -> None:
    data = parse_service_data(bytes.fromhex(wire))
    assert data == ServiceData(True, FitnessMachineType.TREADMILL)
    assert data.is_treadmill


def test_service_data_of_an_unavailable_bike() -> None:
    data = parse_service_data(bytes.fromhex("00 20 00"))
    assert not data.available
    assert not data.is_treadmill
    assert build_service_data(data) == bytes.fromhex("00 20 00")


@pytest.mark.parametrize("wire", ["", "01"])
def test_service_data_without_a_type_is_a_protocol_error(wire: str) -> None:
    with pytest.raises(ProtocolError):
        parse_service_data(bytes.fromhex(wire))


# Heart rate --------------------------------------------------------------------------------------


def test_heart_rate_with_rr_intervals() -> None:
    hr = parse_heart_rate_measurement(bytes.fromhex("16 73 10 02 0d 02"))  # Polar H7 (TMIW)
    assert hr.bpm == 115
    assert hr.contact_detected is True
    assert hr.energy_expended_kj is None
    assert hr.rr_intervals_s == (0x0210 / 1024, 0x020D / 1024)


def test_heart_rate_uint16_with_energy() -> None:
    hr = parse_heart_rate_measurement(bytes.fromhex("09 2c 01 10 27"))
    assert hr == HeartRateMeasurement(300, None, 10000, ())
    assert build_heart_rate_measurement(hr) == bytes.fromhex("09 2c 01 10 27")


@pytest.mark.parametrize("wire", ["", "00", "01 50", "08 50 01"])
def test_heart_rate_cut_short_is_a_protocol_error(wire: str) -> None:
    with pytest.raises(ProtocolError, match="2A37"):
        parse_heart_rate_measurement(bytes.fromhex(wire))


def test_heart_rate_builder_validates() -> None:
    with pytest.raises(BuildError, match="bpm"):
        build_heart_rate_measurement(HeartRateMeasurement(-1))
    with pytest.raises(BuildError, match="rr_intervals_s"):
        build_heart_rate_measurement(HeartRateMeasurement(60, rr_intervals_s=(64.0,)))
