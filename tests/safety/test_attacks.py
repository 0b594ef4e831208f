"""Adversarial review of the governor (R3): each test is an attack that once broke a guarantee.

The oracle is the wire: what a treadmill receives is ``SetTargetSpeed(kmh).build()`` (uint16 in
0.01 km/h, FTMS 4.16.2.3), and a treadmill rounds that to its own increment (0x2AD4). Caps and
rate limits must hold for what the treadmill will actually run, not only for the float.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.ftms import SetTargetInclination, SetTargetSpeed
from retro_treadmill.safety.commands import (
    DeviceRanges,
    InclineChange,
    MachineReset,
    SetIncline,
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
    Telemetry,
    UnknownStatus,
)
from retro_treadmill.safety.governor import GovernorState
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import mph_to_kmh

from .helpers import CAP, START, ask, connected, kmh, pct, started


def wire_kmh(speed_kmh: float) -> float:
    """The speed the treadmill reads from the Set Target Speed bytes we would write."""
    raw = SetTargetSpeed(speed_kmh).build()
    return int.from_bytes(raw[1:3], "little") / 100


def device_kmh(speed_kmh: float, increment: float) -> float:
    """What a treadmill that rounds targets to its increment (like the CITYSPORTS and the virtual
    treadmill's ``lenient`` personality) runs for a Set Target Speed: nearest step."""
    return round(round(wire_kmh(speed_kmh) / increment) * increment, 2)


def test_the_wire_value_of_the_start_speed_never_rounds_above_the_start_cap() -> None:
    # 1.0 mph = 1.609344 km/h; the wire carries 0.01 km/h: round() made it 1.61 (above the cap).
    gov = connected(0.0)
    assert gov.arm(0.0).armed
    gov.handle(Telemetry(0.0), 5.0)
    assert ask(gov, Start(), 5.0).command == Start()
    decision = ask(gov, SetSpeed(START), 5.0, Source.PROFILE)
    assert decision.approved
    assert wire_kmh(kmh(decision) or 0.0) <= START


@pytest.mark.parametrize("cap_mph", [0.9, 1.1, 1.2, 1.3, 1.4, 1.5, 1.45, 1.05])
def test_the_wire_value_at_a_profile_cap_in_mph_never_rounds_above_it(cap_mph: float) -> None:
    cap = mph_to_kmh(cap_mph)
    gov = started(0.0, start_kmh=mph_to_kmh(0.8), profile_max_speed_kmh=cap)
    now, top = 0.0, 0.0
    for _ in range(20):  # ramp to the cap within the rate limit
        now += 5.0
        gov.handle(Telemetry(gov.target_speed_kmh), now)
        decision = ask(gov, SetSpeed(3.0), now)
        if decision.approved:
            top = wire_kmh(kmh(decision) or 0.0)
            assert top <= cap, f"wire {top} km/h above the cap {cap} km/h"
    assert top >= cap - 0.01  # and the ramp did reach the cap (to the wire's resolution)


def test_rate_limit_holds_for_the_wire_values() -> None:
    gov = started(0.0)
    previous = wire_kmh(gov.target_speed_kmh)
    now = 0.0
    for _ in range(5):
        now += 5.0
        gov.handle(Telemetry(gov.target_speed_kmh), now)
        decision = ask(gov, SpeedChange(1.0), now)
        assert decision.approved
        value = wire_kmh(kmh(decision) or 0.0)
        assert value - previous <= gov.limits.speed_increase_kmh + 1e-9
        previous = value


@pytest.mark.parametrize("increment", [0.1, 0.32, 0.5])
def test_a_treadmill_rounding_to_its_increment_never_runs_above_the_cap(increment: float) -> None:
    # lenient/CITYSPORTS: 1.0-6.0 km/h in 0.5 steps; 2.25 km/h was rounded UP to 2.5 > 2.41.
    ranges = DeviceRanges(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=increment)
    gov = connected(0.0, device=ranges)
    assert gov.arm(0.0).armed
    gov.handle(Telemetry(0.0), 5.0)
    assert ask(gov, Start(), 5.0).command == Start()
    now = 5.0
    belt = 0.0
    for step in range(40):
        decision = ask(gov, SetSpeed(CAP if step else START), now, Source.PROFILE)
        if decision.approved:
            new = device_kmh(kmh(decision) or 0.0, increment)
            assert new <= CAP, f"the treadmill runs {new} km/h, above the cap {CAP}"
            if step:
                assert new - belt <= gov.limits.speed_increase_kmh + 1e-9, (belt, new)
            belt = new
        gov.handle(Telemetry(belt), now)
        now += 2.5


def test_coarse_device_steps_are_refused_with_the_reason_not_stalled_silently() -> None:
    ranges = DeviceRanges(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=0.5)
    gov = connected(0.0, device=ranges)
    assert gov.arm(0.0).armed
    gov.handle(Telemetry(0.0), 5.0)
    assert ask(gov, Start(), 5.0).command == Start()
    assert kmh(ask(gov, SetSpeed(START), 5.0, Source.PROFILE)) == 1.5
    gov.handle(Telemetry(1.5), 6.0)
    decision = ask(gov, SetSpeed(CAP), 30.0)
    assert not decision.approved
    assert "0.5 km/h" in decision.reason
    assert "steps" in decision.reason


def test_a_profile_cap_below_zero_incline_does_not_open_a_decline() -> None:
    # [limits] max_incline = -2 in a profile must not lower the clinic's floor of 0 %.
    gov = started(0.0, profile_max_incline_pct=-2.0)
    for n in range(1, 10):
        decision = ask(gov, InclineChange(-0.5), 5.0 * n)
        assert not decision.approved or (decision.command.pct >= 0.0)  # type: ignore[union-attr]


def test_a_device_incline_range_below_the_floor_opens_no_decline() -> None:
    ranges = DeviceRanges(min_incline_pct=-3.0, max_incline_pct=-1.0)
    gov = started(0.0, device=ranges)
    decision = ask(gov, SetIncline(-1.0), 5.0)
    assert not decision.approved
    assert "incline" in decision.reason


@pytest.mark.parametrize("speed", [-1.0, -0.0001, -math.inf])
def test_negative_telemetry_speed_is_not_a_confirmed_standstill(speed: float) -> None:
    gov = started(0.0)
    ask(gov, SetSpeed(0.0), 1.0)  # sent as Stop
    assert gov.state is GovernorState.HALTED
    gov.handle(Telemetry(speed), 2.0)
    assert not gov.standstill
    assert not gov.arm(2.0).armed


def test_telemetry_without_a_usable_speed_does_not_feed_the_watchdog() -> None:
    gov = started(0.0)
    for n in range(1, 8):
        gov.handle(Telemetry(math.nan, 0.0), 0.5 * n)
        gov.handle(Telemetry(None, 0.0), 0.5 * n)
    actions = gov.tick(3.5)
    assert actions.commands, "3 s without a usable speed while running must stop the belt"
    assert gov.state is GovernorState.HALTED


def test_limits_that_leave_no_start_speed_are_caught() -> None:
    limits = SafetyLimits(min_running_speed_kmh=mph_to_kmh(1.2))
    gov = connected(0.0, limits=limits)
    result = gov.arm(0.0)
    assert not result.armed
    assert "minimum running speed" in result.reason


def test_arming_needs_fresh_telemetry_not_a_standstill_seen_long_ago() -> None:
    gov = connected(0.0)  # belt seen at 0 km/h at t=0, then Treadmill Data stops coming
    result = gov.arm(60.0)
    assert not result.armed
    assert "Treadmill Data" in result.reason
    gov.handle(Telemetry(0.0), 61.0)
    assert gov.arm(61.0).armed


def test_start_after_the_countdown_needs_fresh_telemetry() -> None:
    gov = connected(0.0)
    assert gov.arm(0.0).armed
    decision = ask(gov, Start(), 5.0, Source.PROFILE)  # no Treadmill Data during the countdown
    assert not decision.approved
    assert "Treadmill Data" in decision.reason
    assert gov.state is not GovernorState.RUNNING


def test_every_governor_alarm_kind_has_a_tui_alarm_kind() -> None:
    # tui/adapt.py converts with AlarmKind(alarm.kind.value): a kind missing there would raise
    # in the UI at the worst moment (the alarm screen).
    from retro_treadmill.safety.commands import AlarmKind
    from retro_treadmill.tui.model import AlarmKind as UiAlarmKind

    assert {k.value for k in AlarmKind} <= {k.value for k in UiAlarmKind}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_broken_clock_fails_closed(bad: float) -> None:
    # now = NaN made every deadline comparison False: the countdown passed at once and the
    # watchdogs never fired.
    gov = connected(0.0)
    assert gov.arm(0.0).armed
    decision = ask(gov, Start(), bad, Source.PROFILE)
    assert isinstance(decision.command, Stop)  # replaced by Stop: fail closed
    assert "clock" in decision.reason
    assert not gov.arm(bad).armed
    running = started(0.0)
    actions = running.tick(bad)
    assert actions.commands, "a tick with a broken clock must stop the belt"
    assert running.state is GovernorState.HALTED
    running = started(0.0)
    actions = running.handle(Telemetry(1.0), bad)
    assert actions.commands
    assert running.state is GovernorState.HALTED
    stop = ask(running, SetSpeed(1.0), bad)
    assert not isinstance(stop.command, SetSpeed)


@pytest.mark.parametrize(
    ("event", "words"),
    [(MachineReset(), "reset"), (UnknownStatus(0x42), "0x42")],
)
def test_a_machine_reset_or_an_unknown_status_while_running_fails_closed(
    event: MachineReset | UnknownStatus, words: str
) -> None:
    # FTMS 4.17: 0x01 Reset revokes control and resets targets; 0x16-0xFE are reserved: the
    # treadmill's state is not known -> Stop, alarm, re-arm needed.
    gov = started(0.0)
    actions = gov.handle(event, 1.0)
    assert actions.commands
    assert isinstance(actions.commands[0], Stop)
    assert actions.alarms
    assert words in actions.alarms[0].message
    assert gov.state is GovernorState.HALTED
    assert not ask(gov, SetSpeed(START), 2.0).approved


def test_an_unknown_status_at_a_confirmed_standstill_only_needs_a_rearm() -> None:
    gov = connected(0.0)
    actions = gov.handle(UnknownStatus(0x42), 1.0)
    assert gov.state is GovernorState.HALTED
    assert not actions.commands or isinstance(actions.commands[0], Stop)


def test_an_increase_the_steps_swallow_is_refused_with_the_reason_not_approved_silently() -> None:
    ranges = DeviceRanges(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=0.5)
    gov = started(0.0, device=ranges)
    assert gov.target_speed_kmh == 1.5
    down = ask(gov, SpeedChange(-0.16), 1.0)
    assert kmh(down) == 1.0  # a decrease goes to the step below
    gov.handle(Telemetry(1.0), 2.0)
    up = ask(gov, SpeedChange(0.16), 10.0)  # '+': 1.16 km/h is not a step of this treadmill
    assert not up.approved
    assert "steps of 0.5 km/h" in up.reason


def wire_pct(pct: float) -> float:
    """The incline the treadmill reads from the Set Target Inclination bytes (0.1 %)."""
    raw = SetTargetInclination(pct).build()
    return int.from_bytes(raw[1:3], "little", signed=True) / 10


def test_the_wire_incline_never_rounds_above_a_cap_or_past_the_rate_limit() -> None:
    gov = started(0.0, profile_max_incline_pct=1.96)
    sent = [wire_pct(pct(ask(gov, SetIncline(0.33), 0.1)) or 0.0)]  # a ramp value off the grid
    for n in range(1, 8):
        decision = ask(gov, SetIncline(3.0), 5.0 * n + 0.2)
        if decision.approved:
            sent.append(wire_pct(pct(decision) or 0.0))
    assert max(sent) <= 1.96
    assert all(b - a <= 0.5 + 1e-9 for a, b in itertools.pairwise(sent)), sent


def test_a_speed_between_steps_runs_on_the_nearest_step_never_above_a_limit() -> None:
    """0.8 mph on 0.1 km/h steps runs as 1.3 km/h (0.81 mph), not 1.2 (0.75 mph, the old
    rounding down, 0.05 mph slow); 1.5 mph (the cap, 2.414 km/h) still runs as 2.4, never 2.5;
    a decrease goes down to a step, never back up."""
    ranges = DeviceRanges(min_speed_kmh=0.5, max_speed_kmh=12.0, speed_increment_kmh=0.1)
    gov = started(0.0, start_kmh=mph_to_kmh(0.8), device=ranges)
    assert gov.target_speed_kmh == 1.3
    t = 0.0
    for _ in range(20):
        t += 5.0
        gov.handle(Telemetry(gov.target_speed_kmh, 0.0), t)
        ask(gov, SetSpeed(CAP), t, Source.PROFILE)
    assert gov.target_speed_kmh == 2.4
    t += 5.0
    assert kmh(ask(gov, SetSpeed(2.36), t)) == 2.4  # nearest is the target: no change
    assert kmh(ask(gov, SpeedChange(-0.05), t)) == 2.3  # the "-" key goes to the step below


@given(
    step=st.sampled_from([0.1, 0.16, 0.2, 0.32, 0.5]),
    request_mph=st.floats(min_value=0.5, max_value=1.5),
)
@settings(max_examples=200, deadline=None)
def test_every_speed_sent_is_within_half_a_step_and_never_above_a_limit(
    step: float, request_mph: float
) -> None:
    ranges = DeviceRanges(min_speed_kmh=0.3, max_speed_kmh=6.0, speed_increment_kmh=step)
    gov = started(0.0, start_kmh=mph_to_kmh(0.6), device=ranges)
    t = 0.0
    request = mph_to_kmh(request_mph)
    for _ in range(40):  # walk up (or down) to it within the rate limit
        t += 5.0
        gov.handle(Telemetry(gov.target_speed_kmh, 0.0), t)
        ask(gov, SetSpeed(request), t, Source.PROFILE)
        sent = gov.target_speed_kmh
        assert sent <= gov.caps.max_speed_kmh + 1e-9
        assert round(sent * 100) % round(gov.caps.speed_step_kmh * 100) == 0
    final = gov.target_speed_kmh
    half = gov.caps.speed_step_kmh / 2 + 1e-6
    if request <= gov.caps.max_speed_kmh:
        assert abs(final - request) <= half or final < gov.caps.min_running_speed_kmh + 2 * half
    else:
        assert final <= gov.caps.max_speed_kmh
