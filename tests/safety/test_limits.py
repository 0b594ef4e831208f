"""Combining safety limits: a clinic config can only make the governor stricter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.units import mph_to_kmh


def _ramp_rate(limits: SafetyLimits) -> float:
    return limits.speed_increase_kmh / limits.speed_increase_window_s


def test_tightening_keeps_the_lower_speed_cap() -> None:
    tighter = SafetyLimits(max_speed_kmh=mph_to_kmh(1.2))
    assert DEFAULT_LIMITS.tightened_by(tighter).max_speed_kmh == mph_to_kmh(1.2)
    assert tighter.tightened_by(DEFAULT_LIMITS).max_speed_kmh == mph_to_kmh(1.2)


def test_a_longer_rate_window_is_the_stricter_one() -> None:
    slower = SafetyLimits(speed_increase_window_s=10.0, incline_change_window_s=10.0)
    faster = SafetyLimits(speed_increase_window_s=2.0, incline_change_window_s=2.0)
    combined = faster.tightened_by(slower)
    assert combined.speed_increase_window_s == 10.0
    assert combined.incline_change_window_s == 10.0


@given(
    window=st.floats(min_value=0.5, max_value=60.0),
    step=st.floats(min_value=0.01, max_value=1.0),
    cap=st.floats(min_value=0.5, max_value=5.0),
)
def test_tightened_limits_never_ramp_faster_or_cap_higher_than_either_input(
    window: float, step: float, cap: float
) -> None:
    other = SafetyLimits(speed_increase_window_s=window, speed_increase_kmh=step, max_speed_kmh=cap)
    combined = DEFAULT_LIMITS.tightened_by(other)
    assert _ramp_rate(combined) <= min(_ramp_rate(DEFAULT_LIMITS), _ramp_rate(other)) + 1e-12
    assert combined.max_speed_kmh <= min(DEFAULT_LIMITS.max_speed_kmh, cap)


def test_tightening_with_itself_changes_nothing() -> None:
    assert DEFAULT_LIMITS.tightened_by(DEFAULT_LIMITS) == DEFAULT_LIMITS
