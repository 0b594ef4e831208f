"""Telemetry supervision, sans-IO: belt state, telemetry silence and the units self-test.

Fed the instantaneous speed of every merged Treadmill Data record (km/h, FTMS §4.9.1.2) and the
targets the treadmill accepted, with ``now``; returns events. The asyncio client calls
:meth:`TelemetryMonitor.tick` at :meth:`TelemetryMonitor.next_deadline`.

Units self-test (DESIGN safety defaults): once a target speed is accepted, wait until the belt
has held one speed (within ``settle_tolerance_kmh``) for ``settle_s`` while moving; a ratio
reported/target near 1.609 or 1/1.609 is a :class:`UnitMismatch` (the treadmill reads the target,
or reports its speed, in mph). A ratio near 1 passes the test; anything else (the treadmill
ignored the target, or the console changed it) leaves the test pending for the next target.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from retro_treadmill.ftms.events import (
    BeltStateChanged,
    TelemetrySilence,
    UnitMismatch,
)
from retro_treadmill.ftms.model import BeltState
from retro_treadmill.units import KMH_PER_MPH

MonitorEvent = BeltStateChanged | TelemetrySilence | UnitMismatch


class SelfTest:
    """States of the units self-test."""

    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    OFF = "off"


@dataclass(slots=True)
class TelemetryMonitor:
    """Belt state, silence detection and the units self-test for one connection."""

    unit_self_test: bool = True
    standstill_kmh: float = 0.1
    """Below this reported speed the belt counts as stopped."""
    silence_s: float = 3.0
    """No Treadmill Data this long: :class:`TelemetrySilence`, belt state UNKNOWN."""
    link_silence_s: float = 6.0
    """No Treadmill Data this long after the belt was last seen moving: the link is dead.
    (Some treadmills send nothing while idle, so silence with the belt stopped or unknown is
    reported as :class:`TelemetrySilence` only; a reconnect would not tell more.)"""
    settle_s: float = 1.5
    settle_tolerance_kmh: float = 0.05
    mismatch_tolerance: float = 0.08
    """Relative tolerance around 1.609 / 1/1.609 / 1 (SafetyLimits.unit_mismatch_tolerance)."""
    state: BeltState = BeltState.UNKNOWN
    speed_kmh: float | None = None
    self_test: str = SelfTest.PENDING
    _last_data_at: float = 0.0
    _silence_reported: bool = False
    _moving_before_silence: bool = False
    _target_kmh: float | None = None
    _samples: deque[tuple[float, float]] = field(default_factory=deque)

    def reset(self, now: float) -> list[MonitorEvent]:
        """A (re)connect: the belt state is UNKNOWN until telemetry shows it."""
        self._last_data_at = now
        self._silence_reported = False
        self._moving_before_silence = False
        self._samples.clear()
        self._target_kmh = None
        if self.self_test != SelfTest.PASSED:
            self.self_test = SelfTest.PENDING if self.unit_self_test else SelfTest.OFF
        self.speed_kmh = None
        if self.state is BeltState.UNKNOWN:
            return []
        self.state = BeltState.UNKNOWN
        return [BeltStateChanged(now, BeltState.UNKNOWN, None)]

    def target_accepted(self, target_kmh: float, now: float) -> None:
        """The treadmill accepted Set Target Speed ``target_kmh`` (the self-test's reference)."""
        self._target_kmh = target_kmh if target_kmh > 0 else None
        self._samples.clear()

    def stopped(self) -> None:
        """A Stop or Pause was accepted: no target any more."""
        self._target_kmh = None
        self._samples.clear()

    def record(self, speed_kmh: float | None, now: float) -> list[MonitorEvent]:
        """A merged Treadmill Data record arrived with instantaneous speed ``speed_kmh``."""
        self._last_data_at = now
        self._silence_reported = False
        if speed_kmh is None:
            return []
        out: list[MonitorEvent] = []
        self.speed_kmh = speed_kmh
        state = BeltState.MOVING if speed_kmh >= self.standstill_kmh else BeltState.STOPPED
        if state is not self.state:
            self.state = state
            out.append(BeltStateChanged(now, state, speed_kmh))
        mismatch = self._self_test(speed_kmh, now)
        if mismatch is not None:
            out.append(mismatch)
        return out

    def tick(self, now: float) -> list[MonitorEvent]:
        """Let time pass: reports a telemetry silence once per silence."""
        silent_for = now - self._last_data_at
        if silent_for < self.silence_s or self._silence_reported:
            return []
        self._silence_reported = True
        self._moving_before_silence = self.state is BeltState.MOVING
        out: list[MonitorEvent] = [TelemetrySilence(now, silent_for)]
        if self.state is not BeltState.UNKNOWN:
            self.state = BeltState.UNKNOWN
            self.speed_kmh = None
            out.append(BeltStateChanged(now, BeltState.UNKNOWN, None))
        return out

    def link_dead(self, now: float) -> bool:
        """True when telemetry has been silent for ``link_silence_s`` and the belt was moving
        when it went quiet: treat the link as lost."""
        return now - self._last_data_at >= self.link_silence_s and self._moving_before_silence

    def next_deadline(self) -> float:
        """When :meth:`tick` (and :meth:`link_dead`) must next be checked."""
        if not self._silence_reported:
            return self._last_data_at + self.silence_s
        return self._last_data_at + self.link_silence_s

    def _self_test(self, speed_kmh: float, now: float) -> UnitMismatch | None:
        target = self._target_kmh
        if self.self_test != SelfTest.PENDING or target is None:
            return None
        if speed_kmh < self.standstill_kmh:
            self._samples.clear()
            return None
        self._samples.append((now, speed_kmh))
        horizon = now - self.settle_s
        while len(self._samples) >= 2 and self._samples[1][0] <= horizon:
            self._samples.popleft()
        if self._samples[0][0] > horizon:
            return None
        speeds = [s for _, s in self._samples]
        if max(speeds) - min(speeds) > self.settle_tolerance_kmh:
            return None
        ratio = speed_kmh / target
        tol = self.mismatch_tolerance
        if abs(ratio - 1.0) <= tol:
            self.self_test = SelfTest.PASSED
            return None
        if abs(ratio / KMH_PER_MPH - 1.0) <= tol or abs(ratio * KMH_PER_MPH - 1.0) <= tol:
            self.self_test = SelfTest.FAILED
            return UnitMismatch(now, target, speed_kmh, ratio)
        return None


__all__ = ["MonitorEvent", "SelfTest", "TelemetryMonitor"]
