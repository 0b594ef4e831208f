"""The profile model: timing, ranges and caps that the session engine relies on."""

from __future__ import annotations

import pytest

from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.session.profile import Profile, ProfileLimits, Segment
from retro_treadmill.units import mph_to_kmh


def _profile() -> Profile:
    return Profile(
        name="t",
        description="Two lines.\nSecond.",
        audience="test",
        units="mph",
        segments=(
            Segment("warm-up", "backward", 1.0, 1.0, 0.0, 0.0, 60, source_index=1),
            Segment("ramp", "backward", 1.0, 2.0, 0.0, 2.0, 100, source_index=2),
            Segment("hold", "forward", 2.0, 2.0, 2.0, 2.0, 40, source_index=3),
        ),
    )


def test_ramp_interpolates_linearly_and_stays_within_its_span() -> None:
    ramp = _profile().segments[1]
    assert ramp.speed_at(50) == pytest.approx(1.5)
    assert ramp.incline_at(25) == pytest.approx(0.5)
    assert ramp.speed_at(-5) == 1.0
    assert ramp.speed_at(1000) == 2.0


def test_totals_ranges_and_segment_lookup() -> None:
    profile = _profile()
    assert profile.total_duration_s == 200
    assert profile.speed_range_kmh == (1.0, 2.0)
    assert profile.incline_range_pct == (0.0, 2.0)
    assert profile.direction_changes == 1
    assert profile.summary == "Two lines."
    assert profile.segment_at(0) == (0, 0.0)
    assert profile.segment_at(70) == (1, 10.0)
    assert profile.segment_at(199.5) == (2, 39.5)
    assert profile.segment_at(200) is None


def test_profile_caps_only_tighten() -> None:
    lower = ProfileLimits(max_speed_kmh=mph_to_kmh(1.2), max_incline_pct=9.0)
    applied = lower.apply_to(DEFAULT_LIMITS)
    assert applied.max_speed_kmh == pytest.approx(mph_to_kmh(1.2))
    assert applied.max_start_speed_kmh == pytest.approx(mph_to_kmh(1.0))
    assert applied.max_incline_pct == DEFAULT_LIMITS.max_incline_pct
    higher = ProfileLimits(max_speed_kmh=mph_to_kmh(3.0))
    assert higher.apply_to(DEFAULT_LIMITS) == DEFAULT_LIMITS
