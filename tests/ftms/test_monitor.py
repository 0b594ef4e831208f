"""The sans-IO telemetry monitor: belt state, silence, units self-test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retro_treadmill.ftms.events import BeltStateChanged, TelemetrySilence, UnitMismatch
from retro_treadmill.ftms.model import BeltState
from retro_treadmill.ftms.monitor import SelfTest, TelemetryMonitor
from retro_treadmill.units import KMH_PER_MPH


def feed_ramp(
    m: TelemetryMonitor, start: float, end: float, accel: float, t0: float, dt: float, hold: float
) -> tuple[list[object], float]:
    """Speeds from ``start`` to ``end`` at ``accel`` km/h/s, then ``hold`` seconds at ``end``."""
    events: list[object] = []
    t, v = t0, start
    while v < end:
        events += m.record(v, t)
        t += dt
        v = min(end, v + accel * dt)
    stop_at = t + hold
    while t <= stop_at:
        events += m.record(end, t)
        t += dt
    return events, t


def test_belt_state_follows_telemetry_and_is_unknown_after_reset() -> None:
    m = TelemetryMonitor()
    assert m.state is BeltState.UNKNOWN
    [e] = m.record(0.0, 1.0)
    assert e == BeltStateChanged(1.0, BeltState.STOPPED, 0.0)
    [e] = m.record(0.5, 2.0)
    assert e == BeltStateChanged(2.0, BeltState.MOVING, 0.5)
    assert m.record(0.6, 3.0) == []
    [e] = m.reset(4.0)
    assert e == BeltStateChanged(4.0, BeltState.UNKNOWN, None)
    assert m.speed_kmh is None


def test_silence_is_reported_once_and_a_dead_link_only_when_moving() -> None:
    m = TelemetryMonitor(silence_s=3.0, link_silence_s=6.0)
    m.reset(0.0)
    m.record(2.0, 1.0)
    assert m.next_deadline() == 4.0
    assert m.tick(3.9) == []
    events = m.tick(4.0)
    assert events == [
        TelemetrySilence(4.0, 3.0),
        BeltStateChanged(4.0, BeltState.UNKNOWN, None),
    ]
    assert m.tick(5.0) == []
    assert not m.link_dead(6.9)
    assert m.link_dead(7.0)

    idle = TelemetryMonitor(silence_s=3.0, link_silence_s=6.0)
    idle.reset(0.0)
    idle.record(0.0, 1.0)
    idle.tick(4.0)
    assert not idle.link_dead(100.0)  # a stopped belt may legitimately go quiet


@pytest.mark.parametrize(
    ("ratio", "verdict"),
    [
        (1.0, SelfTest.PASSED),
        (KMH_PER_MPH, SelfTest.FAILED),
        (1 / KMH_PER_MPH, SelfTest.FAILED),
        (0.5, SelfTest.PENDING),  # ignored target: inconclusive, wait for the next one
    ],
)
def test_self_test_verdicts(ratio: float, verdict: str) -> None:
    m = TelemetryMonitor()
    m.reset(0.0)
    m.target_accepted(2.0, 0.0)
    events, _ = feed_ramp(m, 0.0, 2.0 * ratio, 0.5, 0.1, 0.5, 3.0)
    assert m.self_test == verdict
    mismatches = [e for e in events if isinstance(e, UnitMismatch)]
    assert len(mismatches) == (1 if verdict == SelfTest.FAILED else 0)
    if mismatches:
        assert mismatches[0].ratio == pytest.approx(ratio, rel=0.02)


def test_self_test_off() -> None:
    m = TelemetryMonitor(unit_self_test=False)
    m.reset(0.0)
    m.target_accepted(2.0, 0.0)
    events, _ = feed_ramp(m, 0.0, 2.0 * KMH_PER_MPH, 0.5, 0.1, 0.5, 3.0)
    assert m.self_test == SelfTest.OFF
    assert not [e for e in events if isinstance(e, UnitMismatch)]


@settings(max_examples=300, deadline=None)
@given(
    target=st.floats(0.8, 6.0),
    ratio=st.sampled_from([1.0, KMH_PER_MPH, 1 / KMH_PER_MPH, 0.8, 1.3]),
    accel=st.floats(0.1, 2.0),
    dt=st.sampled_from([0.1, 0.25, 0.5, 1.0]),
)
def test_a_ramp_never_triggers_a_false_mismatch(
    target: float, ratio: float, accel: float, dt: float
) -> None:
    """However slowly the belt ramps (>= 0.1 km/h/s) and however often it reports, only a belt
    that settles near 1.609x or 1/1.609x of the target is a unit mismatch."""
    m = TelemetryMonitor()
    m.reset(0.0)
    m.target_accepted(target, 0.0)
    events, _ = feed_ramp(m, 0.0, target * ratio, accel, 0.1, dt, 3.0)
    mismatch = [e for e in events if isinstance(e, UnitMismatch)]
    expect = ratio in (KMH_PER_MPH, 1 / KMH_PER_MPH)
    assert bool(mismatch) == expect
