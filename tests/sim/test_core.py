"""Control-point logic of the virtual treadmill per personality (sans-IO, FTMS §4.16)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.ftms import parse_treadmill_data
from retro_treadmill.errors import ConfigError
from retro_treadmill.sim.core import CONSOLE, Send, TreadmillCore
from retro_treadmill.sim.personalities import PERSONALITIES, get_personality

A, B = "client-a", "client-b"


def core(name: str = "spec") -> TreadmillCore:
    return TreadmillCore(PERSONALITIES[name], now=0.0)


def result(c: TreadmillCore, data: bytes, client: str = A, now: float = 0.0) -> int:
    return c.control_point(client, data, now).result


def test_spec_enforces_control_and_answers_with_result_codes() -> None:
    c = core()
    assert result(c, b"\x07") == 0x05  # Start without control: Control Not Permitted
    assert result(c, b"\x00") == 0x01
    assert result(c, b"\x07") == 0x01
    assert result(c, b"\x07") == 0x04  # already running: Operation Failed
    assert result(c, b"\x02\xff\xff") == 0x03  # 655 km/h: outside the range
    assert result(c, b"\x02\x01") == 0x03  # malformed parameter
    assert result(c, b"\x11\x00\x00\x00\x00\x00\x00") == 0x02  # indoor bike simulation
    assert result(c, b"\x08\x01") == 0x01
    assert result(c, b"\x08\x01") == 0x04  # already stopped
    assert result(c, b"\x07", client=B) == 0x05


def test_response_bytes_and_status_notifications() -> None:
    c = core()
    c.control_point(A, b"\x00", 0.0)
    out = c.control_point(A, b"\x02\x2c\x01", 0.0)
    assert out.response == bytes.fromhex("80 02 01")
    assert Send("2ADA", bytes.fromhex("05 2c 01")) in out.sends
    start = c.control_point(A, b"\x07", 0.0)
    assert Send("2ADA", b"\x04") in start.sends
    assert Send("2AD3", bytes.fromhex("00 0d")) in start.sends


def test_lenient_accepts_everything_without_control_and_clamps() -> None:
    c = core("lenient")
    assert result(c, b"\x07") == 0x01
    assert result(c, b"\x07") == 0x01  # repeated Start: Success (CITYSPORTS)
    assert result(c, b"\x02\x10\x27") == 0x01  # 100 km/h clamped to 6.0
    assert c.model.target_speed_kmh == pytest.approx(6.0)
    statuses = c.control_point(A, b"\x08\x02", 1.0).sends
    assert Send("2ADA", bytes.fromhex("02 02 00 00")) in statuses  # zero padding


def test_another_client_taking_control_sends_ff_to_the_old_holder() -> None:
    c = core()
    c.control_point(A, b"\x00", 0.0)
    out = c.control_point(B, b"\x00", 0.0)
    assert Send("2ADA", b"\xff", to=A) in out.sends
    assert result(c, b"\x07", client=A) == 0x05
    assert c.take_control() == [Send("2ADA", b"\xff", to=B)]
    assert c.controller == CONSOLE


def test_reset_and_disconnect_revoke_control() -> None:
    c = core()
    c.control_point(A, b"\x00", 0.0)
    assert result(c, b"\x01") == 0x01
    assert result(c, b"\x07") == 0x05
    c.control_point(A, b"\x00", 0.0)
    c.disconnected(A, 1.0)
    assert c.controller is None


def test_mph_confused_runs_the_belt_1609_times_faster() -> None:
    c = core("mph-confused")
    c.control_point(A, b"\x00", 0.0)
    c.control_point(A, b"\x07", 0.0)
    c.control_point(A, (b"\x02" + (200).to_bytes(2, "little")), 0.0)  # "2.00 km/h"
    assert c.model.target_speed_kmh == pytest.approx(3.2, abs=0.05)


def test_ignores_speed_says_success_and_does_nothing() -> None:
    c = core("ignores-speed")
    c.control_point(A, b"\x00", 0.0)
    c.control_point(A, b"\x07", 0.0)
    before = c.model.target_speed_kmh
    assert result(c, b"\x02\x2c\x01") == 0x01
    assert c.model.target_speed_kmh == before


def test_urevo_accepts_incline_it_cannot_do_and_streams_speed_statuses() -> None:
    c = core("urevo-e1l")
    assert result(c, b"\x03\x14\x00") == 0x01  # Set Incline 2.0 % on a flat deck
    assert c.model.target_incline_pct == 0.0
    c.control_point(A, b"\x07", 0.0)
    sends = c.tick(1.0)
    assert [s.value for s in sends][:2] == [
        bytes.fromhex("05 10 00 00 00"),
        bytes.fromhex("05 20 00 00 00"),
    ]


def test_disconnect_stops_or_keeps_the_belt_per_personality() -> None:
    for name, expected in (
        ("stops-on-disconnect", "stopped"),
        ("keeps-running-on-disconnect", "running"),
    ):
        c = core(name)
        c.control_point(A, b"\x00", 0.0)
        c.control_point(A, b"\x07", 0.0)
        c.disconnected(A, 1.0)
        assert c.model.state.value == expected


def test_safety_key_halts_and_blocks_start() -> None:
    c = core()
    c.control_point(A, b"\x00", 0.0)
    c.control_point(A, b"\x07", 0.0)
    c.tick(2.0)
    assert c.pull_safety_key(2.0)[0] == Send("2ADA", b"\x03")
    assert c.model.belt_speed_kmh == 0.0
    assert result(c, b"\x07", now=3.0) == 0x04


def test_record_modes_on_the_wire() -> None:
    split = core("split-records").telemetry(0.0)
    assert len(split) == 2
    assert split[0][0] & 0x01 == 1
    assert split[1][0] & 0x01 == 0
    matrix = core("matrix").telemetry(0.0)
    assert len(matrix) == 1
    assert len(matrix[0]) == 20
    urevo = core("urevo-e1l").telemetry(0.0)[0]
    assert int.from_bytes(urevo[:2], "little") & (1 << 13)  # vendor step counter


def test_unknown_personality_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="urevo-e1l"):
        get_personality("nope")


def test_ramp_statuses_survive_reads_that_advance_the_model() -> None:
    c = core("urevo-e1l")
    c.control_point(A, b"\x07", 0.0)
    c.model.advance(0.7)  # e.g. someone read belt_speed_kmh between ticks
    assert [s.value[:3] for s in c.tick(1.0)] == [
        bytes.fromhex("05 10 00"),
        bytes.fromhex("05 20 00"),
        bytes.fromhex("05 30 00"),
    ]


writes = st.lists(
    st.tuples(
        st.sampled_from([A, B]),
        st.one_of(
            st.binary(max_size=8),
            st.sampled_from([b"\x00", b"\x01", b"\x07", b"\x08\x01", b"\x08\x02"]),
            st.integers(0, 0xFFFF).map(lambda v: b"\x02" + v.to_bytes(2, "little")),
            st.integers(-0x8000, 0x7FFF).map(
                lambda v: b"\x03" + v.to_bytes(2, "little", signed=True)
            ),
        ),
        st.floats(min_value=0.0, max_value=3.0),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(PERSONALITIES)), writes)
def test_any_write_sequence_gets_a_well_formed_answer(
    personality: str, script: list[tuple[str, bytes, float]]
) -> None:
    c = core(personality)
    p = c.personality
    now = 0.0
    for client, data, wait in script:
        now += wait
        controller_before = c.controller
        out = c.control_point(client, data, now)
        assert out.response[0] == 0x80
        assert out.response[1] == (data[0] if data else 0)
        assert 0x01 <= out.result <= 0x05
        if out.result == 0x01 and p.enforce_control and data[:1] != b"\x00":
            assert controller_before == client
        c.tick(now)
        assert 0.0 <= c.model.belt_speed_kmh <= p.motor.max_speed_kmh + 1e-9
        assert c.model.target_speed_kmh <= p.motor.max_speed_kmh + 1e-9
        for send in out.sends:
            assert send.target in ("2ADA", "2AD3")
        for record in c.telemetry(now):
            assert parse_treadmill_data(record).more_data in (True, False)
