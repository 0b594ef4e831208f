"""The safety governor, one test (or more) per row of DESIGN's "Safety defaults" table."""

from __future__ import annotations

import pytest

from retro_treadmill.safety.commands import (
    Alarm,
    AlarmKind,
    ConsoleStarted,
    ConsoleStopped,
    ControlLost,
    DeviceRanges,
    HeartRate,
    InclineChange,
    LinkLost,
    LinkUp,
    Pause,
    SafetyKeyStop,
    SetIncline,
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
    TargetSpeedChanged,
    Telemetry,
    Verdict,
)
from retro_treadmill.safety.governor import GovernorState, SafetyGovernor
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import mph_to_kmh

from .helpers import CAP, START, ask, connected, is_stop, kmh, pct, started

STEP = mph_to_kmh(0.1)


def ramp_to(gov: SafetyGovernor, kmh: float, now: float) -> float:
    """Raise the speed in allowed steps (one per 5 s, telemetry following) up to ``kmh`` (as far as
    the 0.01 km/h wire resolution goes: speeds are rounded down to it)."""
    while gov.target_speed_kmh < gov.speed_on_grid(kmh) - 1e-9:
        now += 5.0
        d = ask(gov, SetSpeed(kmh), now, Source.PROFILE)
        assert d.command is not None, d.reason
        gov.handle(Telemetry(gov.target_speed_kmh), now)
    return now


# ---------------------------------------------------------------- caps


def test_speed_cap_lowest_of_device_clinic_and_profile_wins() -> None:
    gov = connected(device=DeviceRanges(min_speed_kmh=0.8, max_speed_kmh=2.2))
    assert gov.caps.max_speed_kmh == pytest.approx(2.2)
    assert gov.caps.max_speed_source == "the device maximum"
    gov = connected(profile_max_speed_kmh=2.0)
    assert gov.caps.max_speed_kmh == pytest.approx(2.0)
    assert gov.caps.max_speed_source == "the profile cap"
    gov = connected(limits=SafetyLimits(max_speed_kmh=1.9), profile_max_speed_kmh=2.0)
    assert gov.caps.max_speed_kmh == pytest.approx(1.9)
    assert gov.caps.max_speed_source == "the safety cap"


def test_speed_above_cap_is_clamped_then_rejected_at_the_cap() -> None:
    gov = started()
    now = ramp_to(gov, CAP, 0.0)
    assert gov.target_speed_kmh == pytest.approx(CAP, abs=0.02)
    assert gov.target_speed_kmh <= CAP
    d = ask(gov, SetSpeed(CAP + STEP), now + 10)
    assert d.verdict is Verdict.REJECTED
    assert "exceeds the safety cap 1.50 mph" in d.reason
    d = ask(gov, SpeedChange(STEP), now + 20)
    assert d.verdict is Verdict.REJECTED


def test_speed_request_above_cap_is_replaced_by_the_cap_when_rate_allows() -> None:
    gov = started(profile_max_speed_kmh=START + 0.1)
    d = ask(gov, SetSpeed(CAP), 5.0)
    assert d.verdict is Verdict.REPLACED
    assert kmh(d) == pytest.approx(START + 0.1, abs=0.02)
    assert "profile cap" in d.reason


def test_incline_cap_and_minimum() -> None:
    gov = started(limits=SafetyLimits(max_incline_pct=0.3))
    d = ask(gov, SetIncline(5.0), 1.0)
    assert d.verdict is Verdict.REPLACED
    assert pct(d) == pytest.approx(0.3)
    assert "safety cap 0.3 %" in d.reason
    assert ask(gov, SetIncline(1.0), 30.0).verdict is Verdict.REJECTED
    d = ask(gov, SetIncline(-2.0), 40.0)
    assert pct(d) == pytest.approx(0.0)


def test_negative_speed_is_never_commanded() -> None:
    gov = started()
    d = ask(gov, SetSpeed(-1.0), 1.0)
    assert d.verdict is Verdict.REJECTED
    assert d.command is None
    assert "negative" in d.reason
    d = ask(gov, SpeedChange(-10.0), 2.0)
    assert d.command is None


def test_nan_speed_is_rejected() -> None:
    gov = started()
    assert ask(gov, SetSpeed(float("nan")), 1.0).command is None
    assert ask(gov, SetIncline(float("inf")), 1.0).command is None


