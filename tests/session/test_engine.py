"""The session engine driven against a modelled belt on a simulated clock."""

from __future__ import annotations

import itertools

import pytest

from retro_treadmill.safety.commands import (
    AlarmKind,
    ConsoleStopped,
    LinkLost,
    LinkUp,
    Pause,
    Request,
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
)
from retro_treadmill.session.engine import Outcome, SessionEngine, SessionState
from retro_treadmill.units import mph_to_kmh

from .belt import Belt, Drive, profile, segment

ONE = mph_to_kmh(1.0)
CAP = mph_to_kmh(1.5)
STEP = mph_to_kmh(0.1)


def state_of(engine: SessionEngine) -> SessionState:
    """The engine's state (a call, so that mypy does not narrow it across actions)."""
    return engine.state


def started(engine: SessionEngine, belt: Belt | None = None) -> Drive:
    drive = Drive(engine, belt or Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    assert state_of(engine) is SessionState.COUNTDOWN
    drive.run(5.0)
    assert state_of(engine) is SessionState.RUNNING
    return drive


def test_profile_ramps_within_rate_limit_and_completes() -> None:
    engine = SessionEngine(
        profile(
            segment("warm-up", (ONE, ONE), 20.0),
            segment("ramp", (ONE, CAP), 30.0),
            segment("hold", (CAP, CAP), 20.0),
        )
    )
    drive = started(engine)
    drive.run(200.0)
    assert state_of(engine) is SessionState.FINISHED
    assert engine.outcome is Outcome.COMPLETED
    speeds = drive.sent_speeds()
    assert max(v for _, v in speeds) == pytest.approx(CAP, abs=0.01)  # on the 0.01 km/h grid
    assert max(v for _, v in speeds) <= CAP
    assert speeds[0][1] == pytest.approx(ONE, abs=0.01)  # the start step
    for (t1, v1), (t2, v2) in itertools.pairwise(speeds):
        if t2 - t1 < 5.0:
            assert v2 - v1 <= STEP + 1e-9
    # 0.5 mph in 0.1 mph steps 5 s apart: the 30 s ramp is stretched, not skipped
    ramp_up = [t for t, v in speeds if v > ONE + 1e-6]
    assert ramp_up[-1] - ramp_up[0] >= 20.0 - 1e-6
    status = engine.status(drive.now)
    assert status.progress == pytest.approx(1.0)
    assert status.elapsed_s == pytest.approx(70.0)
    assert isinstance(drive.belt.sent[-1][1], Stop)


def test_segment_time_counts_only_while_the_belt_is_confirmed_at_the_setpoint() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 60.0)))
    drive = started(engine, Belt(accel_kmh_s=0.2))  # 0 -> 1.6 km/h takes about 7 s
    drive.run(3.0)
    assert engine.status(drive.now).elapsed_s == 0.0
    drive.run(10.0)
    status = engine.status(drive.now)
    assert 0.0 < status.elapsed_s < 10.0
    assert status.remaining_s == pytest.approx(60.0 - status.elapsed_s)


def test_direction_change_stops_prompts_and_waits_for_the_operator() -> None:
    engine = SessionEngine(
        profile(
            segment("warm-up", (ONE, ONE), 10.0, direction="forward", prompt="walk forwards"),
            segment("hold", (ONE, ONE), 10.0, direction="backward"),
        )
    )
    drive = started(engine)
    drive.run(12.0)
    assert state_of(engine) is SessionState.PAUSED
    status = engine.status(drive.now)
    assert status.turn_around
    assert "Turn around" in status.prompt
    assert status.direction == "backward"
    assert isinstance(drive.belt.sent[-1][1], Stop)
    sent = len(drive.belt.sent)
    drive.run(60.0)  # nothing restarts by itself
    assert len(drive.belt.sent) == sent
    assert drive.belt.speed == 0.0
    drive.feed(engine.resume(drive.now))
    assert state_of(engine) is SessionState.COUNTDOWN
    drive.run(30.0)
    assert engine.outcome is Outcome.COMPLETED
    assert any(isinstance(c, Start) for t, c in drive.belt.sent[sent:])


def test_pause_resumes_only_by_operator_after_standstill() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)
    drive.run(10.0)
    drive.feed(engine.pause(drive.now, Source.KEYBOARD))
    assert isinstance(drive.belt.sent[-1][1], Pause)
    assert state_of(engine) is SessionState.PAUSED
    out = drive.feed(engine.resume(drive.now))  # belt still coasting
    assert "standstill" in out.rejection
    elapsed = engine.status(drive.now).elapsed_s
    drive.run(30.0)
    assert engine.status(drive.now).elapsed_s == elapsed  # pauses do not count
    assert state_of(engine) is SessionState.PAUSED
    assert not drive.feed(engine.resume(drive.now)).rejection
    drive.run(20.0)
    assert state_of(engine) is SessionState.RUNNING
    assert engine.status(drive.now).elapsed_s > elapsed


def test_console_stop_pauses_the_session() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)
    drive.run(5.0)
    drive.feed(engine.handle(ConsoleStopped(), drive.now))
    drive.belt.running = False
    assert state_of(engine) is SessionState.PAUSED
    drive.run(30.0)
    assert not drive.belt.running


