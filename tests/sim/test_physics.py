"""Belt physics: ramps, coasting, incline motor, counters (sans-IO, injected time)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retro_treadmill.sim.personalities import PERSONALITIES
from retro_treadmill.sim.physics import BeltModel, MotorSpec, RunState, walking_kcal_per_hour
from retro_treadmill.units import mph_to_kmh

URQ = PERSONALITIES["urevo-e1l"].motor


def test_urevo_belt_accelerates_in_016_kmh_steps_every_03_s() -> None:
    belt = BeltModel(URQ, now=0.0)
    belt.start(now=0.0)  # heads for the minimum speed 0.96 km/h
    steps = belt.advance(now=10.0)
    assert steps[:3] == pytest.approx([0.16, 0.32, 0.48])
    assert belt.belt_speed_kmh == pytest.approx(0.96)
    belt.set_target_speed(2.0, now=10.0)
    # the target snaps to the nearest 0.1 mph: 1.2 mph = 1.93 km/h
    assert belt.target_speed_kmh == pytest.approx(mph_to_kmh(1.2), abs=0.01)
    assert belt.advance(now=10.29) == []
    assert belt.advance(now=10.31) == pytest.approx([1.12])
    belt.advance(now=13.0)
    assert belt.belt_speed_kmh == pytest.approx(belt.target_speed_kmh)


def test_belt_coasts_down_after_stop_while_elapsed_time_keeps_counting() -> None:
    belt = BeltModel(MotorSpec(), now=0.0)
    belt.set_target_speed(3.0, now=0.0)
    belt.start(now=0.0)
    belt.advance(now=5.0)
    assert belt.belt_speed_kmh == pytest.approx(3.0)
    belt.stop(now=5.0)
    assert belt.state is RunState.STOPPED
    belt.advance(now=6.0)
    assert 1.5 < belt.belt_speed_kmh < 2.5  # 1 km/h per second deceleration
    elapsed_while_coasting = belt.elapsed_s
    belt.advance(now=9.0)
    assert belt.belt_speed_kmh == 0.0
    assert belt.elapsed_s > elapsed_while_coasting
    frozen = belt.elapsed_s
    belt.advance(now=20.0)
    assert belt.elapsed_s == frozen  # standing still: the clock stops


def test_distance_and_energy_follow_speed() -> None:
    belt = BeltModel(MotorSpec(accel_step_kmh=10.0), now=0.0)
    belt.set_target_speed(3.6, now=0.0)  # 1 m/s
    belt.start(now=0.0)
    belt.advance(now=0.1)
    belt.advance(now=100.1)
    assert belt.distance_m == pytest.approx(100.0, abs=0.5)
    assert belt.energy_kcal == pytest.approx(walking_kcal_per_hour(3.6, 0.0, 70.0) / 36, rel=0.02)


def test_incline_motor_moves_at_its_rate_and_a_machine_without_one_never_moves() -> None:
    belt = BeltModel(MotorSpec(incline_rate_pct_per_s=0.5), now=0.0)
    belt.set_target_incline(3.0, now=0.0)
    belt.advance(now=2.0)
    assert belt.incline_pct == pytest.approx(1.0)
    belt.advance(now=10.0)
    assert belt.incline_pct == pytest.approx(3.0)
    flat = BeltModel(URQ, now=0.0)
    flat.set_target_incline(3.0, now=0.0)
    flat.advance(now=60.0)
    assert flat.incline_pct == 0.0


def test_pause_keeps_the_target_and_resume_returns_to_it() -> None:
    belt = BeltModel(MotorSpec(), now=0.0)
    belt.set_target_speed(2.5, now=0.0)
    belt.start(now=0.0)
    belt.advance(now=5.0)
    belt.stop(now=5.0, pause=True)
    belt.advance(now=10.0)
    assert belt.state is RunState.PAUSED
    assert belt.belt_speed_kmh == 0.0
    belt.start(now=10.0)
    belt.advance(now=15.0)
    assert belt.belt_speed_kmh == pytest.approx(2.5)


def test_halt_stops_the_belt_at_once() -> None:
    belt = BeltModel(MotorSpec(), now=0.0)
    belt.start(now=0.0)
    belt.advance(now=3.0)
    belt.halt(now=3.0)
    assert belt.belt_speed_kmh == 0.0
    assert belt.state is RunState.STOPPED


commands = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0),  # time until the command
        st.sampled_from(["start", "stop", "pause", "speed", "incline", "halt", "bump"]),
        st.floats(min_value=-20.0, max_value=30.0),  # the command's value
    ),
    max_size=30,
)


def test_quantizing_never_leaves_the_speed_range() -> None:
    urevo = BeltModel(URQ, now=0.0)
    assert urevo.quantize_speed(6.43) <= 6.43  # 4.0 mph would be 6.44 km/h
    assert urevo.quantize_speed(0.96) >= 0.96
    lenient = BeltModel(PERSONALITIES["lenient"].motor, now=0.0)
    assert lenient.quantize_speed(5.9) == 6.0
    assert lenient.quantize_speed(1.1) == 1.0


@settings(max_examples=300, deadline=None)
@given(commands, st.sampled_from(sorted(PERSONALITIES)))
def test_belt_invariants_under_random_commands(
    script: list[tuple[float, str, float]], personality: str
) -> None:
    spec = PERSONALITIES[personality].motor
    belt = BeltModel(spec, now=0.0)
    now = 0.0
    distance = 0.0
    for wait, command, value in script:
        now += wait
        before = belt.belt_speed_kmh
        steps = belt.advance(now)
        for previous, current in zip([before, *steps], steps, strict=False):
            assert abs(current - previous) <= max(spec.accel_step_kmh, spec.decel_step_kmh) + 1e-9
        assert 0.0 <= belt.belt_speed_kmh <= spec.max_speed_kmh + 1e-9
        assert belt.target_speed_kmh <= spec.max_speed_kmh + 1e-9
        assert belt.distance_m >= distance
        distance = belt.distance_m
        if command == "start":
            belt.start(now)
        elif command in ("stop", "pause"):
            belt.stop(now, pause=command == "pause")
        elif command == "speed":
            belt.set_target_speed(belt.clamp_speed(abs(value)), now)
        elif command == "incline":
            belt.set_target_incline(belt.clamp_incline(value), now)
        elif command == "halt":
            belt.halt(now)
        else:
            belt.bump_speed(value / 10, now)
    if belt.state is not RunState.RUNNING:
        # whatever happened, a stopped belt is at a standstill within max / decel-rate seconds
        coast = spec.max_speed_kmh / spec.decel_step_kmh * spec.decel_interval_s + 1.0
        belt.advance(now + coast)
        assert belt.belt_speed_kmh == 0.0


def test_walking_uphill_gains_elevation() -> None:
    belt = BeltModel(MotorSpec(accel_step_kmh=10.0, incline_rate_pct_per_s=100.0), now=0.0)
    belt.set_target_incline(5.0, now=0.0)
    belt.set_target_speed(3.6, now=0.0)
    belt.start(now=0.0)
    belt.advance(now=0.2)
    belt.advance(now=200.2)
    assert belt.elevation_gain_m == pytest.approx(10.0, abs=0.1)  # 200 m at 5 %
    assert belt.elevation_loss_m == 0.0


def test_reset_clears_every_workout_counter() -> None:
    belt = BeltModel(MotorSpec(accel_step_kmh=10.0, incline_rate_pct_per_s=100.0), now=0.0)
    belt.set_target_incline(5.0, now=0.0)
    belt.set_target_speed(3.6, now=0.0)
    belt.start(now=0.0)
    belt.advance(now=60.0)
    fresh = BeltModel(belt.spec, now=60.0)
    counters = ("elapsed_s", "distance_m", "energy_kcal", "step_count", "elevation_gain_m")
    assert all(getattr(belt, name) > 0 for name in counters)
    belt.reset(now=60.0)
    assert belt.state is RunState.IDLE
    assert belt.target_incline_pct == 0.0
    for name in (*counters, "elevation_loss_m"):
        assert getattr(belt, name) == getattr(fresh, name) == 0.0, name
