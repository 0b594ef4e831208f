"""What a session record holds: plain frozen values, no IO (sans-IO; import-linter checks it).

Times are UTC epoch seconds on the session clock (with ``--time-scale`` the clock runs faster, so
``t`` is what the session saw). Speeds are km/h, inclines percent, distances metres (DESIGN rule 5:
mph only at the edges).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Direction = Literal["backward", "forward"]

INTERRUPTED = "interrupted"
"""The outcome of a session whose process ended without finishing it (crash, ``kill -9``,
power loss): written by the next open of the store, or shown so by readers."""

RUNNING = "running"
"""What readers show for a session whose writer is still alive (no outcome yet)."""


def new_session_id() -> str:
    """A fresh session id: 32 lowercase hex digits (uuid4)."""
    return uuid.uuid4().hex


def sha256_text(text: str) -> str:
    """The sha256 of ``text`` encoded as UTF-8, as 64 hex digits (profile and config hashes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_iso(t: float) -> str:
    """``t`` (UTC epoch seconds) as ISO 8601 with a ``Z``, to the second."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What is known when a session begins. The caller generates ``session_id``
    (:func:`new_session_id`) so the event log, MQTT and the store can all name the session."""

    session_id: str
    started_at: float
    """UTC epoch seconds on the session clock."""
    profile_name: str
    profile_text: str
    """The profile file's exact text, as run."""
    profile_sha256: str
    device_name: str
    device_address: str
    program_version: str
    walker_id: str | None = None
    personality: str | None = None
    """The virtual treadmill's personality, when the device is the simulator."""
    clinic_config_hash: str | None = None
    """sha256 of the clinic config file's text (``None``: built-in defaults)."""
    time_scale: float = 1.0
    units: str = "mph"
    """The unit the session was shown in (display only; everything stored is km/h)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One telemetry sample (the recorder keeps 1 Hz)."""

    t: float
    """UTC epoch seconds on the session clock."""
    elapsed_s: float
    """Seconds since the session started."""
    state: str
    """The session state (``SessionState`` value: running, paused, alarm, ...)."""
    segment_index: int | None
    """1-based index of the profile segment (``None`` before the first or after the last)."""
    segment_name: str
    direction: Direction | None
    target_speed_kmh: float | None
    belt_speed_kmh: float | None
    """The belt speed the treadmill reported."""
    target_incline_pct: float | None
    incline_pct: float | None
    """The incline the treadmill reported."""
    distance_m: float | None
    """Distance walked in this session (metres since the start, not the treadmill's odometer)."""
    heart_rate_bpm: int | None = None
    hr_source: str | None = None
    """Where the heart rate came from (``"strap"``, ``"treadmill"``, ...)."""


class EventKind(StrEnum):
    """The kinds of :class:`RecordedEvent` (new kinds may be added; readers keep unknown ones)."""

    ALARM = "alarm"
    """A safety alarm (name: the alarm kind)."""
    OPERATOR = "operator"
    """An operator action (stop, pause, resume, +/-, acknowledge)."""
    REFUSED = "refused"
    """A command the safety governor refused or replaced (detail: the reason)."""
    STATE = "state"
    """A session state change (name: the new state)."""
    REMOTE = "remote"
    """A command received over MQTT."""
    SINK_FAILED = "sink_failed"
    """A sink (event log, MQTT, ...) failed; detail: the error."""
    DROPPED = "dropped"
    """The recorder's queue was full and it dropped items; data: counts."""
    LINK = "link"
    """The link to the treadmill changed (lost, reconnected)."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A fact worth keeping: alarms, operator actions, refused commands with their reasons."""

    t: float
    kind: str
    """An :class:`EventKind` value (free text is kept as given)."""
    name: str
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serialisable extras (values that are not are stored as their ``str``)."""


@dataclass(frozen=True, slots=True)
class Totals:
    """What a session amounts to. Durations in seconds, speeds km/h, distance metres."""

    duration_s: float = 0.0
    """From the first to the last sample (session clock)."""
    backward_s: float = 0.0
    """Time with the belt moving on a backward segment."""
    forward_s: float = 0.0
    distance_m: float = 0.0
    backward_distance_m: float = 0.0
    forward_distance_m: float = 0.0
    avg_speed_kmh: float | None = None
    """Average belt speed while the belt moved (time-weighted)."""
    peak_speed_kmh: float | None = None
    peak_incline_pct: float | None = None
    avg_heart_rate_bpm: float | None = None
    peak_heart_rate_bpm: int | None = None
    alarm_count: int = 0
    operator_actions: int = 0
    refused_count: int = 0
    sample_count: int = 0
    event_count: int = 0

    @property
    def walking_s(self) -> float:
        """Time with the belt moving, either way."""
        return self.backward_s + self.forward_s

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (JSON-ready)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Totals:
        """The inverse of :meth:`to_dict`; unknown keys (from a newer version) are ignored."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """One profile segment as it was walked (a lap in FIT/TCX exports)."""

    index: int
    """1-based segment index."""
    name: str
    direction: Direction | None
    start_t: float
    end_t: float
    distance_m: float
    start_distance_m: float
    target_speed_min_kmh: float | None
    target_speed_max_kmh: float | None
    avg_speed_kmh: float | None
    peak_speed_kmh: float | None
    avg_heart_rate_bpm: float | None
    peak_heart_rate_bpm: int | None
    sample_count: int

    @property
    def duration_s(self) -> float:
        """Seconds from the segment's first sample to the next segment's (or the last sample)."""
        return self.end_t - self.start_t


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session as history lists it (no samples)."""

    session_id: str
    started_at: float
    ended_at: float | None
    walker_id: str | None
    profile_name: str
    device_name: str
    outcome: str
    """``completed``, ``stopped``, ``alarm``, ``interrupted``, ... or ``running``."""
    exit_code: int | None
    totals: Totals

    @property
    def finished(self) -> bool:
        """Whether the session ended (any outcome but ``running``)."""
        return self.outcome != RUNNING


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Everything kept about one session."""

    info: SessionInfo
    row: SessionRow
    samples: tuple[Sample, ...]
    events: tuple[RecordedEvent, ...]

    @property
    def totals(self) -> Totals:
        """The session's totals (as stored, or computed from what was kept)."""
        return self.row.totals


__all__ = [
    "INTERRUPTED",
    "RUNNING",
    "Direction",
    "EventKind",
    "RecordedEvent",
    "Sample",
    "SegmentSummary",
    "SessionInfo",
    "SessionRecord",
    "SessionRow",
    "Totals",
    "new_session_id",
    "sha256_text",
    "utc_iso",
]
