"""build -> parse round trips are exact on the wire grid, for every characteristic (hypothesis)."""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.ftms import (
    REQUEST_TYPES,
    STATUS_TYPES,
    ControlPointOpCode,
    ControlPointRequest,
    ControlPointResponse,
    FitnessMachineFeature,
    FitnessMachineFeatures,
    FitnessMachineType,
    InclinationRange,
    MachineStatus,
    ResultCode,
    ServiceData,
    SpeedRange,
    TargetSettingFeature,
    TrainingStatus,
    TrainingStatusCode,
    TreadmillData,
    TreadmillDataAssembler,
    UnknownMachineStatus,
    build_features,
    build_inclination_range,
    build_machine_status,
    build_service_data,
    build_speed_range,
    build_training_status,
    build_treadmill_data,
    parse_control_point_request,
    parse_control_point_response,
    parse_features,
    parse_inclination_range,
    parse_machine_status,
    parse_service_data,
    parse_speed_range,
    parse_training_status,
    parse_treadmill_data,
)
from protocols.heart_rate import (
    HeartRateMeasurement,
    build_heart_rate_measurement,
    parse_heart_rate_measurement,
)
from tests.protocols.strategies import on_grid, request_of, status_of, treadmill_records

_FLAGS = ("more_data", "truncated", "extra")


@given(treadmill_records())
def test_treadmill_data_round_trip(record: TreadmillData) -> None:
    assert parse_treadmill_data(build_treadmill_data(record)) == record


@given(st.floats(0, 655.35), st.floats(-3276.8, 3276.6))
def test_treadmill_data_rounds_to_the_wire_resolution(speed: float, incline: float) -> None:
    back = parse_treadmill_data(
        build_treadmill_data(TreadmillData(speed_kmh=speed, inclination_pct=incline))
    )
    assert back.speed_kmh is not None
    assert back.inclination_pct is not None
    assert math.isclose(back.speed_kmh, speed, abs_tol=0.005 + 1e-9)
    assert math.isclose(back.inclination_pct, incline, abs_tol=0.05 + 1e-9)


@pytest.mark.parametrize("cls", list(REQUEST_TYPES.values()), ids=lambda c: c.__name__)
@given(data=st.data())
def test_control_point_request_round_trip(
    cls: type[ControlPointRequest], data: st.DataObject
) -> None:
    request = data.draw(request_of(cls))
    wire = request.build()
    assert wire[0] == cls.OPCODE
    assert parse_control_point_request(wire) == request
    assert cls.parse(wire) == request


@given(
    st.sampled_from(list(ControlPointOpCode)) | st.integers(0, 0xFF),
    st.sampled_from(list(ResultCode)) | st.integers(0, 0xFF),
    st.binary(max_size=17),
)
def test_control_point_response_round_trip(opcode: int, result: int, parameter: bytes) -> None:
    response = ControlPointResponse(opcode, result, parameter)
    back = parse_control_point_response(response.build())
    assert back == response
    assert int(back.request_opcode) == int(opcode)
    assert int(back.result) == int(result)


@pytest.mark.parametrize("cls", list(STATUS_TYPES.values()), ids=lambda c: c.__name__)
@given(data=st.data())
def test_machine_status_round_trip(cls: type[MachineStatus], data: st.DataObject) -> None:
    status = data.draw(status_of(cls))
    assert parse_machine_status(build_machine_status(status)) == status


@given(
    st.integers(0, 0xFE).filter(lambda c: c not in STATUS_TYPES),
    st.binary(max_size=17),
)
def test_unknown_machine_status_round_trip(code: int, parameter: bytes) -> None:
    status = UnknownMachineStatus(code, parameter)
    assert parse_machine_status(build_machine_status(status)) == status


@given(
    st.sampled_from(list(TrainingStatusCode)) | st.integers(0x10, 0xFF),
    st.none() | st.text(st.characters(codec="utf-8"), max_size=20),
    st.booleans(),
)
def test_training_status_round_trip(code: int, string: str | None, extended: bool) -> None:
    value = TrainingStatus(code, string, extended)
    wire = build_training_status(value)
    assert parse_training_status(wire) == value
    assert wire[2:] == (string or "").encode()


@given(on_grid(0, 0xFFFF, 100), on_grid(0, 0xFFFF, 100), on_grid(0, 0xFFFF, 100))
def test_speed_range_round_trip(a: float, b: float, inc: float) -> None:
    value = SpeedRange(min(a, b), max(a, b), inc)
    assert parse_speed_range(build_speed_range(value)) == value


@given(on_grid(-0x8000, 0x7FFF, 10), on_grid(-0x8000, 0x7FFF, 10), on_grid(0, 0xFFFF, 10))
def test_inclination_range_round_trip(a: float, b: float, inc: float) -> None:
    value = InclinationRange(min(a, b), max(a, b), inc)
    assert parse_inclination_range(build_inclination_range(value)) == value


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_features_round_trip(machine: int, target: int) -> None:
    value = FitnessMachineFeatures(FitnessMachineFeature(machine), TargetSettingFeature(target))
    assert parse_features(build_features(value)) == value


@given(st.booleans(), st.integers(0, 0xFF))
def test_service_data_round_trip(available: bool, types: int) -> None:
    value = ServiceData(available, FitnessMachineType(types))
    assert parse_service_data(build_service_data(value)) == value


@given(
    st.integers(0, 0xFFFF),
    st.none() | st.booleans(),
    st.none() | st.integers(0, 0xFFFF),
    st.lists(on_grid(0, 0xFFFF, 1024), max_size=8).map(tuple),
)
def test_heart_rate_round_trip(
    bpm: int, contact: bool | None, energy: int | None, rr: tuple[float, ...]
) -> None:
    value = HeartRateMeasurement(bpm, contact, energy, rr)
    assert parse_heart_rate_measurement(build_heart_rate_measurement(value)) == value


@given(treadmill_records(with_extra=False), st.data())
def test_a_record_split_into_more_data_fragments_merges_back(
    record: TreadmillData, data: st.DataObject
) -> None:
    """FTMS v1.0.1 §4.19: any partition of a record's fields over fragments merges back."""
    record = replace(record, more_data=False, speed_kmh=record.speed_kmh or 0.0)
    names = [n for n, v in asdict(record).items() if v is not None and n not in _FLAGS]
    parts = data.draw(st.integers(1, 4))
    owner = {n: data.draw(st.integers(0, parts - 1)) for n in names if n != "speed_kmh"}
    assembler = TreadmillDataAssembler()
    for index in range(parts):
        last = index == parts - 1
        fields = {n: getattr(record, n) for n, o in owner.items() if o == index}
        fragment = TreadmillData(
            more_data=not last, speed_kmh=record.speed_kmh if last else None, **fields
        )
        result = assembler.feed(build_treadmill_data(fragment))
        assert (result is None) is not last
    assert result == record
    assert not assembler.pending
