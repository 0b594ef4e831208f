"""MQTT topics and JSON payloads, defined once: typed builders, JSON Schemas and examples.

Pure: no IO, no clock reads (timestamps come in as arguments). The publisher
(:mod:`retro_treadmill.telemetry.mqtt`), the monitor and the tests share these definitions.

Topics under ``<prefix>/<treadmill_id>/``:

=================  =====  ======  ======================================================
topic              QoS    retain  payload
=================  =====  ======  ======================================================
``availability``   1      yes     ``online`` / ``offline`` (last will: ``offline``)
``state``          1      yes     :data:`STATE_SCHEMA` (session state, profile, targets)
``telemetry``      0      no      :data:`TELEMETRY_SCHEMA` (rate limited, default 2 Hz)
``event``          1      no      :data:`EVENT_SCHEMA` (alarms, safety, operator, remote)
``command/stop``   1      no      :data:`COMMAND_SCHEMA`, from a dashboard (subscribed)
``command/pause``  1      no      :data:`COMMAND_SCHEMA`, from a dashboard (subscribed)
=================  =====  ======  ======================================================

Speeds are km/h (FTMS unit) with an mph twin for display; inclines percent; distances metres;
times seconds; timestamps ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal, TypedDict

from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import SpeedUnit, kmh_to_mph

SCHEMA_VERSION: Final = 1
AVAILABILITY_ONLINE: Final = "online"
AVAILABILITY_OFFLINE: Final = "offline"

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Topics:
    """The topic names of one treadmill (``base`` = ``<prefix>/<treadmill_id>``)."""

    base: str

    @property
    def availability(self) -> str:
        """Retained ``online``/``offline``; the last will sets ``offline``."""
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        """Retained session state (:data:`STATE_SCHEMA`)."""
        return f"{self.base}/state"

    @property
    def telemetry(self) -> str:
        """Live measurements (:data:`TELEMETRY_SCHEMA`)."""
        return f"{self.base}/telemetry"

    @property
    def event(self) -> str:
        """Events (:data:`EVENT_SCHEMA`), QoS 1."""
        return f"{self.base}/event"

    @property
    def command_prefix(self) -> str:
        """Commands arrive on ``<command_prefix>/<name>``."""
        return f"{self.base}/command"

    @property
    def command_filter(self) -> str:
        """The subscription that sees every command, accepted or not."""
        return f"{self.base}/command/#"

    def command(self, name: str) -> str:
        """The topic of command ``name`` (``stop``, ``pause``)."""
        return f"{self.command_prefix}/{name}"


def iso_timestamp(epoch_s: float) -> str:
    """``epoch_s`` (Unix time) as ISO 8601 UTC with milliseconds: ``2026-11-21T22:10:00.250Z``."""
    moment = datetime.datetime.fromtimestamp(epoch_s, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _round(value: float | None, digits: int) -> float | None:
    """``value`` rounded for the wire; a non-finite number (a bug upstream) becomes ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _to_json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


# --- telemetry ------------------------------------------------------------------------------------


class TelemetryPayload(TypedDict):
    """JSON of ``<base>/telemetry``."""

    schema: int
    treadmill: str
    timestamp: str
    speed_kmh: float | None
    speed_mph: float | None
    incline_pct: float | None
    distance_m: float | None
    elapsed_s: float | None
    heart_rate_bpm: int | None
    heart_rate_source: str | None


@dataclass(frozen=True)
class TelemetrySample:
    """One set of measurements (FTMS Treadmill Data 4.9 and Heart Rate Measurement units).

    ``speed_kmh`` km/h, ``incline_pct`` percent, ``distance_m`` metres since the session start,
    ``elapsed_s`` session seconds, ``heart_rate_bpm`` beats per minute (the live value; ``None``
    when there is none or it is lost), ``heart_rate_source`` where it comes from (``"strap
    NAME"``, ``"treadmill"``). ``None`` = not known.
    """

    speed_kmh: float | None
    incline_pct: float | None = None
    distance_m: float | None = None
    elapsed_s: float | None = None
    heart_rate_bpm: int | None = None
    heart_rate_source: str | None = None

    def to_payload(self, treadmill: str, epoch_s: float) -> TelemetryPayload:
        """The JSON object for the telemetry topic, stamped with ``epoch_s`` (Unix time)."""
        mph = None if self.speed_kmh is None else kmh_to_mph(self.speed_kmh)
        return {
            "schema": SCHEMA_VERSION,
            "treadmill": treadmill,
            "timestamp": iso_timestamp(epoch_s),
            "speed_kmh": _round(self.speed_kmh, 3),
            "speed_mph": _round(mph, 3),
            "incline_pct": _round(self.incline_pct, 2),
            "distance_m": _round(self.distance_m, 1),
            "elapsed_s": _round(self.elapsed_s, 1),
            "heart_rate_bpm": self.heart_rate_bpm,
            "heart_rate_source": self.heart_rate_source,
        }


