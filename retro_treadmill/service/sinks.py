"""Observers of the session bus: the event log and the MQTT publisher.

Each maps :mod:`~retro_treadmill.service.events` onto its output, so
:mod:`retro_treadmill.telemetry` never imports the service. The session service subscribes them (see
:meth:`~retro_treadmill.service.session.SessionService.serve`):

========================  ==============================  =======================================
sink                      policy                          receives
========================  ==============================  =======================================
``event-log``             ``KEEP(LOG_QUEUE)``             everything but samples and ticks
``mqtt``                  ``KEEP(MQTT_EVENT_QUEUE)``      states, alarms, decisions, operator...
``mqtt-telemetry``        ``DROP_OLDEST(...)``            belt samples
========================  ==============================  =======================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.records.model import RecordedEvent, SessionInfo, Totals, sha256_text
from retro_treadmill.records.recorder import Recorder
from retro_treadmill.safety.commands import AlarmKind
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.service.events import (
    AlarmRaised,
    BeltSample,
    CommandFailed,
    CommandSent,
    Decided,
    EventsDropped,
    Failed,
    FtmsAudited,
    HeartRateSample,
    LinkChanged,
    Noted,
    OperatorAction,
    Rejected,
    SessionEnded,
    SessionEvent,
    SinkFailed,
    StateChanged,
    StopAnswered,
    Tick,
)
from retro_treadmill.service.summary import to_recorded, to_sample
from retro_treadmill.session.profile import Profile
from retro_treadmill.telemetry.eventlog import EventLog
from retro_treadmill.telemetry.mqtt import MqttPublisher
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    SegmentInfo,
    Severity,
    StateUpdate,
    TelemetrySample,
)
from retro_treadmill.units import SpeedUnit

LOG_QUEUE = 20_000
"""Events the event log's subscription holds (the audit trail of a busy minute and more)."""
MQTT_EVENT_QUEUE = 2_000
MQTT_TELEMETRY_QUEUE = 10

LOG_KINDS: tuple[type, ...] = (
    HeartRateSample,
    StateChanged,
    OperatorAction,
    Decided,
    CommandSent,
    CommandFailed,
    StopAnswered,
    AlarmRaised,
    Rejected,
    LinkChanged,
    Noted,
    Failed,
    SessionEnded,
    FtmsAudited,
    EventsDropped,
    SinkFailed,
)
MQTT_EVENT_KINDS: tuple[type, ...] = (
    StateChanged,
    OperatorAction,
    Decided,
    AlarmRaised,
    SessionEnded,
    EventsDropped,
    SinkFailed,
)


class EventLogFailed(RetroTreadmillError):
    """The event log file cannot be written any more (disk full, ...)."""


