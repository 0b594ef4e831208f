"""Exports of a recorded session: FIT (Garmin, Strava), TCX (Garmin Training Center XML) and CSV.

Each function takes a :class:`SessionRecord` and returns the file's content; writing it is the
caller's business. Laps are the profile's segments as walked
(:func:`~retro_treadmill.records.totals.segment_summaries`); samples outside a segment (a turn-
around stop) stay in the record stream of FIT and CSV, and join the preceding lap's track in TCX
(TCX keeps trackpoints only inside laps). Times are the session clock (UTC).

FIT is written with fit-tool (BSD, maintained) as a walking activity on a treadmill: sport
``walking``, sub-sport ``treadmill``; a file_id, a timer start and stop event, one record message
per sample (speed, distance, heart rate, grade = incline), one lap per segment, a session and an
activity message.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any, Literal

from retro_treadmill.records.model import Sample, SegmentSummary, SessionRecord, utc_iso
from retro_treadmill.records.totals import segment_summaries
from retro_treadmill.units import kmh_to_mph

ExportFormat = Literal["fit", "tcx", "csv"]
FORMATS: tuple[ExportFormat, ...] = ("fit", "tcx", "csv")

TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
TCX_EXT_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"

CSV_COLUMNS = (
    "time_utc",
    "elapsed_s",
    "state",
    "segment_index",
    "segment_name",
    "direction",
    "target_speed_kmh",
    "belt_speed_kmh",
    "target_speed_mph",
    "belt_speed_mph",
    "target_incline_pct",
    "incline_pct",
    "distance_m",
    "heart_rate_bpm",
    "hr_source",
)


def export(record: SessionRecord, fmt: ExportFormat) -> bytes:
    """The session in ``fmt``, as the bytes of the file."""
    if fmt == "fit":
        return to_fit(record)
    if fmt == "tcx":
        return to_tcx(record).encode("utf-8")
    return to_csv(record).encode("utf-8")


# -- CSV -------------------------------------------------------------------------------------------


def _iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(value: float | int | str | None, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_csv(record: SessionRecord) -> str:
    """One row per sample, with a header row (:data:`CSV_COLUMNS`); empty cells are unknown."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in record.samples:
        writer.writerow(
            [
                _iso_ms(s.t),
                _cell(s.elapsed_s),
                s.state,
                _cell(s.segment_index),
                s.segment_name,
                s.direction or "",
                _cell(s.target_speed_kmh),
                _cell(s.belt_speed_kmh),
                _cell(None if s.target_speed_kmh is None else kmh_to_mph(s.target_speed_kmh)),
                _cell(None if s.belt_speed_kmh is None else kmh_to_mph(s.belt_speed_kmh)),
                _cell(s.target_incline_pct, 2),
                _cell(s.incline_pct, 2),
                _cell(s.distance_m, 2),
                _cell(s.heart_rate_bpm),
                s.hr_source or "",
            ]
        )
    return out.getvalue()


# -- TCX -------------------------------------------------------------------------------------------


def _laps_with_samples(
    record: SessionRecord,
) -> list[tuple[SegmentSummary | None, list[Sample]]]:
    """Each segment with the samples from its first to the next segment's first (the samples
    before the first segment join the first lap). Without segments, one lap of everything."""
    segments = segment_summaries(record.samples)
    if not segments:
        return [(None, list(record.samples))] if record.samples else []
    laps: list[tuple[SegmentSummary | None, list[Sample]]] = [(s, []) for s in segments]
    current = 0
    for sample in record.samples:
        while current + 1 < len(segments) and sample.t >= segments[current + 1].start_t:
            current += 1
        laps[current][1].append(sample)
    return laps


def _sub(parent: ET.Element, tag: str, text: str | None = None, ns: str = TCX_NS) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _ms(kmh: float) -> float:
    return kmh / 3.6


