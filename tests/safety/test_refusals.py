"""Issue 13, governor side: a Stop the treadmill refuses, refused setpoints and control, incline
confirmation, console targets that explain a speed, and Start only on fresh data."""

from __future__ import annotations

import itertools

from retro_treadmill.safety.commands import (
    AlarmKind,
    ControlRefused,
    DeviceRanges,
    LinkLost,
    LinkUp,
    SetIncline,
    SetpointRefused,
    SetSpeed,
    Source,
    Start,
    Stop,
    StopRefused,
    TargetSpeedChanged,
    Telemetry,
)
from retro_treadmill.safety.governor import (
    INCLINE_CONFIRM_S,
    GovernorState,
    SafetyGovernor,
)
from retro_treadmill.units import mph_to_kmh

from .helpers import START, ask, connected, is_stop, started


def stopped_while_moving(now: float = 10.0) -> SafetyGovernor:
    gov = started(now)
    assert ask(gov, Stop("operator"), now).command == Stop("operator")
    gov.handle(Telemetry(START, 0.0), now + 0.2)  # still moving
    return gov


def test_a_refused_stop_alarms_and_resends_at_once() -> None:
    gov = stopped_while_moving()
    out = gov.handle(StopRefused("result 0x04"), 10.3)
    assert is_stop(out.commands)
    assert [a.kind for a in out.alarms] == [AlarmKind.STOP_NOT_CONFIRMED]
    message = out.alarms[0].message
    assert "refused the stop" in message
    assert "PULL THE SAFETY KEY" in message
    assert "1.00 mph" in message  # the last known speed, not "the belt was stopped"
    stop = out.commands[0]
    assert isinstance(stop, Stop)
    # 0x04: the Stop goes again at once without a Request Control first (a second Request
    # Control drops the link on FITSHOW / Sunny treadmills)
    assert not stop.request_control


def test_a_stop_refused_with_control_not_permitted_asks_for_control_again() -> None:
    gov = stopped_while_moving()
    out = gov.handle(StopRefused("result 0x05", control_not_permitted=True), 10.3)
    assert is_stop(out.commands)
    stop = out.commands[0]
    assert isinstance(stop, Stop)
    assert stop.request_control


def test_a_refused_stop_is_resent_every_second_while_the_belt_moves() -> None:
    gov = stopped_while_moving()
    gov.handle(StopRefused("result 0x05"), 10.3)
    sent: list[float] = []
    t = 10.3
    while t < 14.0:
        t = round(t + 0.1, 6)
        if round(t * 10) % 10 == 0:
            gov.handle(Telemetry(START, 0.0), t)  # telemetry: the belt keeps moving
        if is_stop(gov.tick(t).commands):
            sent.append(t)
    assert sent
    assert sent[0] <= 11.3 + 1e-9
    assert all(b - a <= 1.0 + 1e-9 for a, b in itertools.pairwise(sent))
    assert len(sent) >= 3
    gov.handle(Telemetry(0.0, 0.0), 14.1)  # the belt stopped: no more Stops
    assert not any(is_stop(gov.tick(14.1 + k).commands) for k in range(1, 4))


def test_a_refused_stop_with_the_belt_at_rest_is_no_alarm() -> None:
    gov = started(10.0)
    ask(gov, Stop("operator"), 10.0)
    gov.handle(Telemetry(0.0, 0.0), 11.0)
    out = gov.handle(StopRefused("result 0x04"), 11.1)
    assert not out
    assert gov.standstill


def test_refused_control_halts_at_once_while_running() -> None:
    gov = started(10.0)
    out = gov.handle(ControlRefused("control not permitted (result 0x05)"), 10.5)
    assert is_stop(out.commands)
    assert [a.kind for a in out.alarms] == [AlarmKind.CONTROL_LOST]
    assert gov.state is GovernorState.HALTED


def test_refused_control_while_halted_and_at_rest_changes_nothing() -> None:
    gov = connected()
    assert not gov.handle(ControlRefused("control not permitted"), 1.0)


def test_a_refused_speed_halts_at_once() -> None:
    gov = started(10.0)
    target = gov.target_speed_kmh
    out = gov.handle(SetpointRefused(SetSpeed(target), "result 0x03"), 10.4)
    assert is_stop(out.commands)
    assert [a.kind for a in out.alarms] == [AlarmKind.SETPOINT_NOT_REACHED]
    assert "refused" in out.alarms[0].message


