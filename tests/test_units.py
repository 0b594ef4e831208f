"""The one module that converts units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retro_treadmill.units import format_speed, kmh_to_mph, mph_to_kmh


def test_the_default_backward_walking_cap_is_2_41_kmh() -> None:
    assert mph_to_kmh(1.5) == pytest.approx(2.414, abs=1e-3)


@given(st.floats(min_value=0, max_value=100))
def test_conversions_round_trip(mph: float) -> None:
    assert kmh_to_mph(mph_to_kmh(mph)) == pytest.approx(mph)


def test_unknown_speed_is_shown_as_dashes() -> None:
    assert format_speed(None, "mph") == "-- mph"
    assert format_speed(mph_to_kmh(1.2), "mph") == "1.2 mph"
    assert format_speed(2.0, "kmh") == "2.0 km/h"