def to_tcx(record: SessionRecord) -> str:
    """Training Center XML v2: one Activity (Sport ``Other``: walking), a Lap per segment with
    its time, distance, max speed and heart rate, Trackpoints with time, distance, heart rate
    and the speed extension (m/s)."""
    ET.register_namespace("", TCX_NS)
    ET.register_namespace("ax", TCX_EXT_NS)
    root = ET.Element(f"{{{TCX_NS}}}TrainingCenterDatabase")
    activity = _sub(_sub(root, "Activities"), "Activity")
    activity.set("Sport", "Other")
    _sub(activity, "Id", utc_iso(record.info.started_at))
    origin = record.samples[0].distance_m if record.samples else None
    base = origin if origin is not None else 0.0
    for segment, samples in _laps_with_samples(record):
        if not samples:
            continue
        lap = _sub(activity, "Lap")
        lap.set("StartTime", utc_iso(samples[0].t))
        if segment is not None:
            seconds, metres = segment.duration_s, segment.distance_m
            peak, avg_hr, max_hr = (
                segment.peak_speed_kmh,
                segment.avg_heart_rate_bpm,
                segment.peak_heart_rate_bpm,
            )
        else:
            seconds = samples[-1].t - samples[0].t
            metres = (samples[-1].distance_m or 0.0) - (samples[0].distance_m or 0.0)
            peak = max((s.belt_speed_kmh or 0.0 for s in samples), default=None)
            rates = [s.heart_rate_bpm for s in samples if s.heart_rate_bpm]
            avg_hr = sum(rates) / len(rates) if rates else None
            max_hr = max(rates) if rates else None
        _sub(lap, "TotalTimeSeconds", f"{seconds:.1f}")
        _sub(lap, "DistanceMeters", f"{metres:.2f}")
        if peak is not None:
            _sub(lap, "MaximumSpeed", f"{_ms(peak):.3f}")
        _sub(lap, "Calories", "0")
        if avg_hr is not None:
            _sub(_sub(lap, "AverageHeartRateBpm"), "Value", str(round(avg_hr)))
        if max_hr is not None:
            _sub(_sub(lap, "MaximumHeartRateBpm"), "Value", str(max_hr))
        _sub(lap, "Intensity", "Active")
        _sub(lap, "TriggerMethod", "Manual")
        track = _sub(lap, "Track")
        for s in samples:
            point = _sub(track, "Trackpoint")
            _sub(point, "Time", _iso_ms(s.t))
            if s.distance_m is not None:
                _sub(point, "DistanceMeters", f"{s.distance_m - base:.2f}")
            if s.heart_rate_bpm:
                _sub(_sub(point, "HeartRateBpm"), "Value", str(s.heart_rate_bpm))
            if s.belt_speed_kmh is not None:
                tpx = _sub(_sub(point, "Extensions"), "TPX", ns=TCX_EXT_NS)
                _sub(tpx, "Speed", f"{_ms(s.belt_speed_kmh):.3f}", ns=TCX_EXT_NS)
        if segment is not None:
            _sub(lap, "Notes", f"{segment.index}. {segment.name} ({segment.direction or '-'})")
    _sub(
        activity,
        "Notes",
        f"retro-treadmill {record.info.program_version}: {record.info.profile_name}, "
        f"outcome {record.row.outcome}",
    )
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# -- FIT -------------------------------------------------------------------------------------------


def _fit_ms(t: float) -> int:
    """fit-tool takes timestamps as Unix epoch milliseconds (it converts to the FIT epoch)."""
    return round(t * 1000)