def _summary_fields(summary: Mapping[str, Any] | None) -> dict[str, Any]:
    if summary is None:
        return {}
    return {"totals": summary.get("totals"), "segments": summary.get("segments")}


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class EventLogSink:
    """Writes each event as the JSON-lines record README documents (``kind`` and fields). Raises
    :class:`EventLogFailed` once the log's file has failed, so the bus reports it."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def handle(self, event: SessionEvent) -> None:
        self._write(event)
        self.check()

    def check(self) -> None:
        """Raise :class:`EventLogFailed` when the file could not be written."""
        if self.log.failed is not None:
            raise EventLogFailed(f"the event log cannot be written: {self.log.failed}")

    def finish(self) -> None:
        """The stream ended: hand what is left to the log's writer (on the loop: no waiting for
        the disk; :meth:`EventLog.close` waits) and report a failure seen so far."""
        self.log.flush(wait_s=0)
        self.check()

    def _write(self, event: SessionEvent) -> None:
        w = self.log.write_at
        match event:
            case FtmsAudited(record=record):
                self.log.audit(record)
            case StateChanged(changed=True):
                w(
                    event.t,
                    "state",
                    state=event.state,
                    previous=event.previous,
                    segment=event.segment_name,
                    message=event.message,
                )
            case StateChanged():
                pass
            case OperatorAction():
                w(event.t, "operator", action=event.action, **_present(by=event.by), **event.data)
            case Decided():
                w(
                    event.t,
                    "decision",
                    verdict=event.verdict,
                    request=event.request,
                    by=event.by,
                    command=event.command,
                    reason=event.reason,
                )
            case CommandSent():
                w(
                    event.t,
                    "command",
                    command=event.command,
                    **_present(data=event.data, by=event.by, reason=event.reason),
                )
            case CommandFailed(dropped=True):
                w(event.t, "command-dropped", command=event.command, reason=event.reason)
            case CommandFailed():
                w(
                    event.t,
                    "command-failed",
                    command=event.command,
                    outcome=event.outcome,
                    result_code=event.result_code,
                    detail=event.detail,
                )
            case StopAnswered():
                w(
                    event.t,
                    "stop-result",
                    outcome=event.outcome,
                    **_present(result_code=event.result_code),
                )
            case AlarmRaised():
                warning = {"warning": True} if event.warning else {}
                w(event.t, "alarm", alarm=event.alarm, message=event.message, **warning)
            case Rejected():
                w(event.t, "rejection", request=event.request, reason=event.reason)
            case LinkChanged(link="connecting" | "connected" as link):
                w(event.t, link, **event.data)
            case LinkChanged():
                w(event.t, "ftms", **event.data)
            case Noted():
                w(event.t, event.kind, **event.data)
            case Failed():
                w(
                    event.t,
                    "error",
                    task=event.task,
                    error=event.error,
                    **_present(traceback=event.traceback, ours=event.ours),
                )
            case SessionEnded():
                w(
                    event.t,
                    "outcome",
                    outcome=event.outcome,
                    exit_code=event.exit_code,
                    engine_outcome=event.engine_outcome,
                    state=event.state,
                    belt_speed_kmh=event.belt_speed_kmh,
                    alarms=list(event.alarms),
                    error=event.error,
                    stop_requested=event.stop_requested,
                    sink_failures=list(event.sink_failures),
                    **_summary_fields(event.summary),
                )
            case EventsDropped():
                w(event.t, "events-dropped", subscription=event.name, count=event.count)
            case SinkFailed():
                w(event.t, "sink-failed", sink=event.name, error=event.error)
            case HeartRateSample():
                w(
                    event.t,
                    "heart_rate",
                    bpm=event.bpm,
                    sensor=event.source,
                    **_present(contact=event.contact),
                )
            case BeltSample() | Tick():
                pass


RECORDER_QUEUE = 5_000
"""Events the recorder's subscription holds (minutes of 10 Hz samples: its own queue and
thread take them from there at once)."""
EARLY_EVENTS = 200
"""Events kept from before the session's device is known (operator actions while connecting)."""


@dataclass(frozen=True, slots=True)
class Recording:
    """Record the session into the store at ``path``; ``info`` is what is known before it
    connects (the device and the start time are filled in once connected)."""

    path: Path
    info: SessionInfo


class RecorderSink:
    """Keeps the session in the records store through a
    :class:`~retro_treadmill.records.recorder.Recorder` (its calls never do IO or wait): begins
    once the treadmill is connected, then belt samples (the recorder keeps 1 Hz), alarms,
    operator actions, refusals, state and link changes, and the outcome with the totals. Raises
    once the recorder has failed (disk full, ...), so the bus reports it."""

    def __init__(self, recorder: Recorder, info: SessionInfo, epoch_base: float) -> None:
        self.recorder = recorder
        self.info = info
        self.epoch_base = epoch_base
        self.begun = False
        self._early: list[RecordedEvent] = []

    def handle(self, event: SessionEvent) -> None:
        failed = self.recorder.failed
        if failed is not None:
            raise failed
        match event:
            case LinkChanged(link="connected", data=data) if "device" in data and not self.begun:
                device = data["device"]
                self._begin(
                    event.t,
                    str(getattr(device, "name", "") or ""),
                    str(getattr(device, "address", "") or ""),
                )
            case BeltSample():
                if self.begun:
                    self.recorder.sample(to_sample(event, self.epoch_base))
            case SessionEnded():
                if not self.begun:
                    self._begin(event.t, "", "")
                totals = Totals.from_dict((event.summary or {}).get("totals") or {})
                self.recorder.finish(
                    event.outcome,
                    event.exit_code,
                    totals,
                    ended_at=self.epoch_base + event.t,
                )
            case _:
                recorded = to_recorded(event, self.epoch_base)
                if recorded is None:
                    return
                if self.begun:
                    self.recorder.event(recorded)
                elif len(self._early) < EARLY_EVENTS:
                    self._early.append(recorded)

    def use_profile(self, profile: Profile) -> None:
        """The session runs ``profile`` (chosen after the recording was set up): the record
        keeps its name and the text it was parsed from. Only before the record begins."""
        if self.begun:
            raise RuntimeError("the record has begun; its profile cannot change")
        self.info = dataclasses.replace(
            self.info,
            profile_name=profile.name,
            profile_text=profile.text,
            profile_sha256=sha256_text(profile.text),
        )

    def _begin(self, t: float, device_name: str, device_address: str) -> None:
        self.begun = True
        self.recorder.begin(
            dataclasses.replace(
                self.info,
                started_at=self.epoch_base + t,
                device_name=device_name or self.info.device_name,
                device_address=device_address or self.info.device_address,
            )
        )
        for recorded in self._early:
            self.recorder.event(recorded)
        self._early.clear()


