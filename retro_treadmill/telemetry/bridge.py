"""From the session service's snapshots to MQTT payloads. Pure: no IO, no clock reads.

The service already produces a :class:`~retro_treadmill.tui.model.SessionSnapshot` for the UI on
every change. :class:`SnapshotBridge` turns that stream into what MQTT subscribers need::

    bridge = SnapshotBridge(publisher, limits)
    for snapshot in service.snapshots():      # or in the service's own publish hook
        bridge.on_snapshot(snapshot)

- ``state`` (retained) whenever a state-relevant field changes (state, profile, segment,
  targets, alarm, message, units) - not on every telemetry tick;
- ``telemetry`` on every snapshot (the publisher rate-limits to ``telemetry_rate_hz``);
- ``event`` for each state transition, each new alarm and each new governor rejection.

Governor decisions and alarms from :mod:`retro_treadmill.safety.commands` map with
:func:`event_from_decision` and :func:`event_from_alarm` for services that see them directly.
"""

from __future__ import annotations

from typing import Protocol

from retro_treadmill.safety import commands as safety
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.telemetry.mqtt import MqttConnectionState
from retro_treadmill.telemetry.mqtt import MqttStatus as PublisherStatus
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    SegmentInfo,
    Severity,
    StateUpdate,
    TelemetrySample,
)
from retro_treadmill.tui import model as ui


class TelemetrySink(Protocol):
    """What the bridge publishes to (:class:`~retro_treadmill.telemetry.mqtt.MqttPublisher`)."""

    def publish_state(self, update: StateUpdate) -> None:
        """Set the retained state."""
        ...

    def publish_telemetry(self, sample: TelemetrySample) -> None:
        """Queue a telemetry sample."""
        ...

    def publish_event(self, event: Event) -> None:
        """Queue an event."""
        ...


def state_update(snapshot: ui.SessionSnapshot, limits: SafetyLimits) -> StateUpdate:
    """The retained ``state`` payload of a snapshot (targets km/h and %; caps from ``limits``)."""
    segment = None
    if snapshot.segment_index is not None and snapshot.segment_count > 0:
        segment = SegmentInfo(
            index=snapshot.segment_index,
            count=snapshot.segment_count,
            name=snapshot.segment_name,
            direction=snapshot.direction,
            remaining_s=snapshot.remaining_s,
        )
    return StateUpdate(
        state=str(snapshot.state),
        profile=snapshot.profile_name or None,
        segment=segment,
        target_speed_kmh=snapshot.target_speed_kmh,
        target_incline_pct=snapshot.target_incline_pct,
        limits=limits,
        units=snapshot.units,
        alarm=snapshot.alarm.message if snapshot.alarm is not None else None,
        message=snapshot.message,
    )


def telemetry_sample(snapshot: ui.SessionSnapshot) -> TelemetrySample:
    """The ``telemetry`` payload of a snapshot (FTMS 4.9 units: km/h, %, m; s; bpm)."""
    return TelemetrySample(
        speed_kmh=snapshot.speed_kmh,
        incline_pct=snapshot.incline_pct,
        distance_m=snapshot.distance_m,
        elapsed_s=snapshot.elapsed_s,
        heart_rate_bpm=snapshot.heart_rate_bpm,
    )


def event_from_alarm(alarm: safety.Alarm | ui.Alarm) -> Event:
    """An ``alarm`` event (critical); ``code`` is the alarm kind (``overspeed``, ``link_loss``)."""
    return Event(
        EventCategory.ALARM,
        str(alarm.kind),
        alarm.message,
        Severity.CRITICAL,
        {"kind": str(alarm.kind)},
    )


def event_from_decision(decision: safety.Decision) -> Event | None:
    """A ``safety`` event for a rejected or replaced request; ``None`` for a plain approval."""
    if decision.verdict is safety.Verdict.APPROVED:
        return None
    code = "command_rejected" if decision.verdict is safety.Verdict.REJECTED else "command_replaced"
    data: dict[str, str | None] = {
        "request": type(decision.request.command).__name__,
        "source": str(decision.request.source),
        "reason": decision.reason,
        "sent": type(decision.command).__name__ if decision.command is not None else None,
    }
    return Event(EventCategory.SAFETY, code, decision.reason, Severity.WARNING, data)


def ui_mqtt_status(status: PublisherStatus) -> ui.MqttStatus:
    """The UI's three-valued MQTT status for ``SessionSnapshot.mqtt``."""
    if status.state is MqttConnectionState.CONNECTED:
        return ui.MqttStatus.CONNECTED
    if status.state is MqttConnectionState.CONNECTING:
        return ui.MqttStatus.CONNECTING
    return ui.MqttStatus.DISCONNECTED


def _state_key(update: StateUpdate) -> StateUpdate:
    # Remaining time ticks every snapshot; it is carried but does not by itself trigger a publish.
    if update.segment is None:
        return update
    segment = SegmentInfo(
        update.segment.index, update.segment.count, update.segment.name, update.segment.direction
    )
    return StateUpdate(
        update.state,
        update.profile,
        segment,
        update.target_speed_kmh,
        update.target_incline_pct,
        update.limits,
        update.units,
        update.alarm,
        update.message,
    )


class SnapshotBridge:
    """Publishes a stream of snapshots to a :class:`TelemetrySink` (see the module docstring)."""

    def __init__(self, sink: TelemetrySink, limits: SafetyLimits) -> None:
        self.sink = sink
        self.limits = limits
        self._last_state_key: StateUpdate | None = None
        self._last_state: ui.SessionState | None = None
        self._last_alarm_seq: int | None = None
        self._last_rejection_seq: int | None = None

    def on_snapshot(self, snapshot: ui.SessionSnapshot) -> None:
        """Publish what changed since the previous snapshot. Never raises for a valid snapshot."""
        if self._last_state is not None and snapshot.state != self._last_state:
            self.sink.publish_event(
                Event(
                    EventCategory.STATE,
                    f"state_{snapshot.state}",
                    f"Session {self._last_state} -> {snapshot.state}"
                    + (f": {snapshot.message}" if snapshot.message else ""),
                    Severity.INFO,
                    {"from": str(self._last_state), "to": str(snapshot.state)},
                )
            )
        self._last_state = snapshot.state
        alarm = snapshot.alarm
        if alarm is not None and alarm.seq != self._last_alarm_seq:
            # ``Alarm.seq`` increases with every new alarm: one event per alarm.
            self._last_alarm_seq = alarm.seq
            self.sink.publish_event(event_from_alarm(alarm))
        rejection = snapshot.last_rejection
        if rejection is not None and rejection.seq != self._last_rejection_seq:
            self._last_rejection_seq = rejection.seq
            self.sink.publish_event(
                Event(
                    EventCategory.SAFETY,
                    "request_rejected",
                    f"{rejection.request}: {rejection.reason}",
                    Severity.WARNING,
                    {"request": rejection.request, "reason": rejection.reason},
                )
            )
        update = state_update(snapshot, self.limits)
        key = _state_key(update)
        if key != self._last_state_key:
            self._last_state_key = key
            self.sink.publish_state(update)
        self.sink.publish_telemetry(telemetry_sample(snapshot))


__all__ = [
    "SnapshotBridge",
    "TelemetrySink",
    "event_from_alarm",
    "event_from_decision",
    "state_update",
    "telemetry_sample",
    "ui_mqtt_status",
]
