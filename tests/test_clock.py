"""Clocks used by the IO shells."""

from __future__ import annotations

import time

import pytest

from retro_treadmill.clock import ScaledClock


async def test_scaled_clock_runs_faster_than_wall_time_and_sleeps_in_its_own_time() -> None:
    clock = ScaledClock(50.0)
    start_wall, start = time.monotonic(), clock.now()
    await clock.sleep(5.0)  # 0.1 s of wall time
    wall = time.monotonic() - start_wall
    assert 0.09 <= wall < 1.0
    assert clock.now() - start == pytest.approx(wall * 50.0, rel=0.05)


def test_scaled_clock_refuses_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="time scale must be > 0"):
        ScaledClock(0)
