"""Adversarial review of the session engine (R3): speeds on the treadmill's grid, no re-send
spam, and a treadmill whose speed steps are coarser than the rate limit (the virtual treadmill's
``lenient`` personality and the CITYSPORTS it models: 1.0-6.0 km/h in 0.5 km/h steps)."""

from __future__ import annotations

from retro_treadmill.safety.commands import DeviceRanges, SetIncline, SetSpeed, Start
from retro_treadmill.session.engine import Outcome, SessionEngine, SessionState
from retro_treadmill.units import mph_to_kmh

from .belt import Belt, Drive, profile, segment

ONE = mph_to_kmh(1.0)
CAP = mph_to_kmh(1.5)


def state_of(engine: SessionEngine) -> SessionState:
    """The engine's state (a call, so that mypy does not narrow it across actions)."""
    return engine.state


LENIENT = DeviceRanges(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=0.5)


def test_a_hold_off_the_wire_grid_is_sent_once_not_every_tick() -> None:
    # 1.0 mph = 1.609344 km/h is sent as 1.60; the engine must not re-ask for 1.609 each tick.
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 30.0)))
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(40.0)
    assert engine.outcome is Outcome.COMPLETED
    speeds = drive.sent_speeds()
    assert len(speeds) == 1, speeds


def test_a_constant_profile_runs_to_the_end_on_a_coarse_treadmill() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 30.0)), device=LENIENT)
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(40.0)
    assert engine.outcome is Outcome.COMPLETED
    assert [v for _, v in drive.sent_speeds()] == [1.5]  # 1.0 mph rounded DOWN to its steps


def test_a_ramp_on_a_coarse_treadmill_is_refused_at_start_not_stalled() -> None:
    engine = SessionEngine(
        profile(segment("hold", (ONE, ONE), 10.0), segment("ramp", (ONE, CAP), 40.0)),
        device=LENIENT,
    )
    drive = Drive(engine, Belt())
    drive.connect()
    out = engine.start(drive.now)
    assert engine.state is SessionState.PREFLIGHT
    assert not out.commands
    assert "0.5 km/h" in out.rejection
    assert "speed increase limit" in out.rejection


def test_a_coarse_increment_learnt_while_running_moves_down_to_the_grid() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 60.0)))
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(10.0)
    out = drive.feed(engine.handle(LENIENT, drive.now))
    assert out.commands == (SetSpeed(1.5),)
    drive.run(70.0)
    assert engine.outcome is Outcome.COMPLETED
    assert max(v for _, v in drive.sent_speeds()[1:]) == 1.5


def test_coarse_steps_learnt_while_running_pause_before_a_ramp_would_stall() -> None:
    engine = SessionEngine(
        profile(segment("hold", (ONE, ONE), 20.0), segment("ramp", (ONE, CAP), 40.0))
    )
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(10.0)
    out = drive.feed(engine.handle(LENIENT, drive.now))
    assert out.commands
    assert not isinstance(out.commands[0], SetSpeed)
    assert engine.state is SessionState.PAUSED
    assert "0.5 km/h" in engine.status(drive.now).message
    drive.run(30.0)
    assert engine.state is SessionState.PAUSED  # nothing resumes by itself
    assert "cannot start" in engine.resume(drive.now).rejection


def test_an_incline_off_the_wire_grid_is_sent_once_per_step_not_every_tick() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 60.0, incline=(0.47, 0.47))))
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(70.0)
    assert engine.outcome is Outcome.COMPLETED
    inclines = [c.pct for _, c in drive.belt.sent if isinstance(c, SetIncline)]
    assert inclines == [0.4], inclines  # 0.47 % rounded down to the wire's 0.1 %, sent once


def test_a_start_waits_for_fresh_treadmill_data_instead_of_giving_up() -> None:
    # Treadmill Data "typically once per second" jitters: a 4 s gap at the end of the countdown
    # must delay the Start until data shows the belt, not drop the session back to preflight.
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 30.0)))
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(1.0)
    drive.run(8.0, telemetry=False)  # silent from t=1 to t=9; the countdown ended at t=5
    assert engine.state is SessionState.COUNTDOWN
    assert not any(isinstance(c, Start) for _, c in drive.belt.sent)
    drive.run(1.0)
    assert state_of(engine) is SessionState.RUNNING
    assert any(isinstance(c, Start) for _, c in drive.belt.sent)


def test_a_start_without_treadmill_data_gives_up_with_the_reason() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 30.0)))
    drive = Drive(engine, Belt())
    drive.connect()
    drive.feed(engine.start(drive.now))
    drive.run(30.0, telemetry=False)
    assert engine.state is SessionState.PREFLIGHT
    assert "Treadmill Data" in engine.status(drive.now).message
    assert not any(isinstance(c, Start) for _, c in drive.belt.sent)
