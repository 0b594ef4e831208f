"""The end-of-session summary, from the session's event stream (pure: no IO).

:class:`SessionTally` reads the bus (a ``KEEP`` subscription of the session service) and feeds
the records' :class:`~retro_treadmill.records.totals.TotalsAccumulator` with 1 Hz samples and the
alarms, operator actions and refusals, the same way the recorder keeps them, so the summary on
screen, the ``outcome`` line of the event log, MQTT's ``session_summary`` and the stored totals
agree. :func:`to_sample` and :func:`to_recorded` are the one mapping from session events to
record values (the recorder sink uses them too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retro_treadmill.records.model import (
    Direction,
    EventKind,
    RecordedEvent,
    Sample,
    SegmentSummary,
    Totals,
)
from retro_treadmill.records.totals import TotalsAccumulator, segment_summaries
from retro_treadmill.service.events import (
    AlarmRaised,
    BeltSample,
    CommandFailed,
    Decided,
    EventsDropped,
    LinkChanged,
    OperatorAction,
    Rejected,
    SessionEvent,
    SinkFailed,
    StateChanged,
)
from retro_treadmill.units import SpeedUnit, format_distance, format_speed, from_kmh, unit_label

SAMPLE_INTERVAL_S = 0.9
"""Samples closer than this (session clock) to the last kept one are not kept: a 1 Hz record
(the recorder's rule), with margin for a jittery 1 Hz feed."""

TALLY_KINDS: tuple[type, ...] = (
    BeltSample,
    AlarmRaised,
    OperatorAction,
    Decided,
    Rejected,
    CommandFailed,
    StateChanged,
    LinkChanged,
    SinkFailed,
    EventsDropped,
)
"""The events :class:`SessionTally` and the recorder read."""


def _direction(value: str) -> Direction | None:
    return value if value in ("backward", "forward") else None  # type: ignore[return-value]


def to_sample(event: BeltSample, epoch_base: float) -> Sample:
    """A record sample from a belt sample; ``epoch_base`` turns session time into UTC epoch
    seconds. The target counts only while the profile runs (not during a countdown, a pause or
    after a halt), so a segment's prescription is what was asked of the walker."""
    running = event.state == "running"
    return Sample(
        t=epoch_base + event.t,
        elapsed_s=event.elapsed_s,
        state=event.state,
        segment_index=None if event.segment_index is None else event.segment_index + 1,
        segment_name=event.segment_name,
        direction=_direction(event.direction) if event.segment_index is not None else None,
        target_speed_kmh=event.target_speed_kmh if running else None,
        belt_speed_kmh=event.speed_kmh,
        target_incline_pct=event.target_incline_pct if running else None,
        incline_pct=event.incline_pct,
        distance_m=event.distance_m,
        heart_rate_bpm=event.heart_rate_bpm,
        hr_source="treadmill" if event.heart_rate_bpm is not None else None,
    )


def to_recorded(event: SessionEvent, epoch_base: float) -> RecordedEvent | None:
    """The record of an alarm, operator action, refusal, state or link change, or an observer's
    failure; ``None`` for anything else."""
    t = epoch_base + event.t
    match event:
        case AlarmRaised():
            return RecordedEvent(t, EventKind.ALARM, event.alarm, event.message)
        case OperatorAction():
            data = {k: v for k, v in event.data.items() if isinstance(v, str | int | float)}
            return RecordedEvent(t, EventKind.OPERATOR, event.action, event.by or "", data)
        case Decided() if event.verdict != "approved":
            return RecordedEvent(
                t,
                EventKind.REFUSED,
                event.request,
                event.reason or event.verdict,
                {"verdict": event.verdict, "by": event.by, "command": event.command},
            )
        case Rejected():
            return RecordedEvent(t, EventKind.REFUSED, event.request, event.reason)
        case CommandFailed():
            reason = event.reason if event.dropped else (event.detail or event.outcome or "")
            return RecordedEvent(
                t,
                EventKind.REFUSED,
                type(event.command).__name__,
                reason or "",
                {"outcome": event.outcome, "result_code": event.result_code},
            )
        case StateChanged(changed=True):
            return RecordedEvent(t, EventKind.STATE, event.state, event.message)
        case LinkChanged(link="connecting"):
            return None
        case LinkChanged(link="connected", data=data) if "device" in data:
            return None  # the first connection: the session's device, not a link event
        case LinkChanged():
            return RecordedEvent(t, EventKind.LINK, event.link)
        case SinkFailed():
            return RecordedEvent(t, EventKind.SINK_FAILED, event.name, event.error)
        case EventsDropped():
            return RecordedEvent(t, EventKind.DROPPED, event.name, f"{event.count} events dropped")
        case _:
            return None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a session amounted to, for the screen, the console, MQTT and the event log."""

    outcome: str
    exit_code: int
    totals: Totals
    segments: tuple[SegmentSummary, ...]
    alarms: tuple[str, ...]
    """``kind: message`` of each alarm, in order."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``outcome``, ``exit_code``, ``totals``, ``segments``, ``alarms``."""
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "totals": self.totals.to_dict(),
            "segments": [
                {
                    "index": s.index,
                    "name": s.name,
                    "direction": s.direction,
                    "duration_s": round(s.duration_s, 3),
                    "distance_m": round(s.distance_m, 2),
                    "target_speed_min_kmh": s.target_speed_min_kmh,
                    "target_speed_max_kmh": s.target_speed_max_kmh,
                    "avg_speed_kmh": s.avg_speed_kmh,
                    "peak_speed_kmh": s.peak_speed_kmh,
                }
                for s in self.segments
            ],
            "alarms": list(self.alarms),
        }

    def lines(self, units: SpeedUnit) -> list[str]:
        """The summary block, as the TUI's summary and the headless console show it."""
        t = self.totals
        out = [f"Session summary: {self.outcome.replace('_', ' ')} (exit code {self.exit_code})"]
        walking = (
            f"{_clock(t.walking_s)} walking ({_clock(t.backward_s)} backward, "
            f"{_clock(t.forward_s)} forward); profile time {_clock(t.duration_s)}"
        )
        out.append(f"  Time      {walking}")
        out.append(
            f"  Distance  {format_distance(t.distance_m, units)} "
            f"({format_distance(t.backward_distance_m, units)} backward)"
        )
        if t.avg_speed_kmh is not None:
            out.append(
                f"  Speed     average {format_speed(t.avg_speed_kmh, units, 2)}, "
                f"peak {format_speed(t.peak_speed_kmh, units, 2)}"
            )
        if t.peak_heart_rate_bpm is not None and t.avg_heart_rate_bpm is not None:
            out.append(
                f"  Heart     average {t.avg_heart_rate_bpm:.0f} bpm, "
                f"peak {t.peak_heart_rate_bpm} bpm"
            )
        for s in self.segments:
            out.append(f"  {_segment_line(s, units)}")
        if self.alarms:
            out.extend(f"  Alarm     {a}" for a in self.alarms)
        else:
            out.append("  Alarms    none")
        return out

    def text(self, units: SpeedUnit) -> str:
        """:meth:`lines` joined."""
        return "\n".join(self.lines(units))