# --- state ----------------------------------------------------------------------------------------


class SegmentPayload(TypedDict):
    """The current profile segment inside :class:`StatePayload`."""

    index: int
    count: int
    name: str
    direction: str
    remaining_s: float | None


class TargetsPayload(TypedDict):
    """Targets inside :class:`StatePayload`."""

    speed_kmh: float | None
    speed_mph: float | None
    incline_pct: float | None


class CapsPayload(TypedDict):
    """Safety caps in force inside :class:`StatePayload`."""

    max_speed_kmh: float
    max_speed_mph: float
    max_incline_pct: float


class StatePayload(TypedDict):
    """JSON of ``<base>/state`` (retained)."""

    schema: int
    treadmill: str
    timestamp: str
    state: str
    profile: str | None
    segment: SegmentPayload | None
    targets: TargetsPayload
    caps: CapsPayload
    units: SpeedUnit
    alarm: str | None
    message: str


@dataclass(frozen=True)
class SegmentInfo:
    """Where the profile is: segment ``index`` (1-based, as people count) of ``count``, ``name``
    the segment's own name (its kind: ``warm-up``, ``hold`` ...); ``remaining_s`` seconds."""

    index: int
    count: int
    name: str = ""
    direction: str = "backward"
    remaining_s: float | None = None


@dataclass(frozen=True)
class StateUpdate:
    """The session's state for the retained ``state`` topic.

    ``state`` is the session state name (``idle``, ``preflight``, ``countdown``, ``running``,
    ``paused``, ``stopping``, ``finished``, ``alarm``). Targets in km/h and percent; ``limits`` are
    the safety caps in force; ``units`` is the operator's display unit.
    """

    state: str
    profile: str | None = None
    segment: SegmentInfo | None = None
    target_speed_kmh: float | None = None
    target_incline_pct: float | None = None
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    units: SpeedUnit = "mph"
    alarm: str | None = None
    message: str = ""

    def to_payload(self, treadmill: str, epoch_s: float) -> StatePayload:
        """The JSON object for the state topic, stamped with ``epoch_s`` (Unix time)."""
        segment: SegmentPayload | None = None
        if self.segment is not None:
            segment = {
                "index": self.segment.index,
                "count": self.segment.count,
                "name": self.segment.name,
                "direction": self.segment.direction,
                "remaining_s": _round(self.segment.remaining_s, 1),
            }
        target_mph = None if self.target_speed_kmh is None else kmh_to_mph(self.target_speed_kmh)
        return {
            "schema": SCHEMA_VERSION,
            "treadmill": treadmill,
            "timestamp": iso_timestamp(epoch_s),
            "state": self.state,
            "profile": self.profile,
            "segment": segment,
            "targets": {
                "speed_kmh": _round(self.target_speed_kmh, 3),
                "speed_mph": _round(target_mph, 3),
                "incline_pct": _round(self.target_incline_pct, 2),
            },
            "caps": {
                "max_speed_kmh": round(self.limits.max_speed_kmh, 3),
                "max_speed_mph": round(kmh_to_mph(self.limits.max_speed_kmh), 3),
                "max_incline_pct": round(self.limits.max_incline_pct, 2),
            },
            "units": self.units,
            "alarm": self.alarm,
            "message": self.message,
        }


# --- events ---------------------------------------------------------------------------------------


class EventCategory(StrEnum):
    """What an event is about."""

    ALARM = "alarm"
    """A safety alarm (overspeed, link loss, watchdog, ...)."""
    SAFETY = "safety"
    """A governor decision: a command rejected or substituted."""
    STATE = "state"
    """A session state change."""
    OPERATOR = "operator"
    """An operator action (start, stop key, resume, acknowledge)."""
    REMOTE_COMMAND = "remote_command"
    """A command received over MQTT, accepted or rejected."""
    MQTT = "mqtt"
    """The MQTT link itself (reconnected, events dropped while disconnected)."""
    SESSION = "session"
    """The session's own bookkeeping: an observer that failed (event log, recorder), events
    dropped from a full queue, the end-of-session summary."""


