"""Safety limits: DESIGN's "Safety defaults" table as one immutable value.

All speeds are km/h and inclines percent (FTMS units); the defaults are stated in mph where the
table states them in mph and converted once, here. A clinic config may tighten any limit; loosening
one needs an explicit clinic config key (see :mod:`retro_treadmill.config`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from retro_treadmill.units import mph_to_kmh


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """Every number the safety governor enforces.

    The defaults are DESIGN's safety defaults for backward walking.
    """

    max_speed_kmh: float = mph_to_kmh(1.5)
    """Highest belt speed ever commanded (1.5 mph)."""
    min_running_speed_kmh: float = mph_to_kmh(0.5)
    """Lowest non-zero belt speed (0.5 mph, or the device minimum when that is higher)."""
    max_start_speed_kmh: float = mph_to_kmh(1.0)
    """Highest first speed after the countdown (exempt from the rate limit)."""
    max_incline_pct: float = 5.0
    """Highest incline ever commanded, percent."""
    min_incline_pct: float = 0.0
    """Lowest incline ever commanded, percent (no decline by default)."""
    speed_increase_kmh: float = mph_to_kmh(0.1)
    """Largest speed increase allowed per ``speed_increase_window_s`` (0.1 mph)."""
    speed_increase_window_s: float = 5.0
    """Window of the speed increase rate limit, seconds."""
    incline_change_pct: float = 0.5
    """Largest incline change (either way) per ``incline_change_window_s``."""
    incline_change_window_s: float = 5.0
    """Window of the incline rate limit, seconds."""
    setpoint_tolerance_kmh: float = mph_to_kmh(0.1)
    """Telemetry within this of the target (or one device increment) confirms a setpoint."""
    setpoint_timeout_s: float = 10.0
    """A setpoint not confirmed by telemetry within this time halts the session with an alarm."""
    unit_mismatch_tolerance: float = 0.08
    """A reported/target ratio within this of 1.609 or 1/1.609 is a unit mismatch."""
    telemetry_timeout_s: float = 3.0
    """No Treadmill Data for this long while moving: alarm and stop."""
    link_loss_alarm_s: float = 0.5
    """Longest time from link loss to the alarm."""
    overspeed_margin_kmh: float = mph_to_kmh(0.2)
    """Reported speed above the cap by more than this ..."""
    overspeed_samples: int = 2
    """... for this many consecutive samples: stop."""
    stop_confirm_speed_kmh: float = 0.1
    """After Stop the belt must fall below this ..."""
    stop_confirm_timeout_s: float = 10.0
    """... within this many seconds, else "PULL THE SAFETY KEY"."""
    countdown_s: float = 5.0
    """Countdown between the preflight checklist and the first speed."""
    max_heart_rate_bpm: float = math.inf
    """Heart rate above this for ``heart_rate_samples`` samples in a row: alarm and stop
    (no limit by default; a clinic config sets one per patient group)."""
    heart_rate_samples: int = 2
    """Consecutive heart-rate samples above the limit that halt the session."""
    hr_hold_above_bpm: float = math.inf
    """At or above this heart rate, speed and incline increases are refused (the profile holds;
    decreases pass). No hold by default."""
    hr_lost_after_s: float = 5.0
    """While a heart-rate limit is set: no measurement (no sample, contact not detected, or
    0 bpm) for this long, or the sensor disconnected, is a lost heart rate: a warning at once and
    no increases."""
    hr_slow_after_s: float = 30.0
    """A heart rate lost this long: the belt slows to the minimum running speed."""
    hr_stop_after_s: float = 60.0
    """A heart rate lost this long: Stop, alarm, the session is over."""

    @property
    def heart_rate_limited(self) -> bool:
        """A heart-rate limit (``max_heart_rate_bpm`` or ``hr_hold_above_bpm``) is set, so a
        live heart rate is needed to start and its loss is acted on."""
        return math.isfinite(self.max_heart_rate_bpm) or math.isfinite(self.hr_hold_above_bpm)

    def tightened_by(self, other: SafetyLimits) -> SafetyLimits:
        """The stricter of ``self`` and ``other`` for every limit."""
        stricter: dict[str, Any] = {
            f.name: _stricter(f.name, getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
        }
        return SafetyLimits(**stricter)


# Limits where a larger number is the safer one; for every other limit the smaller one is safer.
# A rate limit is "so much per window": the same amount over a longer window is a slower ramp.
_LARGER_IS_STRICTER = frozenset(
    {
        "min_running_speed_kmh",
        "min_incline_pct",
        "countdown_s",
        "unit_mismatch_tolerance",
        "speed_increase_window_s",
        "incline_change_window_s",
    }
)


def _stricter(name: str, a: float, b: float) -> float:
    if name in _LARGER_IS_STRICTER:
        return max(a, b)
    return min(a, b)


DEFAULT_LIMITS = SafetyLimits()
"""DESIGN's safety defaults."""

__all__ = ["DEFAULT_LIMITS", "SafetyLimits"]
