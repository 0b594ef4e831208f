"""Totals of a session from its samples and events: pure, no IO (sans-IO; import-linter checks it).

The service feeds :class:`TotalsAccumulator` live (its end-of-session summary needs it even with
``--no-record``); the store feeds it what was kept when it closes an interrupted session. Both get
the same numbers from the same samples.

Rules: time between two samples is credited to the earlier sample's state (at most
:data:`MAX_GAP_S`, so a gap in the record is not counted as walking); the belt counts as moving at
:data:`MOVING_KMH` and above (DESIGN's standstill threshold); distance comes from the sample's
session distance when both samples carry one, else from the belt speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from retro_treadmill.records.model import (
    EventKind,
    RecordedEvent,
    Sample,
    SegmentSummary,
    Totals,
)

MOVING_KMH = 0.1
"""A belt at or above this speed is moving (DESIGN: a stopped belt is below 0.1 km/h)."""

MAX_GAP_S = 3.0
"""At most this much time is credited between two samples (1 Hz samples; a longer gap means the
record lost samples, and the lost time is not counted as walking)."""


def _moving(sample: Sample) -> bool:
    return sample.belt_speed_kmh is not None and sample.belt_speed_kmh >= MOVING_KMH


def _step(previous: Sample, current: Sample) -> tuple[float, float]:
    """(credited seconds, metres) from ``previous`` to ``current``."""
    dt = min(max(current.t - previous.t, 0.0), MAX_GAP_S)
    if previous.distance_m is not None and current.distance_m is not None:
        metres = max(current.distance_m - previous.distance_m, 0.0)
    elif _moving(previous) and previous.belt_speed_kmh is not None:
        metres = previous.belt_speed_kmh * dt / 3.6
    else:
        metres = 0.0
    return dt, metres


@dataclass(slots=True)
class TotalsAccumulator:
    """Feed samples (in time order) and events; :meth:`totals` at any moment."""

    _first: Sample | None = None
    _last: Sample | None = None
    _backward_s: float = 0.0
    _forward_s: float = 0.0
    _distance_m: float = 0.0
    _backward_m: float = 0.0
    _forward_m: float = 0.0
    _moving_s: float = 0.0
    _speed_time: float = 0.0
    _peak_speed: float | None = None
    _peak_incline: float | None = None
    _hr_sum: int = 0
    _hr_count: int = 0
    _peak_hr: int | None = None
    _samples: int = 0
    _counts: dict[str, int] = field(default_factory=dict)

    def sample(self, sample: Sample) -> None:
        """Add one sample (a sample older than the last one is counted but credits no time)."""
        self._samples += 1
        previous = self._last
        if previous is None:
            self._first = sample
            if sample.distance_m is not None and sample.distance_m > 0:
                self._add_distance(sample, sample.distance_m)
        else:
            dt, metres = _step(previous, sample)
            if _moving(previous) and previous.belt_speed_kmh is not None:
                self._moving_s += dt
                self._speed_time += previous.belt_speed_kmh * dt
                if previous.direction == "backward":
                    self._backward_s += dt
                elif previous.direction == "forward":
                    self._forward_s += dt
            self._add_distance(previous, metres)
        if previous is None or sample.t >= previous.t:
            self._last = sample
        if sample.belt_speed_kmh is not None:
            self._peak_speed = _max(self._peak_speed, sample.belt_speed_kmh)
        if sample.incline_pct is not None:
            self._peak_incline = _max(self._peak_incline, sample.incline_pct)
        if sample.heart_rate_bpm is not None and sample.heart_rate_bpm > 0:
            self._hr_sum += sample.heart_rate_bpm
            self._hr_count += 1
            self._peak_hr = (
                sample.heart_rate_bpm
                if self._peak_hr is None
                else max(self._peak_hr, sample.heart_rate_bpm)
            )

    def event(self, event: RecordedEvent) -> None:
        """Count one event by kind."""
        self._counts[event.kind] = self._counts.get(event.kind, 0) + 1

    def _add_distance(self, sample: Sample, metres: float) -> None:
        self._distance_m += metres
        if sample.direction == "backward":
            self._backward_m += metres
        elif sample.direction == "forward":
            self._forward_m += metres

    def totals(self) -> Totals:
        """The totals of everything fed so far."""
        duration = 0.0
        if self._last is not None:
            duration = max(self._last.elapsed_s, 0.0)
        return Totals(
            duration_s=duration,
            backward_s=self._backward_s,
            forward_s=self._forward_s,
            distance_m=self._distance_m,
            backward_distance_m=self._backward_m,
            forward_distance_m=self._forward_m,
            avg_speed_kmh=self._speed_time / self._moving_s if self._moving_s > 0 else None,
            peak_speed_kmh=self._peak_speed,
            peak_incline_pct=self._peak_incline,
            avg_heart_rate_bpm=self._hr_sum / self._hr_count if self._hr_count else None,
            peak_heart_rate_bpm=self._peak_hr,
            alarm_count=self._counts.get(EventKind.ALARM, 0),
            operator_actions=self._counts.get(EventKind.OPERATOR, 0),
            refused_count=self._counts.get(EventKind.REFUSED, 0),
            sample_count=self._samples,
            event_count=sum(self._counts.values()),
        )


def _max(current: float | None, value: float) -> float:
    return value if current is None else max(current, value)


def compute_totals(samples: Iterable[Sample], events: Iterable[RecordedEvent] = ()) -> Totals:
    """The totals of a whole record (samples in time order)."""
    accumulator = TotalsAccumulator()
    for sample in samples:
        accumulator.sample(sample)
    for event in events:
        accumulator.event(event)
    return accumulator.totals()


def segment_summaries(samples: Sequence[Sample]) -> list[SegmentSummary]:
    """The segments as walked: one summary per run of consecutive samples with the same segment
    index (samples outside any segment, e.g. a turn-around stop, belong to none). A segment ends
    where the next sample after it begins."""
    summaries: list[SegmentSummary] = []
    start = 0
    while start < len(samples):
        index = samples[start].segment_index
        end = start
        while end + 1 < len(samples) and samples[end + 1].segment_index == index:
            end += 1
        if index is not None:
            summaries.append(_summarise(samples, start, end))
        start = end + 1
    return summaries


def _summarise(samples: Sequence[Sample], start: int, end: int) -> SegmentSummary:
    group = samples[start : end + 1]
    boundary = samples[end + 1] if end + 1 < len(samples) else None
    metres = 0.0
    moving_s = 0.0
    speed_time = 0.0
    following = [*group[1:], *([boundary] if boundary is not None else [])]
    for previous, current in zip(group[: len(following)], following, strict=True):
        dt, step_m = _step(previous, current)
        metres += step_m
        if _moving(previous) and previous.belt_speed_kmh is not None:
            moving_s += dt
            speed_time += previous.belt_speed_kmh * dt
    targets = [s.target_speed_kmh for s in group if s.target_speed_kmh is not None]
    speeds = [s.belt_speed_kmh for s in group if s.belt_speed_kmh is not None]
    rates = [s.heart_rate_bpm for s in group if s.heart_rate_bpm]
    first = group[0]
    start_distance = first.distance_m
    if start_distance is None:
        start_distance = 0.0
    return SegmentSummary(
        index=first.segment_index or 0,
        name=first.segment_name,
        direction=first.direction,
        start_t=first.t,
        end_t=boundary.t if boundary is not None else group[-1].t,
        distance_m=metres,
        start_distance_m=start_distance,
        target_speed_min_kmh=min(targets) if targets else None,
        target_speed_max_kmh=max(targets) if targets else None,
        avg_speed_kmh=speed_time / moving_s if moving_s > 0 else None,
        peak_speed_kmh=max(speeds) if speeds else None,
        avg_heart_rate_bpm=sum(rates) / len(rates) if rates else None,
        peak_heart_rate_bpm=max(rates) if rates else None,
        sample_count=len(group),
    )


__all__ = [
    "MAX_GAP_S",
    "MOVING_KMH",
    "TotalsAccumulator",
    "compute_totals",
    "segment_summaries",
]
