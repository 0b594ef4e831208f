"""Clocks for the IO shells. The sans-IO core never reads a clock; it is handed ``now``.

``ScaledClock`` runs the virtual treadmill and the session together faster than wall time
(``--time-scale N``): N seconds of session time pass per wall-clock second. It is refused with a
real treadmill (the CLI checks), because a real belt does not speed up with the clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


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


__all__ = ["Clock", "MonotonicClock", "ScaledClock"]