def test_a_refusal_of_an_older_speed_is_moot() -> None:
    gov = started(10.0)
    assert not gov.handle(SetpointRefused(SetSpeed(0.9), "result 0x03"), 10.4)


def test_a_refused_incline_halts_at_once() -> None:
    gov = started(10.0)
    sent = ask(gov, SetIncline(0.5), 10.0, Source.PROFILE).command
    assert isinstance(sent, SetIncline)
    out = gov.handle(SetpointRefused(sent, "result 0x03"), 10.4)
    assert is_stop(out.commands)
    assert out.alarms


def run_with_incline(gov: SafetyGovernor, reported: float, start: float, end: float) -> list[str]:
    """Telemetry every second at the target speed with ``reported`` incline; the alarms."""
    kinds: list[str] = []
    t = start
    while t <= end:
        out = gov.handle(Telemetry(gov.target_speed_kmh or START, reported), t)
        out = out + gov.tick(t)
        kinds += [a.kind.value for a in out.alarms]
        if out.commands and is_stop(out.commands):
            break
        t += 1.0
    return kinds


def test_an_incline_never_reached_halts_within_the_window() -> None:
    gov = started(10.0)
    ask(gov, SetIncline(0.5), 10.0, Source.PROFILE)
    ask(gov, SetIncline(1.0), 15.0, Source.PROFILE)
    ask(gov, SetIncline(1.5), 20.0, Source.PROFILE)
    # the treadmill reports 0 % throughout (1.5 % off the target)
    kinds = run_with_incline(gov, 0.0, 10.0, 20.0 + INCLINE_CONFIRM_S + 2)
    assert kinds == [AlarmKind.SETPOINT_NOT_REACHED.value]
    assert gov.state is GovernorState.HALTED


def test_an_incline_reached_and_held_draws_no_alarm() -> None:
    gov = started(10.0)
    ask(gov, SetIncline(0.5), 10.0, Source.PROFILE)
    assert run_with_incline(gov, 0.5, 11.0, 11.0 + 2 * INCLINE_CONFIRM_S) == []
    assert gov.state is GovernorState.RUNNING


def test_an_incline_not_held_halts() -> None:
    gov = started(10.0)
    ask(gov, SetIncline(0.5), 10.0, Source.PROFILE)
    assert run_with_incline(gov, 0.5, 11.0, 20.0) == []
    kinds = run_with_incline(gov, 2.5, 21.0, 21.0 + INCLINE_CONFIRM_S + 1)
    # 2.5 % is within the 5 % cap: the alarm is the confirmation, not the cap
    assert kinds == [AlarmKind.SETPOINT_NOT_REACHED.value]


def test_a_new_incline_target_does_not_restart_the_window() -> None:
    """Like a speed setpoint: the window runs from the first target the treadmill did not reach,
    and only reaching one ends it. A profile that changes its incline every 10 s (1.5 <-> 2.0 %,
    after a ramp) on a treadmill whose incline never moves (0 % throughout) halts within the
    window; restarting it at every new target, the belt ran on for as long as the targets kept
    changing."""
    gov = started(10.0)
    kinds: list[str] = []
    t = 10.0
    targets = iter([0.5, 1.0, 1.5, 2.0, 1.5, 2.0, 1.5, 2.0, 1.5, 2.0, 1.5])
    while t <= 10.0 + 3 * INCLINE_CONFIRM_S and not kinds:
        if t % 10.0 == 0.0:
            sent = ask(gov, SetIncline(next(targets)), t, Source.PROFILE).command
            assert isinstance(sent, SetIncline)
        out = gov.handle(Telemetry(gov.target_speed_kmh or START, 0.0), t) + gov.tick(t)
        kinds += [a.kind.value for a in out.alarms]
        t += 1.0
    assert kinds == [AlarmKind.SETPOINT_NOT_REACHED.value]
    # off target from the second one (1.0 %, more than 0.5 % from 0) at t = 20
    assert t - 1.0 <= 20.0 + INCLINE_CONFIRM_S + 1.0
    assert gov.state is GovernorState.HALTED


def test_a_slow_incline_motor_has_its_window() -> None:
    gov = started(10.0)
    ask(gov, SetIncline(0.5), 10.0, Source.PROFILE)
    # 0 % for 20 s (slow motor), then the target: no alarm
    assert run_with_incline(gov, 0.0, 10.0, 30.0) == []
    assert run_with_incline(gov, 0.5, 31.0, 80.0) == []