def test_zero_speed_is_sent_as_stop_and_latches() -> None:
    gov = started()
    d = ask(gov, SetSpeed(0.0), 1.0)
    assert isinstance(d.command, Stop)
    assert gov.state is GovernorState.HALTED


# ---------------------------------------------------------------- min running speed


def test_min_running_speed_is_half_a_mph_or_the_device_minimum() -> None:
    assert connected().caps.min_running_speed_kmh == pytest.approx(mph_to_kmh(0.5))
    gov = started(device=DeviceRanges(min_speed_kmh=1.2, max_speed_kmh=6.0))
    assert gov.caps.min_running_speed_kmh == pytest.approx(1.2)
    d = ask(gov, SetSpeed(1.0), 1.0)
    assert d.verdict is Verdict.REJECTED
    assert "below the minimum running speed" in d.reason
    assert "use Stop" in d.reason


# ---------------------------------------------------------------- rate limits


def test_speed_increase_rate_limited_to_a_tenth_mph_per_5_s() -> None:
    gov = started()
    d = ask(gov, SetSpeed(CAP), 1.0)
    assert d.verdict is Verdict.REPLACED
    assert kmh(d) == pytest.approx(START + STEP, abs=0.02)
    assert "speed increase limit" in d.reason
    gov.handle(Telemetry(START + STEP), 2.0)
    d = ask(gov, SetSpeed(CAP), 5.5)
    assert d.verdict is Verdict.REJECTED
    assert "next increase is possible in 0.5 s" in d.reason
    d = ask(gov, SetSpeed(CAP), 6.0)
    assert kmh(d) == pytest.approx(START + 2 * STEP, abs=0.02)


def test_speed_decrease_is_not_rate_limited() -> None:
    gov = started()
    now = ramp_to(gov, CAP, 0.0)
    d = ask(gov, SetSpeed(mph_to_kmh(0.5)), now + 0.1)
    assert d.verdict is Verdict.APPROVED
    # and going back up is limited from the lowest value in the window
    d = ask(gov, SetSpeed(CAP), now + 0.2)
    assert kmh(d) == pytest.approx(mph_to_kmh(0.6), abs=0.02)


def test_incline_change_rate_limited_both_ways() -> None:
    gov = started()
    d = ask(gov, SetIncline(3.0), 1.0)
    assert d.verdict is Verdict.REPLACED
    assert pct(d) == pytest.approx(0.5)
    assert ask(gov, InclineChange(0.5), 2.0).verdict is Verdict.REJECTED
    assert pct(ask(gov, SetIncline(3.0), 6.5)) == pytest.approx(1.0)
    assert pct(ask(gov, SetIncline(0.0), 7.0)) == pytest.approx(0.5)


# ---------------------------------------------------------------- start


def test_start_needs_arm_and_the_5_s_countdown() -> None:
    gov = connected()
    gov.handle(Telemetry(0.0), 1.0)
    d = ask(gov, Start(), 1.0)
    assert d.verdict is Verdict.REJECTED
    assert "re-arm" in d.reason
    gov.handle(Telemetry(0.0), 1.0)  # fresh Treadmill Data
    assert gov.arm(1.0).armed
    gov.handle(Telemetry(0.0), 5.9)
    d = ask(gov, Start(), 5.9)
    assert d.verdict is Verdict.REJECTED
    assert "countdown" in d.reason
    assert ask(gov, SetSpeed(START), 5.9).command is None
    gov.handle(Telemetry(0.0), 6.0)
    assert ask(gov, Start(), 6.0).command == Start()


def test_arm_refused_without_link_or_standstill() -> None:
    gov = SafetyGovernor()
    assert "not connected" in gov.arm(0.0).reason
    gov.handle(LinkUp(), 0.0)
    assert "standstill" in gov.arm(0.0).reason
    gov.handle(Telemetry(0.5), 0.1)  # moving while halted: stopped as unexpected motion
    assert "standstill" in gov.arm(0.2).reason
    gov.handle(Telemetry(0.0), 0.3)
    assert gov.arm(0.4).armed


