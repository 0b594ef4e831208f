"""Rehab profiles: the pure model of a guided backward-walking session.

A profile is a list of segments (warm-up, ramp, hold, interval, cool-down), each with a walking
direction, a speed and an incline (a constant value or a linear from-to ramp), a duration and a
prompt shown to the walker. Interval blocks in the file are expanded here into plain segments.

Units: speeds are km/h and inclines percent (FTMS units, DESIGN rule 5) everywhere in this model;
``Profile.units`` only records which speed unit the file was written in, for display.

This module is sans-IO: :func:`parse_profile` takes the file's text (and its path, for messages)
and returns a validated :class:`Profile` or raises :class:`retro_treadmill.errors.ConfigError`.
Reading files is :mod:`retro_treadmill.profiles`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import SpeedUnit

SegmentKind = Literal["warm-up", "ramp", "hold", "interval", "cool-down"]
"""What a segment is for; ``interval`` segments come from an interval block's expansion."""

Direction = Literal["backward", "forward"]
"""Which way the walker faces: ``backward`` = facing the rear of the deck (retro-walking)."""

SEGMENT_KINDS: tuple[SegmentKind, ...] = ("warm-up", "ramp", "hold", "interval", "cool-down")
DIRECTIONS: tuple[Direction, ...] = ("backward", "forward")


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a session at a constant or linearly ramped speed and incline.

    Speeds are km/h, inclines percent, the duration seconds. ``source_index`` is the 1-based
    number of the ``[[segments]]`` entry in the file this segment came from; for segments expanded
    from an interval block ``repeat`` and ``step`` (both 1-based) say which repetition and which
    step of it this is (both 0 otherwise).
    """

    kind: SegmentKind
    direction: Direction
    speed_from_kmh: float
    speed_to_kmh: float
    incline_from_pct: float
    incline_to_pct: float
    duration_s: float
    prompt: str = ""
    source_index: int = 0
    repeat: int = 0
    step: int = 0

    @property
    def max_speed_kmh(self) -> float:
        """The highest speed in this segment, km/h."""
        return max(self.speed_from_kmh, self.speed_to_kmh)

    @property
    def min_speed_kmh(self) -> float:
        """The lowest speed in this segment, km/h."""
        return min(self.speed_from_kmh, self.speed_to_kmh)

    @property
    def max_incline_pct(self) -> float:
        """The highest incline in this segment, percent."""
        return max(self.incline_from_pct, self.incline_to_pct)

    @property
    def min_incline_pct(self) -> float:
        """The lowest incline in this segment, percent."""
        return min(self.incline_from_pct, self.incline_to_pct)

    def speed_at(self, elapsed_s: float) -> float:
        """The target speed (km/h) ``elapsed_s`` seconds into the segment (clamped to its span)."""
        return _lerp(self.speed_from_kmh, self.speed_to_kmh, elapsed_s, self.duration_s)

    def incline_at(self, elapsed_s: float) -> float:
        """The target incline (%) ``elapsed_s`` seconds into the segment (clamped to its span)."""
        return _lerp(self.incline_from_pct, self.incline_to_pct, elapsed_s, self.duration_s)

    @property
    def label(self) -> str:
        """Where this segment is in its file, for messages: ``segment 3 'ramp'`` (plus
        ``step 2, repeat 4`` for interval segments)."""
        text = f"segment {self.source_index} '{self.kind}'"
        if self.repeat:
            text += f" step {self.step}, repeat {self.repeat}"
        return text


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """Caps a profile sets for itself (optional ``[limits]`` table); km/h and percent.

    They can only tighten: the governor uses the lowest of the device range, the clinic's
    effective limits and these (see :meth:`apply_to`).
    """

    max_speed_kmh: float | None = None
    max_incline_pct: float | None = None

    def apply_to(self, limits: SafetyLimits) -> SafetyLimits:
        """``limits`` tightened by this profile's caps (the lowest cap wins)."""
        result = limits
        if self.max_speed_kmh is not None and self.max_speed_kmh < result.max_speed_kmh:
            result = replace(
                result,
                max_speed_kmh=self.max_speed_kmh,
                max_start_speed_kmh=min(result.max_start_speed_kmh, self.max_speed_kmh),
            )
        if self.max_incline_pct is not None and self.max_incline_pct < result.max_incline_pct:
            result = replace(result, max_incline_pct=self.max_incline_pct)
        return result


@dataclass(frozen=True, slots=True)
class DeviceRange:
    """What a treadmill supports (FTMS Supported Speed Range 0x2AD4, km/h, and Supported
    Inclination Range 0x2AD5, percent). Profiles outside it are rejected, never clamped."""

    min_speed_kmh: float
    max_speed_kmh: float
    min_incline_pct: float | None = None
    max_incline_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A validated rehab profile: metadata plus the expanded segments in order.

    ``units`` is the speed unit the file was written in (for display); the values are km/h.
    ``source`` is the path the profile was loaded from (``""`` when built in code).
    """

    name: str
    description: str
    audience: str
    units: SpeedUnit
    segments: tuple[Segment, ...]
    limits: ProfileLimits = field(default_factory=ProfileLimits)
    source: str = ""

    @property
    def total_duration_s(self) -> float:
        """Planned walking time, seconds (stops for turning around not included)."""
        return sum(s.duration_s for s in self.segments)

    @property
    def speed_range_kmh(self) -> tuple[float, float]:
        """Lowest and highest target speed over all segments, km/h."""
        return (
            min(s.min_speed_kmh for s in self.segments),
            max(s.max_speed_kmh for s in self.segments),
        )

    @property
    def incline_range_pct(self) -> tuple[float, float]:
        """Lowest and highest target incline over all segments, percent."""
        return (
            min(s.min_incline_pct for s in self.segments),
            max(s.max_incline_pct for s in self.segments),
        )

    @property
    def start_speed_kmh(self) -> float:
        """The first speed commanded after the countdown, km/h."""
        return self.segments[0].speed_from_kmh

    @property
    def direction_changes(self) -> int:
        """How many times the walker turns around between segments (each one is a full stop)."""
        return sum(
            1
            for a, b in zip(self.segments, self.segments[1:], strict=False)
            if a.direction != b.direction
        )

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.strip().splitlines()[0] if self.description.strip() else ""

    def segment_at(self, elapsed_s: float) -> tuple[int, float] | None:
        """The index of the segment ``elapsed_s`` seconds of walking into the profile and the
        seconds already spent in it; ``None`` once the profile is over."""
        start = 0.0
        for index, segment in enumerate(self.segments):
            if elapsed_s < start + segment.duration_s:
                return index, max(0.0, elapsed_s - start)
            start += segment.duration_s
        return None


def _lerp(start: float, end: float, elapsed: float, duration: float) -> float:
    if duration <= 0 or elapsed >= duration:
        return end
    if elapsed <= 0:
        return start
    return start + (end - start) * (elapsed / duration)


__all__ = [
    "DIRECTIONS",
    "SEGMENT_KINDS",
    "DeviceRange",
    "Direction",
    "Profile",
    "ProfileLimits",
    "Segment",
    "SegmentKind",
]