def test_one_device_increment_confirms_an_incline() -> None:
    gov = started(10.0, device=DeviceRanges(incline_increment_pct=1.0))
    ask(gov, SetIncline(1.0), 10.0, Source.PROFILE)
    assert run_with_incline(gov, 0.0, 10.0, 10.0 + 2 * INCLINE_CONFIRM_S) == []


def test_incline_raised_above_the_cap_at_the_console_stops_like_overspeed() -> None:
    gov = started(10.0)
    assert not gov.handle(Telemetry(START, 5.6), 11.0)  # one sample is not enough
    out = gov.handle(Telemetry(START, 5.6), 12.0)
    assert is_stop(out.commands)
    assert [a.kind for a in out.alarms] == [AlarmKind.OVERSPEED]
    assert "incline" in out.alarms[0].message


def test_incline_at_the_cap_plus_margin_is_allowed() -> None:
    gov = started(10.0)
    for t in range(11, 15):
        assert not gov.handle(Telemetry(START, 5.5), float(t)).commands


def test_a_console_target_explains_a_speed_near_the_unit_ratio() -> None:
    # 1.0 mph, the console speeds up by 0.5 mph: 1.5x, within the self-test's tolerance
    gov = started(10.0)
    target = gov.target_speed_kmh
    console = mph_to_kmh(1.5)
    assert not gov.handle(TargetSpeedChanged(console), 11.0)
    assert gov.classify_unit_mismatch(target, console) is None
    kinds = []
    for t in range(11, 20):
        kinds += [a.kind for a in gov.handle(Telemetry(console, 0.0), float(t)).alarms]
        kinds += [a.kind for a in gov.tick(float(t)).alarms]
    assert AlarmKind.UNIT_MISMATCH not in kinds


def test_without_a_console_target_the_ratio_is_a_unit_mismatch() -> None:
    gov = started(10.0)
    verdict = gov.classify_unit_mismatch(gov.target_speed_kmh, gov.target_speed_kmh * 1.609)
    assert verdict is not None
    assert verdict[0] is AlarmKind.UNIT_MISMATCH


def test_an_overspeed_is_called_an_overspeed_not_a_unit_mismatch() -> None:
    gov = started(10.0)
    verdict = gov.classify_unit_mismatch(gov.target_speed_kmh, mph_to_kmh(1.75))
    assert verdict is not None
    assert verdict[0] is AlarmKind.OVERSPEED


def test_start_needs_data_younger_than_one_second() -> None:
    gov = connected(0.0)
    assert gov.arm(0.0).armed
    gov.handle(Telemetry(0.0, 0.0), 2.0)
    refused = ask(gov, Start(), 5.0)  # data 3.0 s old: the case seen in the field
    assert refused.command is None
    assert "no Treadmill Data" in refused.reason
    refused = ask(gov, Start(), 3.05)
    assert refused.command is None  # the countdown
    gov.handle(Telemetry(0.0, 0.0), 5.5)
    assert ask(gov, Start(), 6.4).command == Start()


def test_already_stopped_right_after_a_reconnect_waits_for_telemetry() -> None:
    # A rebooted treadmill answers the Stop after the reconnect with 0x04: its belt is at rest,
    # but no Treadmill Data has said so yet. No "PULL THE SAFETY KEY" on that alone.
    gov = started(10.0)
    gov.handle(LinkLost(), 11.0)
    gov.handle(LinkUp(), 13.0)
    assert not gov.handle(StopRefused("result 0x04", already_stopped=True), 13.1)
    assert not gov.handle(Telemetry(0.0, 0.0), 13.5).alarms
    assert AlarmKind.STOP_NOT_CONFIRMED not in [a.kind for a in gov.alarms]


def test_already_stopped_after_a_reconnect_is_a_refusal_once_telemetry_shows_motion() -> None:
    gov = started(10.0)
    gov.handle(LinkLost(), 11.0)
    gov.handle(LinkUp(), 13.0)
    assert not gov.handle(StopRefused("result 0x04", already_stopped=True), 13.1)
    out = gov.handle(Telemetry(START, 0.0), 13.5)
    assert is_stop(out.commands)
    assert [a.kind for a in out.alarms] == [AlarmKind.STOP_NOT_CONFIRMED]


def test_the_treadmills_echo_of_our_target_in_the_other_unit_is_no_console_change() -> None:
    # mph-confused (JFTM T202): the 0x05 echo of 1.0 mph reads 1.609x; still a unit mismatch.
    gov = started(10.0)
    target = gov.target_speed_kmh
    gov.handle(TargetSpeedChanged(target * 1.609344), 10.1)
    verdict = gov.classify_unit_mismatch(target, target * 1.609344)
    assert verdict is not None
    assert verdict[0] is AlarmKind.UNIT_MISMATCH