def test_start_speed_up_to_1_mph_is_exempt_from_the_rate_limit() -> None:
    gov = connected()
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    d = ask(gov, SetSpeed(CAP), 5.0, Source.PROFILE)
    assert d.verdict is Verdict.REPLACED
    assert kmh(d) == pytest.approx(START, abs=0.02)
    assert "start speed limit" in d.reason
    # after the start step the rate limit applies again
    assert kmh(ask(gov, SetSpeed(CAP), 5.1)) == pytest.approx(START + STEP, abs=0.02)


# ---------------------------------------------------------------- stop and latch


@pytest.mark.parametrize("stop", [Stop("operator"), Pause("operator")])
def test_emergency_stop_is_latched_until_the_operator_rearms(stop: Stop | Pause) -> None:
    gov = started()
    d = ask(gov, stop, 1.0)
    assert d.verdict is Verdict.APPROVED
    assert d.command == stop
    for later in (Start(), SetSpeed(START), SpeedChange(STEP), SetIncline(1.0)):
        assert ask(gov, later, 30.0).command is None
    gov.handle(Telemetry(0.0), 2.0)
    assert ask(gov, Start(), 30.0).command is None
    gov.handle(Telemetry(0.0), 31.0)  # fresh Treadmill Data
    assert gov.arm(31.0).armed
    gov.handle(Telemetry(0.0), 36.0)
    assert ask(gov, Start(), 36.0).command == Start()


def test_stop_is_approved_in_every_state_at_once() -> None:
    gov = SafetyGovernor()
    assert ask(gov, Stop(), 0.0).command == Stop()  # not even connected
    gov = connected()
    assert ask(gov, Stop(), 0.0).command == Stop()
    gov = connected()
    gov.arm(0.0)
    assert ask(gov, Stop(), 1.0).command == Stop()  # countdown
    gov = started()
    gov.handle(LinkLost(), 1.0)
    assert ask(gov, Stop(), 1.1).command == Stop()  # link down


# ---------------------------------------------------------------- escalating stop


def test_escalating_stop_asks_to_pull_the_safety_key_after_10_s() -> None:
    gov = started()
    ask(gov, Stop(), 1.0)
    gov.handle(Telemetry(1.0), 5.0)
    assert not gov.tick(10.9)
    actions = gov.tick(11.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.STOP_NOT_CONFIRMED]
    assert "PULL THE SAFETY KEY" in actions.alarms[0].message
    assert not gov.tick(12.0)  # raised once
    assert gov.acknowledge()  # cannot be cleared while the belt is not confirmed stopped
    gov.handle(Telemetry(0.0), 13.0)
    assert gov.acknowledge() == ()


def test_stop_confirmed_by_telemetry_raises_nothing() -> None:
    gov = started()
    ask(gov, Stop(), 1.0)
    gov.handle(Telemetry(0.05), 4.0)
    assert not gov.tick(20.0)


# ---------------------------------------------------------------- telemetry watchdog


def test_telemetry_watchdog_stops_after_3_s_of_silence_while_moving() -> None:
    gov = started()
    assert not gov.tick(2.9)
    actions = gov.tick(3.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.TELEMETRY_TIMEOUT]
    assert gov.state is GovernorState.HALTED


def test_telemetry_watchdog_quiet_while_halted() -> None:
    gov = connected()
    assert not gov.tick(60.0)


# ---------------------------------------------------------------- link loss


def test_link_loss_alarms_at_once_and_reconnect_sends_stop_first_no_resume() -> None:
    gov = started()
    actions = gov.handle(LinkLost(), 1.0)
    assert [a.kind for a in actions.alarms] == [AlarmKind.LINK_LOSS]
    assert actions.alarms[0].at == 1.0  # within 0.5 s: at the event itself
    assert ask(gov, SetSpeed(START), 1.2).command is None
    actions = gov.handle(LinkUp(), 4.0)
    assert actions.commands == (Stop("link restored: stop first", emergency=True),)
    assert gov.state is GovernorState.HALTED
    assert ask(gov, Start(), 10.0).command is None
    assert "standstill" in gov.arm(5.0).reason  # belt state unknown until telemetry
    gov.handle(Telemetry(0.0), 6.0)
    gov.handle(Telemetry(0.0), 7.0)  # fresh Treadmill Data
    assert gov.arm(7.0).armed


def test_link_lost_while_belt_keeps_running_escalates() -> None:
    gov = started()
    gov.handle(LinkLost(), 1.0)
    actions = gov.tick(11.0)
    assert [a.kind for a in actions.alarms] == [AlarmKind.STOP_NOT_CONFIRMED]