class MqttSink:
    """Publishes the session's state, telemetry and events through an :class:`MqttPublisher`
    (payloads as README's MQTT topics describe)."""

    def __init__(self, mqtt: MqttPublisher, *, limits: SafetyLimits, units: SpeedUnit) -> None:
        self.mqtt = mqtt
        self.limits = limits
        self.units: SpeedUnit = units
        self._last_state: StateUpdate | None = None

    def _event(
        self,
        category: EventCategory,
        code: str,
        message: str,
        severity: Severity = Severity.INFO,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.mqtt.publish_event(Event(category, code, message, severity, data or {}))

    def handle(self, event: SessionEvent) -> None:
        match event:
            case BeltSample():
                self.mqtt.publish_telemetry(
                    TelemetrySample(
                        speed_kmh=event.speed_kmh,
                        incline_pct=event.incline_pct,
                        distance_m=event.distance_m,
                        elapsed_s=event.elapsed_s,
                        heart_rate_bpm=event.heart_rate_bpm,
                        heart_rate_source=event.heart_rate_source,
                    )
                )
            case StateChanged():
                self._state(event)
            case OperatorAction(action="stop"):
                by = event.by or "operator"
                detail = str(event.data.get("detail") or "")
                self._event(
                    EventCategory.OPERATOR,
                    "stop",
                    f"Stop ({by}{': ' + detail if detail else ''})",
                    Severity.WARNING,
                    {"source": by},
                )
            case Decided() if event.verdict != "approved":
                self._event(
                    EventCategory.SAFETY,
                    f"request_{event.verdict}",
                    event.reason or event.verdict,
                    Severity.WARNING,
                    {"source": event.by},
                )
            case AlarmRaised():
                message = event.message
                if event.alarm == AlarmKind.INTERNAL_ERROR.value:
                    message = f"Internal error: {message}"
                severity = Severity.WARNING if event.warning else Severity.CRITICAL
                self._event(EventCategory.ALARM, event.alarm, message, severity)
            case SinkFailed():
                self._event(
                    EventCategory.SESSION,
                    "sink_failed",
                    f"{event.name} stopped: {event.error}",
                    Severity.WARNING,
                    {"sink": event.name, "error": event.error},
                )
            case EventsDropped():
                self._event(
                    EventCategory.SESSION,
                    "events_dropped",
                    f"{event.count} events dropped from {event.name} (queue full)",
                    Severity.WARNING,
                    {"subscription": event.name, "count": event.count},
                )
            case SessionEnded():
                if self._last_state is not None:
                    self.mqtt.publish_state(self._last_state)
                if event.summary is not None:
                    self._summary(event)
            case _:
                pass

    def _summary(self, event: SessionEnded) -> None:
        summary = dict(event.summary or {})
        totals = summary.get("totals") or {}
        distance = float(totals.get("distance_m") or 0.0)
        walking = float(totals.get("backward_s") or 0.0) + float(totals.get("forward_s") or 0.0)
        self._event(
            EventCategory.SESSION,
            "session_summary",
            f"Session {event.outcome}: {distance:.0f} m in {walking:.0f} s walking, "
            f"{len(summary.get('alarms') or [])} alarm(s)",
            Severity.INFO,
            summary,
        )

    def _state(self, event: StateChanged) -> None:
        segment = None
        if event.segment is not None:
            s = event.segment
            # 1-based on the wire, named by the segment's own kind, as README shows
            segment = SegmentInfo(
                s.index + 1, s.count, s.kind or s.name, s.direction, s.remaining_s
            )
        update = StateUpdate(
            state=event.state,
            profile=event.profile,
            segment=segment,
            target_speed_kmh=event.target_speed_kmh,
            target_incline_pct=event.target_incline_pct,
            limits=self.limits,
            units=self.units,
            alarm=event.alarm,
            message=event.message,
        )
        self._last_state = update
        self.mqtt.publish_state(update)
        if event.changed:
            self._event(
                EventCategory.STATE,
                f"state_{event.state}",
                event.message or f"Session {event.state}",
                Severity.INFO,
                {"state": event.state, "previous": event.previous},
            )


__all__ = [
    "LOG_KINDS",
    "LOG_QUEUE",
    "MQTT_EVENT_KINDS",
    "MQTT_EVENT_QUEUE",
    "MQTT_TELEMETRY_QUEUE",
    "RECORDER_QUEUE",
    "EventLogFailed",
    "EventLogSink",
    "MqttSink",
    "RecorderSink",
    "Recording",
]
