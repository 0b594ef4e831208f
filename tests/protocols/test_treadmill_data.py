"""Treadmill Data (0x2ACD): the tolerance rules of issue 2 item 5 and the builder's validation."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import BuildError, ProtocolError
from protocols.ftms import (
    TreadmillData,
    TreadmillDataAssembler,
    build_treadmill_data,
    parse_treadmill_data,
)

TYPICAL = bytes.fromhex("84 04 64 00 14 00 00 02 00 ff ff ff 3f 00")  # Sperax: speed, dist, energy


def test_typical_84_04_record() -> None:
    rec = parse_treadmill_data(TYPICAL)
    assert rec == TreadmillData(
        speed_kmh=1.0, total_distance_m=20, total_energy_kcal=2, elapsed_time_s=63
    )


def test_bit_0_is_inverted() -> None:
    with_speed = parse_treadmill_data(bytes.fromhex("00 00 2c 01"))
    assert with_speed.speed_kmh == 3.0
    assert not with_speed.more_data
    without_speed = parse_treadmill_data(bytes.fromhex("01 00"))
    assert without_speed.more_data
    assert without_speed.speed_kmh is None
    assert not without_speed.truncated


def test_only_the_flags_is_a_truncated_record_not_an_error() -> None:
    rec = parse_treadmill_data(bytes.fromhex("84 04 64"))
    assert rec.truncated
    assert rec.speed_kmh is None
    assert rec.extra == b""


@pytest.mark.parametrize("data", [b"", b"\x84"])
def test_less_than_the_flags_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="2ACD"):
        parse_treadmill_data(data)


def test_truncated_mid_group_keeps_the_fields_before_the_cut() -> None:
    # Flags promise energy (5 bytes) and elapsed time; only total energy and half of energy/hour.
    rec = parse_treadmill_data(bytes.fromhex("84 04 64 00 14 00 00 02 00 ff"))
    assert rec.truncated
    assert (rec.speed_kmh, rec.total_distance_m, rec.total_energy_kcal) == (1.0, 20, 2)
    assert rec.energy_per_hour_kcal is None
    assert rec.elapsed_time_s is None


def test_bit_13_with_three_bytes_is_a_step_count() -> None:
    rec = parse_treadmill_data(TYPICAL[:1] + b"\x24" + TYPICAL[2:] + bytes.fromhex("39 30 01"))
    assert rec.step_count == 0x013039
    assert rec.extra == b""
    assert not rec.truncated


def test_bit_13_without_its_bytes_reads_the_spec_fields() -> None:
    rec = parse_treadmill_data(TYPICAL[:1] + b"\x24" + TYPICAL[2:])
    assert rec.step_count is None
    assert rec.elapsed_time_s == 63
    assert not rec.truncated


def test_bit_13_with_more_than_three_bytes_keeps_the_rest_as_extra() -> None:
    rec = parse_treadmill_data(TYPICAL[:1] + b"\x24" + TYPICAL[2:] + bytes.fromhex("07 00 00 aa"))
    assert rec.step_count == 7
    assert rec.extra == b"\xaa"


def test_other_trailing_bytes_are_kept_in_extra() -> None:
    rec = parse_treadmill_data(TYPICAL + b"\x01\x02")
    assert rec.extra == b"\x01\x02"
    assert rec.elapsed_time_s == 63
    assert rec.step_count is None


def test_rfu_bits_14_and_15_do_not_break_the_record() -> None:
    rec = parse_treadmill_data(bytes.fromhex("84 c4") + TYPICAL[2:] + b"\x05")
    assert rec.speed_kmh == 1.0
    assert rec.elapsed_time_s == 63
    assert rec.extra == b"\x05"


@pytest.mark.parametrize(
    ("flags", "body", "attr"),
    [
        ("08 00", "00 00 ff 7f 00 00", "inclination_pct"),
        ("08 00", "00 00 00 00 ff 7f", "ramp_angle_deg"),
        ("10 00", "00 00 ff ff 00 00", "positive_elevation_gain_m"),
        ("10 00", "00 00 ff 7f 00 00", "positive_elevation_gain_m"),  # Life Fitness
        ("10 00", "00 00 00 00 ff 7f", "negative_elevation_gain_m"),
        ("80 00", "00 00 ff ff 00 00 00", "total_energy_kcal"),
        ("80 00", "00 00 00 00 ff ff 00", "energy_per_hour_kcal"),
        ("80 00", "00 00 00 00 00 00 ff", "energy_per_minute_kcal"),
        ("00 01", "00 00 00", "heart_rate_bpm"),  # 0: no sensor
        ("00 10", "00 00 ff 7f 00 00", "force_on_belt_n"),
        ("00 10", "00 00 00 00 ff 7f", "power_output_w"),
    ],
)
def test_not_available_sentinels_read_as_none(flags: str, body: str, attr: str) -> None:
    rec = parse_treadmill_data(bytes.fromhex(flags + body))
    assert getattr(rec, attr) is None
    assert not rec.truncated
    assert rec.extra == b""
    others = [
        v
        for k, v in asdict(rec).items()
        if k not in (attr, "more_data", "truncated", "extra") and v is not None
    ]
    assert others, "the group's other values are still read"


def test_pace_is_uint8_when_the_length_fits_uint8() -> None:
    rec = parse_treadmill_data(bytes.fromhex("60 00 64 00 0a 14"))  # speed, inst + avg pace
    assert rec.instantaneous_pace_kmpmin == 1.0
    assert rec.average_pace_kmpmin == 2.0
    assert not rec.truncated


def test_pace_is_uint16_seconds_per_500m_when_only_that_length_fits() -> None:
    # 2 min per 500 m = 120 s -> 0.25 km/min; 150 s -> 0.2 km/min
    rec = parse_treadmill_data(bytes.fromhex("60 00 64 00 78 00 96 00"))
    assert rec.instantaneous_pace_kmpmin == 0.25
    assert rec.average_pace_kmpmin == 0.2
    assert not rec.truncated
    assert rec.extra == b""


def test_pace_uint16_with_vendor_step_count() -> None:
    rec = parse_treadmill_data(bytes.fromhex("20 20 64 00 78 00 05 00 00"))
    assert rec.instantaneous_pace_kmpmin == 0.25
    assert rec.step_count == 5


def test_pace_defaults_to_uint8_when_no_length_fits() -> None:
    rec = parse_treadmill_data(bytes.fromhex("20 00 64 00 0a 01 02 03"))
    assert rec.instantaneous_pace_kmpmin == 1.0
    assert rec.extra == b"\x01\x02\x03"


def test_a_34_byte_full_record() -> None:
    full = TreadmillData(
        speed_kmh=2.41,
        average_speed_kmh=2.0,
        total_distance_m=70000,
        inclination_pct=-1.5,
        ramp_angle_deg=-0.9,
        positive_elevation_gain_m=12.3,
        negative_elevation_gain_m=4.5,
        instantaneous_pace_kmpmin=0.1,
        average_pace_kmpmin=0.2,
        total_energy_kcal=150,
        energy_per_hour_kcal=300,
        energy_per_minute_kcal=5,
        heart_rate_bpm=110,
        metabolic_equivalent=3.3,
        elapsed_time_s=1800,
        remaining_time_s=600,
        force_on_belt_n=-20,
        power_output_w=75,
    )
    wire = build_treadmill_data(full)
    assert len(wire) == 34
    assert wire[:2] == bytes.fromhex("fe 1f")
    assert parse_treadmill_data(wire) == full


def test_builder_emits_the_vendor_step_counter() -> None:
    wire = build_treadmill_data(TreadmillData(speed_kmh=2.25, elapsed_time_s=37, step_count=8))
    assert wire == bytes.fromhex("00 24 e1 00 25 00 08 00 00")


def test_builder_sends_heart_rate_0_like_a_treadmill_without_a_sensor() -> None:
    wire = build_treadmill_data(TreadmillData(speed_kmh=1.0, heart_rate_bpm=0))
    assert wire == bytes.fromhex("00 01 64 00 00")
    assert parse_treadmill_data(wire).heart_rate_bpm is None


def test_builder_sends_sentinels_for_none_beside_a_value_in_the_same_group() -> None:
    wire = build_treadmill_data(TreadmillData(speed_kmh=1.0, total_energy_kcal=2))
    assert wire == bytes.fromhex("80 00 64 00 02 00 ff ff ff")


def test_builder_more_data_fragment_carries_no_speed() -> None:
    wire = build_treadmill_data(TreadmillData(more_data=True, total_distance_m=42))
    assert wire == bytes.fromhex("05 00 2a 00 00")


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (TreadmillData(speed_kmh=-0.1), "speed_kmh"),
        (TreadmillData(speed_kmh=655.36), "speed_kmh"),
        (TreadmillData(speed_kmh=float("nan")), "speed_kmh"),
        (TreadmillData(speed_kmh=1.0, total_distance_m=-1), "total_distance_m"),
        (TreadmillData(speed_kmh=1.0, total_distance_m=1 << 24), "total_distance_m"),
        (TreadmillData(speed_kmh=1.0, inclination_pct=3276.7), "inclination_pct"),
        (TreadmillData(speed_kmh=1.0, inclination_pct=-3276.9), "inclination_pct"),
        (TreadmillData(speed_kmh=1.0, heart_rate_bpm=256), "heart_rate_bpm"),
        (TreadmillData(speed_kmh=1.0, total_energy_kcal=0xFFFF), "total_energy_kcal"),
        (
            TreadmillData(speed_kmh=1.0, positive_elevation_gain_m=3276.7),
            "positive_elevation_gain_m",
        ),
        (TreadmillData(speed_kmh=1.0, step_count=-1), "step_count"),
        (TreadmillData(), "speed_kmh"),  # speed required without More Data
        (TreadmillData(more_data=True, speed_kmh=1.0), "speed_kmh"),
    ],
)
def test_builder_rejects_what_it_cannot_send(record: TreadmillData, field: str) -> None:
    with pytest.raises(BuildError) as excinfo:
        build_treadmill_data(record)
    assert excinfo.value.field == field
    assert field in str(excinfo.value)
    assert not isinstance(excinfo.value, ProtocolError)


# Assembler ---------------------------------------------------------------------------------------

PART_1 = build_treadmill_data(TreadmillData(more_data=True, total_distance_m=42, elapsed_time_s=9))
PART_2 = build_treadmill_data(TreadmillData(more_data=True, heart_rate_bpm=99, elapsed_time_s=10))
LAST = build_treadmill_data(TreadmillData(speed_kmh=3.5, total_energy_kcal=7))


def test_assembler_merges_a_split_record_into_one() -> None:
    assembler = TreadmillDataAssembler()
    assert assembler.feed(PART_1) is None
    assert assembler.pending
    assert assembler.feed(PART_2) is None
    merged = assembler.feed(LAST)
    assert merged == TreadmillData(
        speed_kmh=3.5,
        total_distance_m=42,
        heart_rate_bpm=99,
        elapsed_time_s=10,  # the later fragment wins
        total_energy_kcal=7,
    )
    assert not assembler.pending


def test_assembler_passes_whole_records_through() -> None:
    assembler = TreadmillDataAssembler()
    assert assembler.feed(TYPICAL) == parse_treadmill_data(TYPICAL)
    assert assembler.feed(TYPICAL) == parse_treadmill_data(TYPICAL)


def test_assembler_reset_drops_a_partial_record() -> None:
    assembler = TreadmillDataAssembler()
    assert assembler.feed(PART_1) is None
    assembler.reset()  # the link dropped
    assert not assembler.pending
    record = assembler.feed(LAST)
    assert record == parse_treadmill_data(LAST)
    assert record is not None
    assert record.total_distance_m is None


def test_assembler_drops_a_partial_record_on_unreadable_data() -> None:
    assembler = TreadmillDataAssembler()
    assembler.feed(PART_1)
    with pytest.raises(ProtocolError):
        assembler.feed(b"\x00")
    assert not assembler.pending
    record = assembler.feed(LAST)
    assert record is not None
    assert record.total_distance_m is None


def test_assembler_keeps_truncation_and_extra_of_all_fragments() -> None:
    assembler = TreadmillDataAssembler()
    assembler.feed(PART_1 + b"\xee")
    merged = assembler.feed(bytes.fromhex("84 04 64 00 14"))
    assert merged is not None
    assert merged.truncated
    assert merged.extra == b"\xee"


# Which flag bit announces each field (bit 0 inverted; bit 13 the vendor step count).
FIELD_BITS = {
    "speed_kmh": 0,
    "average_speed_kmh": 1,
    "total_distance_m": 2,
    "inclination_pct": 3,
    "ramp_angle_deg": 3,
    "positive_elevation_gain_m": 4,
    "negative_elevation_gain_m": 4,
    "instantaneous_pace_kmpmin": 5,
    "average_pace_kmpmin": 6,
    "total_energy_kcal": 7,
    "energy_per_hour_kcal": 7,
    "energy_per_minute_kcal": 7,
    "heart_rate_bpm": 8,
    "metabolic_equivalent": 9,
    "elapsed_time_s": 10,
    "remaining_time_s": 11,
    "force_on_belt_n": 12,
    "power_output_w": 12,
    "step_count": 13,
}


@given(st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_no_value_without_its_flag(flags: int, body: bytes) -> None:
    """Whatever arrives, a value is only ever read where the flags announce it."""
    rec = parse_treadmill_data(flags.to_bytes(2, "little") + body)
    present = flags ^ 1
    assert set(FIELD_BITS) == {
        name for name in asdict(rec) if name not in ("more_data", "truncated", "extra")
    }
    for name, bit in FIELD_BITS.items():
        if getattr(rec, name) is not None:
            assert present & (1 << bit), name
    assert rec.more_data == bool(flags & 1)
    assert len(rec.extra) <= len(body)
    if rec.truncated:
        assert rec.extra == b""