# ---------------------------------------------------------------- overspeed


def test_overspeed_two_samples_stops() -> None:
    gov = started()
    over = CAP + mph_to_kmh(0.25)
    assert not gov.handle(Telemetry(over), 1.0)  # one sample is not enough
    actions = gov.handle(Telemetry(over), 1.1)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.OVERSPEED]


def test_overspeed_within_margin_or_interrupted_does_not_stop() -> None:
    gov = started()
    within = CAP + mph_to_kmh(0.15)
    over = CAP + mph_to_kmh(0.25)
    for t, v in [(1.0, within), (1.1, within), (1.2, over), (1.3, START), (1.4, over)]:
        assert not gov.handle(Telemetry(v), t)


def test_console_target_speed_above_cap_stops() -> None:
    gov = started()
    actions = gov.handle(TargetSpeedChanged(CAP + 1.0), 1.0)
    assert is_stop(actions.commands)
    assert actions.alarms[0].kind is AlarmKind.OVERSPEED


# ---------------------------------------------------------------- setpoint confirmation


def test_setpoint_not_confirmed_within_10_s_halts() -> None:
    gov = connected()
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    ask(gov, SetSpeed(START), 5.0)
    for t in range(6, 15):
        gov.handle(Telemetry(0.8), float(t))  # the device ignores Set Target Speed
        assert not gov.tick(float(t))
    actions = gov.tick(15.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.SETPOINT_NOT_REACHED]


def test_setpoint_confirmed_within_one_device_increment() -> None:
    gov = started(device=DeviceRanges(min_speed_kmh=0.5, speed_increment_kmh=0.32))
    ask(gov, SetSpeed(START + 0.1), 6.0)
    gov.handle(Telemetry(START + 0.1 - 0.3), 7.0)  # 0.3 km/h off, within the 0.32 increment
    assert gov.setpoint_confirmed
    assert not gov.tick(30.0 - 27.0)


# ---------------------------------------------------------------- units self-test


@pytest.mark.parametrize("factor", [1.609344, 1 / 1.609344])
def test_unit_mismatch_stops(factor: float) -> None:
    gov = connected()
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    ask(gov, SetSpeed(START), 5.0)
    alarms: list[Alarm] = []
    t = 5.0
    while t < 12.0 and not alarms:
        t += 0.5
        actions = gov.handle(Telemetry(START * factor), t)
        alarms += actions.alarms
        if actions:
            assert is_stop(actions.commands)
    assert [a.kind for a in alarms] == [AlarmKind.UNIT_MISMATCH]
    assert t <= 8.5  # well before the 10 s setpoint timeout
    assert "km/h and mph" in alarms[0].message


def test_accelerating_belt_is_not_a_unit_mismatch() -> None:
    gov = connected()
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    ask(gov, SetSpeed(START), 5.0)
    for i in range(10):  # 0.2 km/h per 0.5 s, passing 0.62 x target on the way
        assert not gov.handle(Telemetry(min(START, 0.2 * i)), 5.0 + 0.5 * i)
    assert gov.setpoint_confirmed


# ---------------------------------------------------------------- safety key, control lost