class Severity(StrEnum):
    """How much attention an event needs."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class EventPayload(TypedDict):
    """JSON of ``<base>/event``."""

    schema: int
    treadmill: str
    timestamp: str
    seq: int
    category: str
    code: str
    severity: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Event:
    """Something that happened: ``code`` is a stable machine name (``overspeed``,
    ``remote_command_rejected``), ``message`` the sentence a person reads, ``data`` any JSON
    details (km/h, percent, seconds)."""

    category: EventCategory
    code: str
    message: str
    severity: Severity = Severity.INFO
    data: Mapping[str, JsonValue] = field(default_factory=dict)

    def to_payload(self, treadmill: str, epoch_s: float, seq: int) -> EventPayload:
        """The JSON object for the event topic; ``seq`` counts events of this publisher from 1
        (a QoS 1 redelivery repeats the same ``seq``)."""
        return {
            "schema": SCHEMA_VERSION,
            "treadmill": treadmill,
            "timestamp": iso_timestamp(epoch_s),
            "seq": seq,
            "category": str(self.category),
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "data": dict(self.data),
        }


# --- remote commands ------------------------------------------------------------------------------

CommandKind = Literal["stop", "pause"]
ACCEPTED_COMMANDS: Final[tuple[CommandKind, ...]] = ("stop", "pause")
MAX_COMMAND_PAYLOAD = 1024
MAX_REASON_LEN = 200
MAX_SENDER_LEN = 100


class CommandPayload(TypedDict):
    """JSON a dashboard publishes to ``<base>/command/stop`` or ``command/pause``."""

    reason: str
    sender: str


@dataclass(frozen=True)
class RemoteCommand:
    """An accepted remote command: ``stop`` (FTMS Stop, 0x08/0x01) or ``pause`` (0x08/0x02).

    ``received_at`` is the publisher's clock (monotonic seconds) when the message arrived.
    """

    kind: CommandKind
    reason: str
    sender: str
    received_at: float
    payload_problem: str | None = None
    """Why the payload was unreadable, when it was: a stop or pause still acts (fail closed)."""


@dataclass(frozen=True)
class CommandRejection:
    """A message on a command topic that was not acted on, and why."""

    command: str
    why: str
    sender: str | None
    received_at: float


def parse_remote_command(
    name: str,
    payload: bytes,
    *,
    retained: bool,
    received_at: float,
    allow_stop: bool = True,
    allow_pause: bool = True,
) -> RemoteCommand | CommandRejection:
    """Decide what to do with a message on ``<base>/command/<name>``. Never raises.

    Only ``stop`` and ``pause`` exist (each can be disabled); nothing remote can start, resume
    or raise speed. The payload should be a JSON object with non-empty string ``reason`` and
    ``sender``; a stop or pause whose payload is not still acts (a stop is never blocked for want
    of a well-formed payload) and carries ``payload_problem`` for the event log. Retained messages
    are refused: a stale command must not act on a new session.
    """
    sender: str | None = None
    try:
        decoded = (
            json.loads(payload.decode("utf-8")) if len(payload) <= MAX_COMMAND_PAYLOAD else None
        )
    except (UnicodeDecodeError, ValueError):
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("sender"), str):
        sender = decoded["sender"][:MAX_SENDER_LEN]

    def reject(why: str) -> CommandRejection:
        return CommandRejection(command=name, why=why, sender=sender, received_at=received_at)

    if name not in ACCEPTED_COMMANDS:
        return reject(
            f"command {name!r} is not accepted over MQTT: remote commands can only stop or pause "
            "(nothing remote can start, resume or raise speed)"
        )
    if name == "stop" and not allow_stop:
        return reject("remote stop is disabled on this treadmill")
    if name == "pause" and not allow_pause:
        return reject("remote pause is disabled on this treadmill")
    if retained:
        return reject("retained command ignored: publish commands with retain=false")
    kind: CommandKind = "stop" if name == "stop" else "pause"
    reason = decoded.get("reason") if isinstance(decoded, dict) else None
    problem: str | None = None
    if len(payload) > MAX_COMMAND_PAYLOAD:
        problem = f"payload longer than {MAX_COMMAND_PAYLOAD} bytes"
    elif not isinstance(decoded, dict):
        problem = 'payload is not a JSON object like {"reason": "...", "sender": "..."}'
    elif not isinstance(reason, str) or not reason.strip():
        problem = 'payload needs a non-empty string "reason"'
    elif sender is None or not sender.strip():
        problem = 'payload needs a non-empty string "sender"'
    if problem is not None or not isinstance(reason, str):
        return RemoteCommand(
            kind=kind,
            reason=f"{kind} with an unreadable payload ({problem})",
            sender=(sender or "").strip() or "unknown sender",
            received_at=received_at,
            payload_problem=problem,
        )
    return RemoteCommand(
        kind=kind,
        reason=reason.strip()[:MAX_REASON_LEN],
        sender=(sender or "").strip(),
        received_at=received_at,
    )


def command_payload(reason: str, sender: str) -> bytes:
    """The JSON bytes a dashboard publishes to ``command/stop`` or ``command/pause``."""
    body: CommandPayload = {"reason": reason, "sender": sender}
    return _to_json(body)


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes of a payload (no NaN: a non-finite number is a bug upstream)."""
    return _to_json(payload)