def _clock(seconds: float) -> str:
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _number(kmh: float, units: SpeedUnit, digits: int) -> str:
    return f"{from_kmh(kmh, units):.{digits}f}"


def _segment_line(s: SegmentSummary, units: SpeedUnit) -> str:
    """One line per segment, under 80 columns: "Seg 2 backward: prescribed 1.0-1.1, ran avg
    1.04 peak 1.12 mph; 0:32, 16 yd"."""
    lo, hi = s.target_speed_min_kmh, s.target_speed_max_kmh
    if lo is None or hi is None:
        prescribed = "not walked"
    elif abs(hi - lo) < 0.01:
        prescribed = f"prescribed {_number(hi, units, 1)}"
    else:
        prescribed = f"prescribed {_number(lo, units, 1)}-{_number(hi, units, 1)}"
    if s.avg_speed_kmh is not None and s.peak_speed_kmh is not None:
        ran = (
            f"ran avg {_number(s.avg_speed_kmh, units, 2)} "
            f"peak {_number(s.peak_speed_kmh, units, 2)} {unit_label(units)}"
        )
    else:
        ran = "belt not moving"
    where = f" {s.direction}" if s.direction else ""
    return (
        f"Seg {s.index}{where}: {prescribed}, {ran}; "
        f"{_clock(s.duration_s)}, {format_distance(s.distance_m, units)}"
    )


class SessionTally:
    """Totals of the session so far, from its events (a bus observer). ``epoch_base`` turns the
    session clock into UTC epoch seconds (as the recorder stores them)."""

    def __init__(self, epoch_base: float = 0.0) -> None:
        self.epoch_base = epoch_base
        self.samples: list[Sample] = []
        """The 1 Hz samples kept."""
        self.alarms: list[str] = []
        self._acc = TotalsAccumulator()
        self._last_t: float | None = None
        self._held: Sample | None = None

    def handle(self, event: SessionEvent) -> None:
        """Take one event from the bus."""
        if isinstance(event, BeltSample):
            self._sample(to_sample(event, self.epoch_base))
            return
        recorded = to_recorded(event, self.epoch_base)
        if recorded is not None:
            self._acc.event(recorded)
            if recorded.kind == EventKind.ALARM:
                self.alarms.append(f"{recorded.name}: {recorded.detail}")

    def _sample(self, sample: Sample) -> None:
        last = self._last_t
        if last is not None and 0 <= sample.t - last < SAMPLE_INTERVAL_S:
            self._held = sample  # kept at the end: the final state
            return
        self._keep(sample)

    def _keep(self, sample: Sample) -> None:
        self._last_t = sample.t
        self._held = None
        self.samples.append(sample)
        self._acc.sample(sample)

    def close(self) -> None:
        """The stream ended: keep the newest sample (the belt's final state)."""
        if self._held is not None:
            self._keep(self._held)

    def totals(self) -> Totals:
        """The totals of the samples kept so far (the newest one joins at :meth:`close`)."""
        return self._acc.totals()

    def summary(self, outcome: str, exit_code: int) -> SessionSummary:
        """The summary of everything kept so far, with the outcome given."""
        return SessionSummary(
            outcome=outcome,
            exit_code=exit_code,
            totals=self._acc.totals(),
            segments=tuple(segment_summaries(self.samples)),
            alarms=tuple(self.alarms),
        )


def summary_from_dict(data: Mapping[str, Any]) -> Totals:
    """The totals of a :meth:`SessionSummary.to_dict` (for the recorder)."""
    return Totals.from_dict(data.get("totals") or {})


__all__ = [
    "SAMPLE_INTERVAL_S",
    "TALLY_KINDS",
    "SessionSummary",
    "SessionTally",
    "summary_from_dict",
    "to_recorded",
    "to_sample",
]