def to_fit(record: SessionRecord) -> bytes:
    """A FIT activity file (see the module docstring)."""
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.activity_message import ActivityMessage
    from fit_tool.profile.messages.event_message import EventMessage
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.lap_message import LapMessage
    from fit_tool.profile.messages.record_message import RecordMessage
    from fit_tool.profile.messages.session_message import SessionMessage
    from fit_tool.profile.profile_type import (
        Activity,
        Event,
        EventType,
        FileType,
        LapTrigger,
        Manufacturer,
        SessionTrigger,
        Sport,
        SubSport,
    )

    info, totals, samples = record.info, record.totals, record.samples
    start = samples[0].t if samples else info.started_at
    end = samples[-1].t if samples else (record.row.ended_at or info.started_at)
    origin = samples[0].distance_m if samples and samples[0].distance_m is not None else 0.0
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    messages: list[Any] = []

    file_id = FileIdMessage()
    file_id.type = FileType.ACTIVITY
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 0
    file_id.serial_number = int(info.session_id[:8], 16) or 1
    file_id.time_created = _fit_ms(info.started_at)
    messages.append(file_id)

    messages.append(_timer_event(EventMessage, Event, EventType.START, start))
    for s in samples:
        message = RecordMessage()
        message.timestamp = _fit_ms(s.t)
        if s.distance_m is not None:
            message.distance = s.distance_m - origin
        if s.belt_speed_kmh is not None:
            message.speed = _ms(s.belt_speed_kmh)
        if s.heart_rate_bpm:
            message.heart_rate = s.heart_rate_bpm
        if s.incline_pct is not None:
            message.grade = s.incline_pct
        messages.append(message)
    messages.append(_timer_event(EventMessage, Event, EventType.STOP_ALL, end))

    segments = segment_summaries(samples)
    for number, segment in enumerate(segments):
        lap = LapMessage()
        lap.message_index = number
        lap.event = Event.LAP
        lap.event_type = EventType.STOP
        lap.start_time = _fit_ms(segment.start_t)
        lap.timestamp = _fit_ms(segment.end_t)
        lap.total_elapsed_time = segment.duration_s
        lap.total_timer_time = segment.duration_s
        lap.total_distance = segment.distance_m
        _speeds(lap, segment.avg_speed_kmh, segment.peak_speed_kmh)
        _heart(lap, segment.avg_heart_rate_bpm, segment.peak_heart_rate_bpm)
        lap.lap_trigger = (
            LapTrigger.SESSION_END if number == len(segments) - 1 else LapTrigger.MANUAL
        )
        lap.sport = Sport.WALKING
        lap.sub_sport = SubSport.TREADMILL
        messages.append(lap)

    session = SessionMessage()
    session.message_index = 0
    session.event = Event.SESSION
    session.event_type = EventType.STOP
    session.timestamp = _fit_ms(end)
    session.start_time = _fit_ms(start)
    session.total_elapsed_time = end - start
    session.total_timer_time = end - start
    session.total_distance = totals.distance_m
    _speeds(session, totals.avg_speed_kmh, totals.peak_speed_kmh)
    _heart(session, totals.avg_heart_rate_bpm, totals.peak_heart_rate_bpm)
    session.sport = Sport.WALKING
    session.sub_sport = SubSport.TREADMILL
    session.first_lap_index = 0
    session.num_laps = len(segments)
    session.trigger = SessionTrigger.ACTIVITY_END
    messages.append(session)

    activity = ActivityMessage()
    activity.timestamp = _fit_ms(end)
    activity.total_timer_time = end - start
    activity.num_sessions = 1
    activity.type = Activity.MANUAL
    activity.event = Event.ACTIVITY
    activity.event_type = EventType.STOP
    messages.append(activity)

    builder.add_all(messages)
    data: bytes = builder.build().to_bytes()
    return data


def _timer_event(message_type: Any, event: Any, event_type: Any, t: float) -> Any:
    message = message_type()
    message.event = event.TIMER
    message.event_type = event_type
    message.timestamp = _fit_ms(t)
    return message


def _speeds(message: Any, avg_kmh: float | None, peak_kmh: float | None) -> None:
    if avg_kmh is not None:
        message.avg_speed = _ms(avg_kmh)
    if peak_kmh is not None:
        message.max_speed = _ms(peak_kmh)


def _heart(message: Any, avg: float | None, peak: int | None) -> None:
    if avg is not None:
        message.avg_heart_rate = round(avg)
    if peak is not None:
        message.max_heart_rate = peak


def default_filename(record: SessionRecord, fmt: ExportFormat) -> str:
    """``retro-treadmill-YYYYMMDD-HHMMSS-<id8>.<fmt>`` (UTC start time)."""
    stamp = datetime.fromtimestamp(record.info.started_at, UTC).strftime("%Y%m%d-%H%M%S")
    return f"retro-treadmill-{stamp}-{record.info.session_id[:8]}.{fmt}"


__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "TCX_EXT_NS",
    "TCX_NS",
    "ExportFormat",
    "default_filename",
    "export",
    "to_csv",
    "to_fit",
    "to_tcx",
]
