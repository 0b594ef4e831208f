"""Belt and incline physics of the virtual treadmill, sans-IO (every method takes ``now``).

Units are FTMS units: km/h, percent, metres, kcal, seconds of the injected clock.

The belt moves in discrete steps as real treadmill motors do: the Urevo E1L changes speed by
0.16 km/h every 0.2-0.4 s while accelerating and decelerating (ftms-notes §7, §10), and after
Stop the belt coasts down at the deceleration rate while elapsed time keeps counting
(CITYSPORTS, ftms-notes §10). The incline motor moves at a finite rate in %/s; a machine
without one (``incline_rate_pct_per_s == 0``) accepts the target and never moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from retro_treadmill.units import kmh_to_mph, mph_to_kmh

SpeedQuantum = Literal["kmh", "mph"]


class RunState(StrEnum):
    """What the treadmill is doing (the belt may still be coasting in PAUSED and STOPPED)."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class MotorSpec:
    """Ranges and motor dynamics of one treadmill model (FTMS §4.13-4.14 ranges)."""

    min_speed_kmh: float = 0.5
    max_speed_kmh: float = 12.0
    speed_increment_kmh: float = 0.1
    accel_step_kmh: float = 0.1
    accel_interval_s: float = 0.1
    decel_step_kmh: float = 0.1
    decel_interval_s: float = 0.1
    min_incline_pct: float = 0.0
    max_incline_pct: float = 10.0
    incline_increment_pct: float = 0.5
    incline_rate_pct_per_s: float = 0.5
    speed_quantum: SpeedQuantum = "kmh"
    """``"mph"``: targets snap to 0.1 mph steps shown in km/h (Urevo E1L, ftms-notes §3.4.6)."""
    body_mass_kg: float = 70.0
    stride_m: float = 0.6


_EPS = 1e-9


def _toward(value: float, goal: float, step: float) -> float:
    if value < goal:
        return min(goal, value + step)
    return max(goal, value - step)


def walking_kcal_per_hour(speed_kmh: float, incline_pct: float, mass_kg: float) -> float:
    """Net energy rate of treadmill walking (ACSM walking equation), kcal/h; 0 at standstill."""
    if speed_kmh <= 0:
        return 0.0
    metres_per_min = speed_kmh * 1000.0 / 60.0
    vo2 = 0.1 * metres_per_min + 1.8 * metres_per_min * max(0.0, incline_pct) / 100.0 + 3.5
    return vo2 * mass_kg / 1000.0 * 5.0 * 60.0