@pytest.mark.parametrize(
    ("event", "kind"),
    [(SafetyKeyStop(), AlarmKind.SAFETY_KEY), (ControlLost(), AlarmKind.CONTROL_LOST)],
)
def test_safety_key_and_control_lost_halt_and_need_rearm(
    event: SafetyKeyStop | ControlLost, kind: AlarmKind
) -> None:
    gov = started()
    actions = gov.handle(event, 1.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [kind]
    assert ask(gov, SetSpeed(START), 2.0).command is None
    gov.handle(Telemetry(0.0), 3.0)
    assert ask(gov, Start(), 20.0).command is None
    gov.handle(Telemetry(0.0), 21.0)  # fresh Treadmill Data
    assert gov.arm(21.0).armed
    assert gov.alarms == ()


# ---------------------------------------------------------------- console start/stop


def test_console_stop_halts_without_alarm_and_nothing_resumes() -> None:
    gov = started()
    assert not gov.handle(ConsoleStopped(paused=True), 1.0)
    assert gov.state is GovernorState.HALTED
    assert ask(gov, SetSpeed(START), 2.0).command is None


def test_console_start_while_halted_is_stopped() -> None:
    gov = connected()
    actions = gov.handle(ConsoleStarted(), 1.0)
    assert is_stop(actions.commands)


def test_belt_moving_while_halted_raises_unexpected_motion() -> None:
    gov = connected()
    actions = gov.handle(Telemetry(1.0), 1.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.UNEXPECTED_MOTION]


def test_reasons_use_the_display_unit() -> None:
    gov = connected(units="kmh")
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    d = ask(gov, SetSpeed(3.0), 5.0)
    assert "km/h" in d.reason
    assert "mph" not in d.reason


# ---------------------------------------------------------------- more fail-closed paths


def test_setpoint_lost_after_confirmation_halts_after_10_s() -> None:
    gov = started()  # confirmed at START at t=0
    for t in range(1, 11):
        gov.handle(Telemetry(START + 0.5), float(t))  # the belt drifts off the setpoint
        assert not gov.tick(float(t))
        assert not gov.setpoint_confirmed
    actions = gov.tick(11.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.SETPOINT_NOT_REACHED]


def test_unit_mismatch_caught_after_the_belt_passed_through_the_target() -> None:
    gov = connected()
    gov.arm(0.0)
    gov.handle(Telemetry(0.0), 5.0)
    ask(gov, Start(), 5.0)
    ask(gov, SetSpeed(START), 5.0)
    t, v = 5.0, 0.0
    kinds: list[AlarmKind] = []
    while t < 12.0 and not kinds:
        t += 0.5
        v = min(START * 1.609344, v + 0.5)  # accelerates through 1.61 on its way to 2.59
        kinds = [a.kind for a in gov.handle(Telemetry(v), t).alarms]
    assert kinds == [AlarmKind.UNIT_MISMATCH]


def test_an_exception_inside_the_governor_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    gov = started()

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(gov, "_decide_speed", broken)
    d = ask(gov, SetSpeed(START), 1.0)
    assert isinstance(d.command, Stop)
    assert d.verdict is Verdict.REPLACED
    assert [a.kind for a in gov.alarms] == [AlarmKind.INTERNAL_ERROR]
    assert gov.state is GovernorState.HALTED


def test_external_fault_halts_like_an_own_alarm() -> None:
    gov = started()
    actions = gov.fault(AlarmKind.UNIT_MISMATCH, "the FTMS client saw 1.6x", 1.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.UNIT_MISMATCH]
    assert ask(gov, SetSpeed(START), 2.0).command is None


def test_lower_device_maximum_while_running_halts() -> None:
    gov = started()
    actions = gov.handle(DeviceRanges(min_speed_kmh=0.5, max_speed_kmh=1.0), 1.0)
    assert is_stop(actions.commands)
    assert gov.caps.max_speed_kmh == pytest.approx(1.0)


def test_console_start_echo_while_running_is_ignored() -> None:
    gov = started()
    assert not gov.handle(ConsoleStarted(), 1.0)
    assert gov.state is GovernorState.RUNNING


def test_heart_rate_above_the_clinic_limit_for_two_samples_stops() -> None:
    gov = connected(-5.0, limits=SafetyLimits(max_heart_rate_bpm=120))
    gov.handle(HeartRate(90), -5.0)  # with a limit set, arming and Start need a live heart rate
    assert gov.arm(-5.0).armed
    gov.handle(Telemetry(0.0, 0.0), 0.0)
    gov.handle(HeartRate(90), 0.0)
    assert ask(gov, Start(), 0.0).command == Start()
    assert ask(gov, SetSpeed(START), 0.0).command is not None
    assert not gov.handle(HeartRate(125), 1.0)
    assert not gov.handle(HeartRate(110), 2.0)
    assert not gov.handle(HeartRate(125), 3.0)
    actions = gov.handle(HeartRate(130), 4.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.HEART_RATE]
    assert not started().handle(HeartRate(220), 1.0)  # no limit by default


def test_stop_goes_out_even_when_the_bookkeeping_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    gov = started()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(gov, "_enter_halt", broken)
    assert ask(gov, Stop("space"), 1.0).command == Stop("space")
    assert gov.state is GovernorState.HALTED
    assert ask(gov, SetSpeed(START), 2.0).command is None