def test_a_console_speed_down_near_the_unit_ratio_is_no_unit_mismatch() -> None:
    # Found by the fault campaign: 1.0 mph, the console takes off 0.3 mph (1.6 -> 1.1 km/h,
    # 0.69x, within the tolerance of 1/1.609), long after our setpoint.
    gov = started(10.0)
    target = gov.target_speed_kmh
    assert not gov.handle(TargetSpeedChanged(1.1), 20.0)
    kinds = []
    for t in range(20, 32):
        kinds += [a.kind for a in gov.handle(Telemetry(1.1, 0.0), float(t)).alarms]
        kinds += [a.kind for a in gov.tick(float(t)).alarms]
    assert AlarmKind.UNIT_MISMATCH not in kinds
    assert gov.classify_unit_mismatch(target, 1.1) is None


def test_a_console_change_soon_after_our_echoed_setpoint_is_no_unit_mismatch() -> None:
    # Found by the fault campaign (seed 806446750): "-" sets 1.4 km/h, the treadmill echoes
    # 1.4 (0x05, right unit), and 2.9 s later the console takes 0.3 mph off (0.9 km/h, 0.64x).
    # Inside the echo window, but the echo had come already: a console change, not a mix-up.
    gov = started(10.0)
    gov.handle(Telemetry(START, 0.0), 10.5)
    setpoint = mph_to_kmh(0.87)
    assert ask(gov, SetSpeed(setpoint), 12.0).command is not None
    target = gov.target_speed_kmh
    assert not gov.handle(TargetSpeedChanged(target), 12.02)
    console = target - mph_to_kmh(0.3)
    assert not gov.handle(TargetSpeedChanged(console), 14.9)
    kinds = []
    for t in range(15, 27):
        kinds += [a.kind for a in gov.handle(Telemetry(console, 0.0), float(t)).alarms]
        kinds += [a.kind for a in gov.tick(float(t)).alarms]
    assert AlarmKind.UNIT_MISMATCH not in kinds
    assert gov.classify_unit_mismatch(target, console) is None


def test_a_repeated_echo_in_the_other_unit_is_still_a_unit_mismatch() -> None:
    # A mph-confused treadmill that sends its (wrong-unit) echo twice is no console change.
    gov = started(10.0)
    target = gov.target_speed_kmh
    gov.handle(TargetSpeedChanged(target * 1.609344), 10.1)
    gov.handle(TargetSpeedChanged(target * 1.609344), 10.6)
    verdict = gov.classify_unit_mismatch(target, target * 1.609344)
    assert verdict is not None
    assert verdict[0] is AlarmKind.UNIT_MISMATCH


def test_stop_resends_reach_a_treadmill_whose_control_point_went_silent() -> None:
    """The governor's re-sends through the client's control-point machine: a treadmill that
    answers nothing any more (the refused Stop timed out) while its belt moves. Each re-send
    pre-empts the one before; when every re-send asked for control first, each one only wrote
    Request Control and waited up to the 3 s control-point timeout for its answer, the next
    re-send came after 1 s, and the Stop op code was never written again."""
    from retro_treadmill.ftms.control import ControlPointMachine, WriteRequest
    from retro_treadmill.ftms.model import CommandKind

    machine = ControlPointMachine()
    machine.connection_made(0.0, stop_first=False)
    machine.has_control = True
    machine.actions()
    gov = stopped_while_moving()
    commands = list(gov.handle(StopRefused("no response"), 10.3).commands)
    stop_writes: list[float] = []
    t = 10.3
    while t < 20.0:
        for command in commands:
            assert isinstance(command, Stop)
            machine.stop(t, request_control=command.request_control)
        machine.tick(t)
        stop_writes += [
            t
            for a in machine.actions()
            if isinstance(a, WriteRequest) and a.command.kind is CommandKind.STOP
        ]
        t = round(t + 0.1, 6)
        out = gov.handle(Telemetry(START, 0.0), t) if t % 1.0 < 0.05 else gov.tick(t)
        commands = list(out.commands)
    # the Stop itself goes out at least every other second while the belt moves
    assert stop_writes, "the Stop op code was never written again"
    gaps = [b - a for a, b in zip([10.3, *stop_writes], [*stop_writes, t], strict=True)]
    assert max(gaps) <= 2.0 + 1e-6, stop_writes
