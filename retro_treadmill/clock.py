"""Clocks for the IO shells. The sans-IO core never reads a clock; it is handed ``now``.

``ScaledClock`` runs the virtual treadmill and the session together faster than wall time
(``--time-scale N``): N seconds of session time pass per wall-clock second. It is refused with a
real treadmill (the CLI checks), because a real belt does not speed up with the clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from retro_treadmill.errors import ConfigError

MAX_TIME_SCALE = 20.0
"""The fastest ``--time-scale`` a session may run at. Under a scale N every wall-clock pause of
the process counts N times in session time, so the 3 s telemetry watchdog fires on a pause of
3/N s that no treadmill caused: a false alarm. Measured on the shared 2-core machine (load
average 6, demo profile headless, 3 runs per scale): x10 1 false telemetry_timeout in 3, x20 0
in 3, x30 0 in 3, x50 1 in 3, x100 3 in 3 (the issue saw them at x100 and above); the machine's
whole-process stalls reach 126-340 ms (tests/e2e/conftest.py), which x20 turns into 2.5-6.8 s.
x20 (150 ms of stall budget) is the limit; tests and ``make demo`` use x10 and below."""


def check_time_scale(scale: float) -> float:
    """``scale`` if a session can run at it; :class:`ConfigError` with the limit otherwise."""
    if not scale > 0:
        raise ConfigError(f"--time-scale must be above 0, got {scale:g}", field="time-scale")
    if scale > MAX_TIME_SCALE:
        raise ConfigError(
            f"--time-scale {scale:g} is too fast: at most {MAX_TIME_SCALE:g}; above it a pause of "
            f"the process (a few hundred ms on a busy machine) looks like {3:g} s without "
            "telemetry and raises false telemetry alarms",
            field="time-scale",
        )
    return scale


class Clock(Protocol):
    """Session time in seconds (monotonic) and a sleep measured in the same time."""

    def now(self) -> float:
        """Seconds since an arbitrary origin; never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class MonotonicClock:
    """Wall-clock time: ``time.monotonic``."""

    scale = 1.0

    def now(self) -> float:
        """Seconds from ``time.monotonic``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` for ``seconds``."""
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """``scale`` seconds of clock time per wall-clock second (``scale`` > 0)."""

    def __init__(self, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale!r}")
        self.scale = scale
        self._origin = time.monotonic()

    def now(self) -> float:
        """Scaled seconds since this clock was made."""
        return (time.monotonic() - self._origin) * self.scale

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of scaled time (``seconds / scale`` of wall time)."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)


__all__ = ["MAX_TIME_SCALE", "Clock", "MonotonicClock", "ScaledClock", "check_time_scale"]
