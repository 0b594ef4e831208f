"""What the treadmill will really run: the profile's speeds on the treadmill's speed steps.

Shown beside the prescription before the preflight (the screen's preflight, the headless console),
so that nobody finds out mid-session that a 1.0-1.2 mph ramp runs at 0.93 mph throughout on a
treadmill with 0.5 km/h steps. A difference above :data:`ACCEPT_ABOVE_MPH` needs the operator's
explicit acceptance (a checklist item); a profile that cannot run on the treadmill at all is
refused before the preflight, with a way forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retro_treadmill.session.profile import Segment
from retro_treadmill.units import SpeedUnit, from_kmh, mph_to_kmh, unit_label

ACCEPT_ABOVE_MPH = 0.05
"""A run speed further than this from the prescription (mph) needs the operator's acceptance."""
ACCEPT_ABOVE_KMH = mph_to_kmh(ACCEPT_ABOVE_MPH)
CONSTANT_SPEED_PROFILE = "steady"
"""The shipped profile at one speed, for treadmills whose steps are too coarse for a ramp."""
STEP_QUIRK = "speed_increment_kmh"
"""The quirk that states a treadmill's real speed step when it reports a coarser one."""


def display_speed(kmh: float, units: SpeedUnit) -> str:
    """A speed as people read it: in ``units``, rounded to the nearest 0.1 ("0.8", "1.0")."""
    return f"{round(from_kmh(kmh, units) + 1e-9, 1):.1f}"


@dataclass(frozen=True, slots=True)
class SegmentSpeeds:
    """One segment's prescribed speeds and those the treadmill runs (km/h)."""

    label: str
    prescribed_from_kmh: float
    prescribed_to_kmh: float
    runs_from_kmh: float
    runs_to_kmh: float

    @property
    def difference_kmh(self) -> float:
        """The larger gap between prescription and run speed, at either end."""
        return max(
            abs(self.runs_from_kmh - self.prescribed_from_kmh),
            abs(self.runs_to_kmh - self.prescribed_to_kmh),
        )


@dataclass(frozen=True, slots=True)
class SpeedPlan:
    """The profile's speeds on this treadmill; ``refusal`` says why it cannot run here."""

    segments: tuple[SegmentSpeeds, ...]
    step_kmh: float
    refusal: str = ""

    @property
    def worst_kmh(self) -> float:
        """The largest difference between a prescribed speed and what the treadmill runs."""
        return max((s.difference_kmh for s in self.segments), default=0.0)

    @property
    def needs_acceptance(self) -> bool:
        """A difference above 0.05 mph: the operator must accept it before the start."""
        return not self.refusal and self.worst_kmh > ACCEPT_ABOVE_KMH + 1e-9

    def lines(self, units: SpeedUnit) -> list[str]:
        """The table: one line per segment, prescription beside the run speed."""
        unit = unit_label(units)

        def span(low: float, high: float) -> str:
            a, b = display_speed(low, units), display_speed(high, units)
            return a if a == b else f"{a}->{b}"

        out = []
        width = max((len(s.label) for s in self.segments), default=0)
        for s in self.segments:
            prescribed = span(s.prescribed_from_kmh, s.prescribed_to_kmh)
            runs = span(s.runs_from_kmh, s.runs_to_kmh)
            mark = "" if s.difference_kmh <= ACCEPT_ABOVE_KMH + 1e-9 else "  (differs)"
            out.append(
                f"{s.label.ljust(width)}  prescribed {prescribed:>9} {unit}  runs {runs:>9} "
                f"{unit}{mark}"
            )
        return out

    def acceptance_item(self, units: SpeedUnit) -> str:
        """The checklist item that accepts the difference (the service requires it ticked)."""
        return (
            f"The speeds this treadmill runs are accepted (its steps of {self.step_kmh:g} km/h "
            f"are up to {from_kmh(self.worst_kmh, units):.2f} {unit_label(units)} away from "
            "the prescription)"
        )


def speed_plan(
    segments: Sequence[Segment],
    on_grid: Callable[[float], float],
    step_kmh: float,
    refusal: str = "",
) -> SpeedPlan:
    """The plan for ``segments``: ``on_grid`` maps a prescribed speed (km/h) to the one the
    treadmill runs (the governor's rounding, under its caps). Interval repeats are listed once."""
    rows: list[SegmentSpeeds] = []
    seen: set[tuple[int, int]] = set()
    for segment in segments:
        if segment.repeat:
            key = (segment.source_index, segment.step)
            if key in seen:
                continue
            seen.add(key)
        label = f"segment {segment.source_index} '{segment.kind}'"
        if segment.step:
            label += f" step {segment.step}"
        rows.append(
            SegmentSpeeds(
                label,
                segment.speed_from_kmh,
                segment.speed_to_kmh,
                on_grid(segment.speed_from_kmh),
                on_grid(segment.speed_to_kmh),
            )
        )
    return SpeedPlan(tuple(rows), step_kmh, refusal)


__all__ = [
    "ACCEPT_ABOVE_KMH",
    "ACCEPT_ABOVE_MPH",
    "CONSTANT_SPEED_PROFILE",
    "STEP_QUIRK",
    "SegmentSpeeds",
    "SpeedPlan",
    "display_speed",
    "speed_plan",
]