def test_operator_stop_ends_the_session() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)
    drive.run(5.0)
    out = drive.feed(engine.request(Request(Stop(), Source.MQTT), drive.now))
    assert out.commands == (Stop("stop (mqtt)"),)
    assert state_of(engine) is SessionState.STOPPING
    drive.run(5.0)
    assert state_of(engine) is SessionState.FINISHED
    assert engine.outcome is Outcome.STOPPED
    assert engine.resume(drive.now).rejection
    assert engine.start(drive.now).rejection


def test_link_loss_raises_alarm_and_needs_operator_after_reconnect() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)
    drive.run(5.0)
    out = drive.feed(engine.handle(LinkLost(), drive.now))
    assert [a.kind for a in out.alarms] == [AlarmKind.LINK_LOSS]
    assert state_of(engine) is SessionState.ALARM
    drive.run(2.0, telemetry=False)
    out = drive.feed(engine.handle(LinkUp(), drive.now))
    assert isinstance(out.commands[0], Stop)
    drive.run(10.0)
    assert state_of(engine) is SessionState.ALARM
    assert drive.belt.speed == 0.0
    drive.feed(engine.acknowledge(drive.now))
    assert state_of(engine) is SessionState.PAUSED
    assert not drive.feed(engine.resume(drive.now)).rejection
    drive.run(10.0)
    assert state_of(engine) is SessionState.RUNNING


@pytest.mark.parametrize(
    ("belt", "kind"),
    [
        (Belt(factor=1.609344), AlarmKind.UNIT_MISMATCH),
        (Belt(ignores_speed=True, default_kmh=1.2), AlarmKind.SETPOINT_NOT_REACHED),
    ],
)
def test_device_faults_halt_the_session(belt: Belt, kind: AlarmKind) -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine, belt)
    drive.run(15.0)
    assert [a.kind for a in drive.alarms] == [kind]
    assert state_of(engine) is SessionState.ALARM
    drive.run(10.0)
    assert drive.belt.speed == 0.0


def test_keyboard_plus_becomes_an_offset_and_is_rejected_at_the_cap() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 300.0)))
    drive = started(engine)
    drive.run(10.0)
    out = drive.feed(engine.request(Request(SpeedChange(STEP), Source.KEYBOARD), drive.now))
    assert out.commands == (SetSpeed(pytest.approx(ONE + STEP, abs=0.02)),)  # type: ignore[arg-type]
    drive.run(10.0)
    assert engine.governor.target_speed_kmh == pytest.approx(ONE + STEP, abs=0.02)  # kept
    for _ in range(6):
        drive.run(5.0)
        drive.feed(engine.request(Request(SpeedChange(STEP), Source.KEYBOARD), drive.now))
    assert engine.governor.target_speed_kmh == pytest.approx(CAP, abs=0.01)
    assert "exceeds the safety cap 1.50 mph" in drive.rejections[-1]


def test_start_needs_preflight_and_mqtt_cannot_start() -> None:
    engine = SessionEngine(profile(segment()))
    drive = Drive(engine)
    drive.connect()
    assert state_of(engine) is SessionState.PREFLIGHT
    assert engine.request(Request(Start(), Source.MQTT), 0.0).rejection
    drive.run(30.0)
    assert drive.belt.sent == []


def test_stop_during_first_countdown_returns_to_preflight() -> None:
    engine = SessionEngine(profile(segment()))
    drive = Drive(engine)
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(2.0)
    out = drive.feed(engine.stop(drive.now, Source.KEYBOARD))
    assert isinstance(out.commands[0], Stop)
    assert state_of(engine) is SessionState.PREFLIGHT
    drive.run(10.0)
    assert not any(isinstance(c, Start) for _, c in drive.belt.sent)


def test_status_reports_segment_and_countdown() -> None:
    engine = SessionEngine(
        profile(segment("warm-up", (ONE, ONE), 10.0), segment("hold", (ONE, ONE), 10.0))
    )
    drive = Drive(engine)
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(2.0)
    status = engine.status(drive.now)
    assert status.state is SessionState.COUNTDOWN
    assert status.countdown_s == pytest.approx(3.0)
    assert status.segment_name == "segment 0 'warm-up'"
    assert status.segment_count == 2
    drive.run(15.0)
    status = engine.status(drive.now)
    assert status.segment_index == 1
    assert 0.0 < status.progress < 1.0


def test_external_fault_moves_to_alarm_and_needs_the_operator() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)
    drive.run(5.0)
    out = drive.feed(engine.fault(AlarmKind.INTERNAL_ERROR, "the UI crashed", drive.now))
    assert isinstance(out.commands[0], Stop)
    assert state_of(engine) is SessionState.ALARM
    drive.run(30.0)
    assert drive.belt.speed == 0.0
    assert state_of(engine) is SessionState.ALARM


def test_stop_goes_out_even_when_the_engine_bookkeeping_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    drive = started(engine)

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine, "_finish_with_stop", broken)
    out = drive.feed(engine.stop(drive.now, Source.KEYBOARD))
    assert out.commands == (Stop("stop (keyboard)"),)
    assert state_of(engine) is SessionState.ALARM
