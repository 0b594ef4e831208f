"""The session's event stream: what the session service did and saw, as pure values.

:class:`~retro_treadmill.service.bus.SessionBus` carries these from the service to its
observers (the JSON-lines event log, the MQTT publisher, the UI, the recorder). Each event is a
frozen dataclass with ``t``, the session clock when it happened. They are named apart from the
FTMS client's and the MQTT schema's ``Event`` types. Nothing here does IO, so this module sits in
the sans-IO import-linter contract.

The control path never crosses the stream: FTMS events go to the engine and commands to the
treadmill before anything is published, and a Stop is written before its
:class:`OperatorAction` is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retro_treadmill.ftms.audit import AuditRecord
from retro_treadmill.safety import commands as sc


@dataclass(frozen=True, slots=True)
class SegmentView:
    """Where the profile is: ``index`` 0-based of ``count``, the segment's ``name`` and its own
    ``kind`` (the profile's name for it, e.g. "steady"; ``None`` when it has none)."""

    index: int
    count: int
    name: str
    direction: str
    remaining_s: float
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class StateChanged:
    """What the session shows changed: its state, segment, targets, alarm or message.
    ``changed`` is true when ``state`` differs from ``previous`` (a transition); otherwise only
    the targets, segment, alarm or message moved."""

    t: float
    state: str
    previous: str | None
    changed: bool
    profile: str
    segment: SegmentView | None
    segment_name: str
    target_speed_kmh: float
    target_incline_pct: float | None
    alarm: str | None
    message: str


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """An operator intent: ``action`` (start, stop, pause, resume, speed, incline, acknowledge),
    ``by`` (keyboard, mqtt, signal, ...; ``None`` when not told) and its details."""

    t: float
    action: str
    by: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decided:
    """A safety-governor decision on a request: ``verdict`` (approved, clamped, rejected...),
    ``request`` and ``command`` described, ``by`` the request's source."""

    t: float
    verdict: str
    request: str
    by: str
    command: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CommandSent:
    """A command handed to the treadmill (after the governor): ``command`` described, the
    command itself in ``data`` when there is one, who (``by``) or why (``reason``)."""

    t: float
    command: str
    data: sc.Command | None = None
    by: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A setpoint that did not take: refused or failed on the wire (``outcome``, FTMS
    ``result_code``, ``detail``), or ``dropped`` unsent (``reason``: not connected)."""

    t: float
    command: sc.Command
    outcome: str | None = None
    result_code: int | None = None
    detail: str | None = None
    dropped: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StopAnswered:
    """A Stop's answer when it was not a plain success (``outcome``, ``result_code``)."""

    t: float
    outcome: str
    result_code: int | None = None


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """A safety alarm: ``alarm`` is the :class:`~retro_treadmill.safety.commands.AlarmKind`
    value."""

    t: float
    alarm: str
    message: str
    warning: bool = False
    """A warning that did not stop the belt (the heart-rate-lost warning: the belt slows, and
    stops a minute later with a second alarm of the same kind)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An operator request refused (``request``, ``reason``)."""

    t: float
    request: str
    reason: str


@dataclass(frozen=True, slots=True)
class BeltSample:
    """One Treadmill Data record as the session saw it, with the targets in effect."""

    t: float
    speed_kmh: float | None
    incline_pct: float | None
    distance_m: float | None
    """Distance since the session connected (the treadmill's total minus its first value)."""
    elapsed_s: float
    """Walking time counted by the engine."""
    heart_rate_bpm: int | None
    """The live heart rate (``None`` when there is none, or it is lost)."""
    target_speed_kmh: float
    target_incline_pct: float | None
    state: str
    segment_index: int | None
    """0-based, as the engine counts (``None`` outside the profile)."""
    direction: str
    segment_name: str = ""
    heart_rate_source: str | None = None
    """Where the heart rate comes from (``"strap NAME"``, ``"treadmill"``)."""


@dataclass(frozen=True, slots=True)
class HeartRateSample:
    """One heart-rate sample as the governor got it: ``bpm`` (0 when the sensor says so),
    ``contact`` (``None``: not reported), ``source``."""

    t: float
    bpm: int
    contact: bool | None
    source: str


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """The link to the treadmill: ``link`` is ``connecting``, ``connected``, ``lost``,
    ``reconnecting`` or ``failed``; ``data`` the details (target, device, the FTMS event)."""

    t: float
    link: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Noted:
    """A fact only the event log keeps (``kind``: service, mqtt, ftms, exit, ...)."""

    t: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failed:
    """An exception in a task or callback (the service fails closed for its own code)."""

    t: float
    task: str
    error: str
    traceback: str | None = None
    ours: bool | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The last event of a session: the outcome, exit code and what the belt did."""

    t: float
    outcome: str
    exit_code: int
    engine_outcome: str | None
    state: str | None
    belt_speed_kmh: float | None
    alarms: tuple[str, ...]
    error: str | None
    stop_requested: str | None
    sink_failures: tuple[str, ...] = ()
    """``name: error`` of every observer that failed during the session."""
    summary: Mapping[str, Any] | None = None
    """The session's totals, segments and alarms (JSON-ready; see
    :class:`~retro_treadmill.service.summary.SessionSummary`)."""


@dataclass(frozen=True, slots=True)
class FtmsAudited:
    """One record of the FTMS client's audit trail (writes, responses, telemetry...)."""

    t: float
    record: AuditRecord


@dataclass(frozen=True, slots=True)
class Tick:
    """The session clock moved (countdown, remaining time): for the UI only."""

    t: float


@dataclass(frozen=True, slots=True)
class EventsDropped:
    """``count`` events were dropped from subscription ``name`` (its queue was full)."""

    t: float
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class SinkFailed:
    """Observer ``name`` raised ``error`` and was unsubscribed; the session goes on without it."""

    t: float
    name: str
    error: str


SessionEvent = (
    StateChanged
    | OperatorAction
    | Decided
    | CommandSent
    | CommandFailed
    | StopAnswered
    | AlarmRaised
    | Rejected
    | BeltSample
    | HeartRateSample
    | LinkChanged
    | Noted
    | Failed
    | SessionEnded
    | FtmsAudited
    | Tick
    | EventsDropped
    | SinkFailed
)
"""Everything the bus carries."""

__all__ = [
    "AlarmRaised",
    "BeltSample",
    "CommandFailed",
    "CommandSent",
    "Decided",
    "EventsDropped",
    "Failed",
    "FtmsAudited",
    "HeartRateSample",
    "LinkChanged",
    "Noted",
    "OperatorAction",
    "Rejected",
    "SegmentView",
    "SessionEnded",
    "SessionEvent",
    "SinkFailed",
    "StateChanged",
    "StopAnswered",
    "Tick",
]