class BeltModel:
    """The belt, incline motor and workout counters of one virtual treadmill.

    Commands (``start``, ``stop``, ``set_target_speed`` ...) change goals; ``advance(now)`` moves
    the motors and counters up to ``now`` and returns the belt speeds reached on the way, one per
    motor step (the Urevo streams them as Target Speed Changed statuses).
    """

    def __init__(self, spec: MotorSpec, now: float) -> None:
        self.spec = spec
        self.state = RunState.IDLE
        self.belt_speed_kmh = 0.0
        self.target_speed_kmh = 0.0
        self.incline_pct = 0.0
        self.target_incline_pct = 0.0
        self._zero_counters()
        self._pending_speed_kmh: float | None = None
        self._unreported: list[float] = []
        self._last = now
        self._last_step = now

    # -- ranges ---------------------------------------------------------------------------------

    def quantize_speed(self, kmh: float) -> float:
        """Round a target to the machine's increment (0.1 mph steps on mph machines), km/h.

        A speed inside the range stays inside it: rounding past an end takes the step within.
        """
        spec = self.spec
        if spec.speed_quantum == "mph":
            steps = round(kmh_to_mph(kmh), 1)
            value = round(mph_to_kmh(steps), 2)
            if kmh > 0 and value > spec.max_speed_kmh + _EPS:
                value = round(mph_to_kmh(steps - 0.1), 2)
            elif kmh > 0 and value < spec.min_speed_kmh - _EPS:
                value = round(mph_to_kmh(steps + 0.1), 2)
            return value
        inc = spec.speed_increment_kmh
        if inc <= 0:
            return round(kmh, 2)
        value = round(round(kmh / inc) * inc, 2)
        if kmh > 0 and value > spec.max_speed_kmh + _EPS:
            value = round(value - inc, 2)
        elif kmh > 0 and value < spec.min_speed_kmh - _EPS:
            value = round(value + inc, 2)
        return value

    def speed_in_range(self, kmh: float) -> bool:
        """Whether ``kmh`` lies in the Supported Speed Range (0 is always allowed)."""
        return kmh == 0 or (self.spec.min_speed_kmh - _EPS <= kmh <= self.spec.max_speed_kmh + _EPS)

    def clamp_speed(self, kmh: float) -> float:
        """``kmh`` clamped into the Supported Speed Range."""
        return min(self.spec.max_speed_kmh, max(self.spec.min_speed_kmh, kmh))

    def incline_in_range(self, pct: float) -> bool:
        """Whether ``pct`` lies in the Supported Inclination Range."""
        return self.spec.min_incline_pct - _EPS <= pct <= self.spec.max_incline_pct + _EPS

    def clamp_incline(self, pct: float) -> float:
        """``pct`` clamped into the Supported Inclination Range."""
        return min(self.spec.max_incline_pct, max(self.spec.min_incline_pct, pct))

    @property
    def moving(self) -> bool:
        """Whether the belt moves at all."""
        return self.belt_speed_kmh > _EPS

    @property
    def energy_per_hour_kcal(self) -> float:
        """Current energy rate, kcal/h."""
        return walking_kcal_per_hour(self.belt_speed_kmh, self.incline_pct, self.spec.body_mass_kg)

    # -- commands -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Start or resume: the belt heads for the pending target, else the minimum speed."""
        self.advance(now)
        if self.state is RunState.PAUSED and self.target_speed_kmh > 0:
            goal = self.target_speed_kmh
        elif self._pending_speed_kmh:
            goal = self._pending_speed_kmh
        else:
            goal = self.spec.min_speed_kmh
        self.state = RunState.RUNNING
        self.target_speed_kmh = goal
        self._pending_speed_kmh = None

    def stop(self, now: float, *, pause: bool = False) -> None:
        """Stop (or pause): the belt coasts down at the deceleration rate."""
        self.advance(now)
        self.state = RunState.PAUSED if pause else RunState.STOPPED
        if not pause:
            self.target_speed_kmh = 0.0
            self._pending_speed_kmh = None

    def set_target_speed(self, kmh: float, now: float) -> float:
        """New speed target (already range-checked by the caller), quantized; returns it."""
        self.advance(now)
        value = self.quantize_speed(kmh)
        if self.state is RunState.RUNNING:
            self.target_speed_kmh = value
        else:
            self._pending_speed_kmh = value
        return value

    def bump_speed(self, delta_kmh: float, now: float) -> float:
        """The console's speed +/- keys while running: target moves by ``delta_kmh``, clamped."""
        self.advance(now)
        if self.state is not RunState.RUNNING:
            return self.target_speed_kmh
        self.target_speed_kmh = self.quantize_speed(
            self.clamp_speed(self.target_speed_kmh + delta_kmh)
        )
        return self.target_speed_kmh

    def set_target_incline(self, pct: float, now: float) -> float:
        """New incline target (range-checked by the caller), rounded to the increment."""
        self.advance(now)
        inc = self.spec.incline_increment_pct
        self.target_incline_pct = round(round(pct / inc) * inc, 1) if inc > 0 else round(pct, 1)
        return self.target_incline_pct

    def reset(self, now: float) -> None:
        """FTMS Reset (op 0x01): stop, targets to defaults, time fields to zero."""
        self.stop(now)
        self.state = RunState.IDLE
        self.target_incline_pct = 0.0
        self._zero_counters()

    def _zero_counters(self) -> None:
        """The workout counters a Reset clears (FTMS §4.16.2.2): one list for both uses."""
        self.elapsed_s = 0.0
        self.distance_m = 0.0
        self.energy_kcal = 0.0
        self.step_count = 0.0
        self.elevation_gain_m = 0.0
        self.elevation_loss_m = 0.0

    def halt(self, now: float) -> None:
        """Safety key pulled or power cut: the belt stops at once (no coasting)."""
        self.advance(now)
        self.state = RunState.STOPPED
        self.target_speed_kmh = 0.0
        self._pending_speed_kmh = None
        self.belt_speed_kmh = 0.0

    # -- time -----------------------------------------------------------------------------------

    def _goal_kmh(self) -> float:
        return self.target_speed_kmh if self.state is RunState.RUNNING else 0.0

    def _integrate(self, until: float) -> None:
        dt = until - self._last
        if dt <= 0:
            return
        v = self.belt_speed_kmh
        if self.state is RunState.RUNNING or v > _EPS:
            self.elapsed_s += dt
        metres = v / 3.6 * dt
        self.distance_m += metres
        self.step_count += metres / self.spec.stride_m
        climb = metres * self.incline_pct / 100.0
        if climb > 0:
            self.elevation_gain_m += climb
        else:
            self.elevation_loss_m -= climb
        self.energy_kcal += self.energy_per_hour_kcal * dt / 3600.0
        rate = self.spec.incline_rate_pct_per_s
        if rate > 0:
            self.incline_pct = _toward(self.incline_pct, self.target_incline_pct, rate * dt)
        self._last = until

    def take_steps(self) -> list[float]:
        """Belt speeds reached since the last call, one per motor step, by whichever
        :meth:`advance` moved them (for a status stream that must not miss a step)."""
        steps, self._unreported = self._unreported, []
        return steps

    def advance(self, now: float) -> list[float]:
        """Move motors and counters to ``now``; the belt speeds reached, one per motor step."""
        reached: list[float] = []
        if now <= self._last:
            return reached
        while True:
            goal = self._goal_kmh()
            if math.isclose(self.belt_speed_kmh, goal, abs_tol=_EPS):
                self.belt_speed_kmh = goal
                self._integrate(now)
                self._last_step = now
                return reached
            up = goal > self.belt_speed_kmh
            interval = self.spec.accel_interval_s if up else self.spec.decel_interval_s
            step = self.spec.accel_step_kmh if up else self.spec.decel_step_kmh
            next_step = max(self._last_step + interval, self._last)
            if next_step > now:
                self._integrate(now)
                return reached
            self._integrate(next_step)
            self._last_step = next_step
            self.belt_speed_kmh = round(_toward(self.belt_speed_kmh, goal, step), 4)
            reached.append(self.belt_speed_kmh)
            self._unreported.append(self.belt_speed_kmh)


__all__ = ["BeltModel", "MotorSpec", "RunState", "SpeedQuantum", "walking_kcal_per_hour"]
