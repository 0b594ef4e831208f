"""The straddle start, STEP ON and posture cues: what the walker is told, and when."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.session import coaching
from retro_treadmill.session.engine import SessionEngine, SessionState, SessionStatus
from retro_treadmill.session.profile import parse_profile
from retro_treadmill.units import mph_to_kmh

from .belt import Belt, Drive, profile, segment

ONE = mph_to_kmh(1.0)
TOL = DEFAULT_LIMITS.setpoint_tolerance_kmh


def trace(drive: Drive, seconds: float) -> list[tuple[float, SessionStatus, float]]:
    """Every 0.1 s: the status and the belt speed the (modelled) treadmill runs at."""
    out = []
    end = drive.now + seconds
    while drive.now < end - 1e-9:
        drive.run(0.1)
        out.append((drive.now, drive.engine.status(drive.now), drive.belt.speed))
    return out


def test_the_walker_straddles_until_telemetry_shows_the_belt_at_the_start_speed() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 60.0)))
    # The treadmill starts at its own default (0.8 km/h), then slowly reaches 1.0 mph.
    drive = Drive(engine, Belt(accel_kmh_s=0.2, default_kmh=0.8))
    drive.connect()
    preflight = engine.status(drive.now)
    assert "side rails" in preflight.prompt
    assert "STEP ON" in preflight.prompt
    assert "facing the rear" in preflight.prompt
    assert preflight.start_speed_kmh == pytest.approx(ONE, abs=0.01)
    drive.feed(engine.start(drive.now))
    countdown = engine.status(drive.now)
    assert countdown.state is SessionState.COUNTDOWN
    assert countdown.straddle
    assert not countdown.step_on
    assert countdown.prompt.startswith("Stand on the side rails")
    assert "1.0 mph" in countdown.prompt
    steps = trace(drive, 30.0)
    first = next(i for i, (_, s, _) in enumerate(steps) if s.step_on)
    # Never STEP ON before the belt runs at the start speed (within the confirmation tolerance)
    for _, status, _belt in steps[:first]:
        assert not status.step_on
        assert "STEP ON:" not in status.prompt
        assert status.straddle
    at, status, belt = steps[first]
    assert abs(belt - ONE) <= TOL + 1e-6
    assert status.prompt.startswith("STEP ON: the belt moves at 1.0 mph")
    assert not status.straddle
    # Waiting with the belt moving but not yet at the start speed says so.
    assert any("stay on the side rails" in s.prompt and b > 0.5 for _, s, b in steps[:first])
    # STEP ON stays for a few seconds, then the segment's own prompt.
    later = [s for t, s, _ in steps if t >= at + coaching.STEP_ON_SHOW_S + 0.2]
    assert later
    assert all(not s.step_on and s.prompt == "walk backwards, hold the rails" for s in later)


def test_a_belt_that_never_reaches_the_start_speed_never_shows_step_on() -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 60.0)))
    drive = Drive(engine, Belt(ignores_speed=True, default_kmh=0.8))
    drive.connect()
    drive.feed(engine.start(drive.now))
    steps = trace(drive, 20.0)
    assert all(not s.step_on for _, s, _ in steps)
    assert engine.state is SessionState.ALARM  # the setpoint confirmation timeout halted it


def test_every_turn_around_and_every_pause_repeats_the_straddle_start() -> None:
    engine = SessionEngine(
        profile(
            segment("warm-up", (ONE, ONE), 20.0, direction="forward", prompt="walk forwards"),
            segment("hold", (ONE, ONE), 60.0, direction="backward"),
        )
    )
    drive = Drive(engine, Belt(accel_kmh_s=0.5))
    drive.connect()
    assert "facing the console" in engine.status(drive.now).prompt  # the first segment: forward
    drive.feed(engine.start(drive.now))
    drive.run(40.0)
    paused = engine.status(drive.now)
    assert paused.turn_around
    assert paused.state is SessionState.PAUSED
    assert "side rails" in paused.prompt
    assert "facing the rear" in paused.prompt
    drive.feed(engine.resume(drive.now))
    again = engine.status(drive.now)
    assert again.state is SessionState.COUNTDOWN
    assert again.straddle
    assert not again.step_on
    assert again.prompt.startswith("Stand on the side rails")
    assert "facing the rear" in again.prompt
    steps = trace(drive, 15.0)
    first = next(i for i, (_, s, _) in enumerate(steps) if s.step_on)
    assert all(s.straddle for _, s, _ in steps[:first])
    assert abs(steps[first][2] - ONE) <= TOL + 1e-6
    drive.run(10.0)
    drive.feed(engine.pause(drive.now))
    assert "side rails" in engine.status(drive.now).prompt
    drive.run(10.0)
    drive.feed(engine.resume(drive.now))
    assert engine.status(drive.now).straddle
    steps = trace(drive, 15.0)
    first = next(i for i, (_, s, _) in enumerate(steps) if s.step_on)
    assert abs(steps[first][2] - ONE) <= TOL + 1e-6


def test_backward_segments_rotate_posture_cues_and_a_profile_can_replace_them() -> None:
    base = profile(
        segment("warm-up", (ONE, ONE), 10.0, direction="forward", prompt="walk forwards"),
        segment("hold", (ONE, ONE), 120.0, direction="backward"),
    )
    for cues in ((), ("Short steps", "Breathe out")):
        engine = SessionEngine(replace(base, cues=cues))
        drive = Drive(engine, Belt())
        drive.connect()
        drive.feed(engine.start(drive.now))
        steps = trace(drive, 20.0)
        assert all(s.cue == "" for _, s, _ in steps)  # forward (and straddling): no cue
        assert engine.status(drive.now).turn_around
        drive.feed(engine.resume(drive.now))
        steps = trace(drive, 80.0)
        shown = [s.cue for _, s, _ in steps if s.cue]
        expected = cues or coaching.DEFAULT_BACKWARD_CUES
        assert set(shown) <= set(expected)
        assert len(set(shown)) >= 2
        for now, status, _ in steps:
            if status.cue:
                assert status.cue == coaching.cue_at(expected, now)
                assert not status.step_on
                assert not status.straddle


@given(
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.0, max_value=0.99),
    st.sampled_from([1.0, 5.0, 15.0, 30.0]),
)
def test_a_cue_holds_for_its_period_then_the_next_one_follows(
    cues: list[str], slot: int, within: float, period: float
) -> None:
    now = slot * period + within * period
    assert coaching.cue_at(cues, now, period) == cues[slot % len(cues)]
    assert coaching.cue_at(cues, now + period, period) == cues[(slot + 1) % len(cues)]


@pytest.mark.parametrize("now", [float("nan"), float("inf"), -5.0])
def test_a_broken_clock_shows_the_first_cue(now: float) -> None:
    assert coaching.cue_at(("a", "b"), now) == "a"
    assert coaching.cue_at((), now) == ""


PROFILE = """
name = "cued"
description = "test"
audience = "tests"
units = "mph"
{cues}
[[segments]]
kind = "hold"
direction = "backward"
speed = 1.0
duration_s = 60
"""


def test_profile_cues_load_and_bad_ones_are_refused_with_the_field() -> None:
    loaded = parse_profile(PROFILE.format(cues='cues = ["Short steps", " Eyes level "]'))
    assert loaded.cues == ("Short steps", "Eyes level")
    assert parse_profile(PROFILE.format(cues="")).cues == ()
    for bad, words in (
        ("cues = []", "non-empty array"),
        ('cues = "toe first"', "non-empty array"),
        ("cues = [1]", "one non-empty line"),
        ('cues = [""]', "one non-empty line"),
        (f'cues = ["{"x" * 61}"]', "at most 60"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_profile(PROFILE.format(cues=bad))
        assert words in str(info.value)
        assert "cues" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(
    accel=st.floats(min_value=0.1, max_value=5.0),
    default_kmh=st.floats(min_value=0.0, max_value=2.0),
    factor=st.sampled_from([1.0, 0.9, 0.95, 1.05]),
    ignores_speed=st.booleans(),
    period=st.sampled_from([0.1, 0.3, 0.5, 1.0]),
)
def test_step_on_appears_only_with_telemetry_at_the_target_whatever_the_belt_does(
    accel: float, default_kmh: float, factor: float, ignores_speed: bool, period: float
) -> None:
    engine = SessionEngine(profile(segment("hold", (ONE, ONE), 120.0)))
    belt = Belt(
        accel_kmh_s=accel, default_kmh=default_kmh, factor=factor, ignores_speed=ignores_speed
    )
    drive = Drive(engine, belt, telemetry_period=period)
    drive.connect()
    drive.feed(engine.start(drive.now))
    shown = False
    for _, status, _ in trace(drive, 25.0):
        if status.step_on and not shown:
            shown = True
            assert status.state is SessionState.RUNNING
            assert status.target_speed_kmh > 0
            assert status.speed_kmh is not None
            assert abs(status.speed_kmh - status.target_speed_kmh) <= TOL + 1e-6
        if not shown and status.state is SessionState.RUNNING:
            assert status.straddle
            assert "STEP ON:" not in status.prompt
        assert not (status.step_on and status.straddle)