# --- JSON Schemas (draft 2020-12) -----------------------------------------------------------------

_NUM_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_TIMESTAMP: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
}
_COMMON: dict[str, Any] = {
    "schema": {"const": SCHEMA_VERSION},
    "treadmill": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "timestamp": _TIMESTAMP,
}

AVAILABILITY_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "retro-treadmill availability (plain text, not JSON)",
    "enum": [AVAILABILITY_ONLINE, AVAILABILITY_OFFLINE],
}

TELEMETRY_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "retro-treadmill telemetry",
    "type": "object",
    "additionalProperties": False,
    "required": list(TelemetryPayload.__annotations__),
    "properties": {
        **_COMMON,
        "speed_kmh": {"type": ["number", "null"], "minimum": 0},
        "speed_mph": {"type": ["number", "null"], "minimum": 0},
        "incline_pct": _NUM_OR_NULL,
        "distance_m": {"type": ["number", "null"], "minimum": 0},
        "elapsed_s": {"type": ["number", "null"], "minimum": 0},
        "heart_rate_bpm": {"type": ["integer", "null"], "minimum": 0, "maximum": 255},
        "heart_rate_source": {"type": ["string", "null"]},
    },
}

STATE_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "retro-treadmill session state",
    "type": "object",
    "additionalProperties": False,
    "required": list(StatePayload.__annotations__),
    "properties": {
        **_COMMON,
        "state": {"type": "string", "minLength": 1},
        "profile": {"type": ["string", "null"]},
        "segment": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(SegmentPayload.__annotations__),
                    "properties": {
                        "index": {"type": "integer", "minimum": 1},
                        "count": {"type": "integer", "minimum": 1},
                        "name": {"type": "string"},
                        "direction": {"type": "string"},
                        "remaining_s": _NUM_OR_NULL,
                    },
                },
            ]
        },
        "targets": {
            "type": "object",
            "additionalProperties": False,
            "required": list(TargetsPayload.__annotations__),
            "properties": {
                "speed_kmh": _NUM_OR_NULL,
                "speed_mph": _NUM_OR_NULL,
                "incline_pct": _NUM_OR_NULL,
            },
        },
        "caps": {
            "type": "object",
            "additionalProperties": False,
            "required": list(CapsPayload.__annotations__),
            "properties": {
                "max_speed_kmh": {"type": "number", "exclusiveMinimum": 0},
                "max_speed_mph": {"type": "number", "exclusiveMinimum": 0},
                "max_incline_pct": {"type": "number"},
            },
        },
        "units": {"enum": ["mph", "kmh"]},
        "alarm": {"type": ["string", "null"]},
        "message": {"type": "string"},
    },
}

EVENT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "retro-treadmill event",
    "type": "object",
    "additionalProperties": False,
    "required": list(EventPayload.__annotations__),
    "properties": {
        **_COMMON,
        "seq": {"type": "integer", "minimum": 1},
        "category": {"enum": [c.value for c in EventCategory]},
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "severity": {"enum": [s.value for s in Severity]},
        "message": {"type": "string"},
        "data": {"type": "object"},
    },
}

COMMAND_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "retro-treadmill remote command (command/stop, command/pause)",
    "type": "object",
    "required": ["reason", "sender"],
    "properties": {
        "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON_LEN},
        "sender": {"type": "string", "minLength": 1, "maxLength": MAX_SENDER_LEN},
    },
}


__all__ = [
    "ACCEPTED_COMMANDS",
    "AVAILABILITY_OFFLINE",
    "AVAILABILITY_ONLINE",
    "AVAILABILITY_SCHEMA",
    "COMMAND_SCHEMA",
    "EVENT_SCHEMA",
    "SCHEMA_VERSION",
    "STATE_SCHEMA",
    "TELEMETRY_SCHEMA",
    "CommandKind",
    "CommandPayload",
    "CommandRejection",
    "Event",
    "EventCategory",
    "EventPayload",
    "RemoteCommand",
    "SegmentInfo",
    "Severity",
    "StatePayload",
    "StateUpdate",
    "TelemetryPayload",
    "TelemetrySample",
    "Topics",
    "command_payload",
    "encode",
    "iso_timestamp",
    "parse_remote_command",
]
