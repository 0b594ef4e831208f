"""Every real packet in ../shared/test-vectors/ftms_real_packets.json parses, with the values its
source states (``decoded_by_source``) and our careful reading (``decoded_ours``).

Where a source's claim and the spec disagree, :data:`WE_DIFFER` records which value we produce
and why; the test asserts our value, so a change of mind has to be made here, visibly.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from protocols import BytesLike
from protocols.ftms import (
    ControlPointRequest,
    ControlPointResponse,
    FitnessMachineFeatures,
    InclinationRange,
    MachineStatus,
    ResultCode,
    SetTargetInclination,
    SpeedRange,
    StartedOrResumedByUser,
    StopControl,
    StopOrPause,
    StoppedOrPausedByUser,
    TargetSpeedChanged,
    TrainingStatus,
    TreadmillData,
    TreadmillDataAssembler,
    parse_control_point_request,
    parse_control_point_response,
    parse_features,
    parse_inclination_range,
    parse_machine_status,
    parse_speed_range,
    parse_training_status,
    parse_treadmill_data,
)
from protocols.heart_rate import HeartRateMeasurement, parse_heart_rate_measurement

# A copy of ../shared/test-vectors/ftms_real_packets.json, so a fresh clone tests the same bytes;
# test_the_copy_matches_the_shared_vectors notices when the shared file moves on.
VECTORS = Path(__file__).resolve().parent / "vectors" / "ftms_real_packets.json"
SHARED_VECTORS = Path(
    os.environ.get(
        "FTMS_REAL_PACKETS",
        Path(__file__).resolve().parents[3] / "shared" / "test-vectors" / "ftms_real_packets.json",
    )
)

RECORDS: list[dict[str, Any]] = json.loads(VECTORS.read_text())["records"]

# Source key names -> our TreadmillData attribute names.
TREADMILL_KEYS = {
    "instantaneous_speed_kmh": "speed_kmh",
    "speed": "speed_kmh",
    "distance": "total_distance_m",
    "calories": "total_energy_kcal",
    "elapsed": "elapsed_time_s",
    "heartRate": "heart_rate_bpm",
    "vendor_step_count (non-standard, bit 13 is RFU in spec)": "step_count",
}

# (our attribute, stated value) -> (the value we produce, why it differs from what is stated).
WE_DIFFER: dict[tuple[str, object], tuple[object, str]] = {
    ("heart_rate_bpm", 0): (
        None,
        "Kettler's blog and our reading of the Urevo bytes state the raw byte 0. Treadmills send 0 "
        "when no sensor is attached (ftms-notes §3.4.3), so heart rate 0 reads as None: nobody's "
        "heart beats 0 times a minute and a safety limit must not see a number there.",
    ),
    ("negative_elevation_gain_m", 3276.7): (
        None,
        "decoded_ours gives Life Fitness's raw 0x7FFF as 3276.7 m but its own note says the device "
        "uses 0x7FFF as 'not available' in this unsigned field (ftms-notes §3.4.3): we read None.",
    ),
}
USED_DIFFERENCES: set[tuple[str, object]] = set()


def _id(record: dict[str, Any]) -> str:
    return f"{record['characteristic']}-{record['device'].split(' ')[0]}-{record['hex']}"


def _expect(attr: str, stated: object) -> object:
    if (attr, stated) in WE_DIFFER:
        USED_DIFFERENCES.add((attr, stated))
        return WE_DIFFER[(attr, stated)][0]
    return stated


def _assert_value(actual: object, expected: object, what: str) -> None:
    if isinstance(expected, float) and isinstance(actual, int | float):
        assert math.isclose(actual, expected, abs_tol=1e-9), what
    else:
        assert actual == expected, what


def _check_treadmill(hex_: str, rec: TreadmillData, stated: dict[str, Any]) -> None:
    for key, value in stated.items():
        if key in ("flags", "_notes", "author_note", "ramp_and_inclination"):
            continue
        attr = TREADMILL_KEYS.get(key, key)
        assert hasattr(rec, attr), f"unmapped source key {key!r}"
        _assert_value(getattr(rec, attr), _expect(attr, value), f"{key} of {hex_}")
    if "ramp_and_inclination" in stated:  # "0 / 0 (author unsure of order)": both are 0
        assert (rec.inclination_pct, rec.ramp_angle_deg) == (0.0, 0.0)
    if "author_note" in stated:  # "0064 = 100 -> 1.0 kph"
        assert rec.speed_kmh == 1.0
    notes: list[str] = stated.get("_notes", [])
    for note in notes:
        # "ramp_angle_deg = data-not-available sentinel 0x7FFF" and the like
        if "data-not-available sentinel" in note or "used by devices as NA" in note:
            attr = note.split(" ")[0]
            assert getattr(rec, attr) is None, note
    if "flags" in stated:  # only our own reading states flags and notes on truncation
        assert rec.truncated == any(n.startswith("truncated") for n in notes)
        raw_flags = int(stated["flags"], 16)
        assert rec.more_data == bool(raw_flags & 1)
        if raw_flags & 0x2000:
            assert rec.step_count is not None


def _parse(record: dict[str, Any], kind: type[BytesLike] = bytes) -> object:
    data = kind(bytes.fromhex(record["hex"]))
    match record["characteristic"]:
        case "0x2ACD":
            return parse_treadmill_data(data)
        case "0x2AD9" if record["direction"] == "client->server":
            return parse_control_point_request(data)
        case "0x2AD9":
            return parse_control_point_response(data)
        case "0x2ADA":
            return parse_machine_status(data)
        case "0x2AD3":
            return parse_training_status(data)
        case "0x2ACC":
            return parse_features(data)
        case "0x2AD4":
            return parse_speed_range(data)
        case "0x2AD5":
            return parse_inclination_range(data)
        case "0x2A37":
            return parse_heart_rate_measurement(data)
    raise AssertionError(f"no parser for {record['characteristic']}")


def test_the_copy_matches_the_shared_vectors() -> None:
    if not SHARED_VECTORS.exists():
        pytest.skip(f"no shared vectors at {SHARED_VECTORS} (a clone without ../shared)")
    assert json.loads(SHARED_VECTORS.read_text()) == json.loads(VECTORS.read_text())


def test_the_vector_file_covers_every_characteristic_we_parse() -> None:
    kinds = {r["characteristic"] for r in RECORDS}
    assert kinds >= {"0x2ACD", "0x2ACC", "0x2AD3", "0x2AD4", "0x2AD5", "0x2AD9", "0x2ADA", "0x2A37"}
    assert len(RECORDS) >= 39


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_real_packet_parses_to_the_stated_values(record: dict[str, Any]) -> None:
    hex_ = record["hex"]
    value = _parse(record)
    by_source: dict[str, Any] = record.get("decoded_by_source", {})
    ours: dict[str, Any] = record.get("decoded_ours", {})
    match value:
        case TreadmillData():
            _check_treadmill(hex_, value, by_source)
            _check_treadmill(hex_, value, ours)
        case FitnessMachineFeatures():
            assert int(value.machine) == int(ours["fitness_machine_features"], 16)
            assert int(value.target_setting) == int(ours["target_setting_features"], 16)
            names = {f.name.replace("_", " ").lower() for f in value.machine if f.name}
            assert names == {n.lower() for n in ours["features"]}
        case SpeedRange():
            assert (value.min_kmh, value.max_kmh, value.increment_kmh) == (
                ours["min_kmh"],
                ours["max_kmh"],
                ours["min_increment_kmh"],
            )
        case InclinationRange():
            assert (value.min_pct, value.max_pct, value.increment_pct) == (
                ours["min_pct"],
                ours["max_pct"],
                ours["min_increment_pct"],
            )
        case ControlPointRequest():
            assert int(ours["request"].split()[0], 16) == value.OPCODE
            if isinstance(value, SetTargetInclination):
                assert value.inclination_pct == ours["target_inclination_pct"]
            if isinstance(value, StopOrPause):
                assert value.control is StopControl[ours["control_information"].upper()]
            assert value.build() == bytes.fromhex(hex_), "a request must re-encode byte for byte"
        case ControlPointResponse():
            assert value.request_opcode == int(ours["response_for"].split()[0], 16)
            assert value.result == int(ours["result"].split()[0], 16) == ResultCode.SUCCESS
            assert value.build() == bytes.fromhex(hex_)
        case MachineStatus():
            assert value.opcode == int(ours["opcode"], 16)
            if isinstance(value, TargetSpeedChanged):
                assert value.speed_kmh == ours["new_target_speed_kmh"]
            if isinstance(value, StoppedOrPausedByUser):
                # Wireshark: "... Stopped or Paused by the User, Control Information: Pause (0x02)"
                assert value.control is StopControl.PAUSE
                assert ours["control_information"] == "pause"
                assert "Pause (0x02)" in by_source["wireshark_4.0.17"]
            if isinstance(value, StartedOrResumedByUser | StoppedOrPausedByUser):
                assert value.extra == bytes(len(value.extra)), "only zero padding follows"
                assert len(value.extra) == len(bytes.fromhex(hex_)) - 1 - len(value.PARAMS)
        case TrainingStatus():
            assert value.code == int(ours["status_code"], 16)
            assert value.string is None
            assert not value.extended
            if "wireshark_4.0.17" in by_source:  # "Status: Unknown (0x10)": an RFU code
                assert value.name == f"Reserved ({value.code:#04x})"
                assert f"({value.code:#04x})" in by_source["wireshark_4.0.17"]
            else:
                assert value.name == ours["status"]
        case HeartRateMeasurement():
            assert value.bpm == by_source["heartRate"] == ours["heart_rate_bpm"]
            assert value.contact_detected is ours["contact_detected"]
            assert ours["contact_supported"] is True
        case _:
            raise AssertionError(f"unexpected value {value!r}")


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_parsers_take_what_bleak_hands_over(kind: type[BytesLike]) -> None:
    for record in RECORDS:  # bleak delivers notifications as bytearray
        assert _parse(record, kind) == _parse(record)


def test_differences_from_sources_are_all_exercised() -> None:
    for record in RECORDS:
        if record["characteristic"] == "0x2ACD":
            rec = parse_treadmill_data(bytes.fromhex(record["hex"]))
            _check_treadmill(record["hex"], rec, record.get("decoded_by_source", {}))
            _check_treadmill(record["hex"], rec, record.get("decoded_ours", {}))
    assert set(WE_DIFFER) == USED_DIFFERENCES


def test_matrix_truncated_records_keep_what_was_read() -> None:
    rec = parse_treadmill_data(bytes.fromhex("9e1f5100b2005800000000ff7f0000ffff0c0097"))
    assert rec.truncated
    assert (rec.speed_kmh, rec.average_speed_kmh, rec.total_distance_m) == (0.81, 1.78, 88)
    assert rec.total_energy_kcal == 12
    assert rec.energy_per_hour_kcal is None
    assert rec.elapsed_time_s is None


def test_technogym_split_record_merges_into_one() -> None:
    assembler = TreadmillDataAssembler()
    assert assembler.feed(bytes.fromhex("1f 00 84 01 2a 00 00 00 00 00 00 01 00 00 00")) is None
    merged = assembler.feed(bytes.fromhex("80064e020200ffffff372700"))
    assert merged is not None
    assert not merged.more_data
    assert merged.speed_kmh == 5.9
    assert merged.average_speed_kmh == 3.88
    assert merged.total_distance_m == 42
    assert merged.positive_elevation_gain_m == 0.1
    assert merged.metabolic_equivalent == 5.5
    assert merged.elapsed_time_s == 39


def test_urevo_vendor_step_counter() -> None:
    rec = parse_treadmill_data(
        bytes.fromhex("8425e1000a0000010000000000250008 0000".replace(" ", ""))
    )
    assert rec.step_count == 8
    assert rec.extra == b""
    assert rec.heart_rate_bpm is None  # sent as 0: no sensor
