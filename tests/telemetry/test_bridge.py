"""Snapshots to MQTT: state only on change, telemetry every time, events for transitions, alarms,
rejections and governor decisions."""

from __future__ import annotations

import json
from dataclasses import replace

import jsonschema

from retro_treadmill.safety import commands as safety
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.telemetry.bridge import (
    SnapshotBridge,
    event_from_alarm,
    event_from_decision,
    ui_mqtt_status,
)
from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttStatus
from retro_treadmill.telemetry.schema import (
    EVENT_SCHEMA,
    STATE_SCHEMA,
    Event,
    StateUpdate,
    TelemetrySample,
    encode,
)
from retro_treadmill.tui import model as ui
from retro_treadmill.units import mph_to_kmh


class Sink:
    def __init__(self) -> None:
        self.states: list[StateUpdate] = []
        self.samples: list[TelemetrySample] = []
        self.events: list[Event] = []

    def publish_state(self, update: StateUpdate) -> None:
        self.states.append(update)

    def publish_telemetry(self, sample: TelemetrySample) -> None:
        self.samples.append(sample)

    def publish_event(self, event: Event) -> None:
        self.events.append(event)


RUNNING = ui.SessionSnapshot(
    state=ui.SessionState.RUNNING,
    profile_name="first-steps",
    segment_index=0,
    segment_count=2,
    segment_name="warm-up",
    direction="backward",
    remaining_s=100.0,
    target_speed_kmh=mph_to_kmh(1.0),
    speed_kmh=1.6,
    distance_m=10.0,
    elapsed_s=20.0,
    heart_rate_bpm=90,
)


def test_state_is_published_on_change_and_telemetry_every_snapshot() -> None:
    sink = Sink()
    bridge = SnapshotBridge(sink, SafetyLimits())
    bridge.on_snapshot(RUNNING)
    bridge.on_snapshot(replace(RUNNING, speed_kmh=1.61, remaining_s=99.5, distance_m=10.4))
    bridge.on_snapshot(replace(RUNNING, target_speed_kmh=mph_to_kmh(1.1)))
    assert len(sink.samples) == 3
    assert [s.distance_m for s in sink.samples] == [10.0, 10.4, 10.0]
    assert len(sink.states) == 2
    body = json.loads(encode(sink.states[0].to_payload("tm1", 0.0)))
    jsonschema.validate(body, STATE_SCHEMA)
    assert body["segment"]["name"] == "warm-up"
    assert body["targets"]["speed_mph"] == 1.0
    assert sink.events == []


def test_transitions_alarms_and_rejections_become_events_once() -> None:
    sink = Sink()
    bridge = SnapshotBridge(sink, SafetyLimits())
    alarm = ui.Alarm(ui.AlarmKind.OVERSPEED, "Belt too fast: stopped", seq=1)
    rejection = ui.Rejection("speed +0.1 mph", "1.6 mph exceeds the cap 1.5 mph", seq=1)
    bridge.on_snapshot(RUNNING)
    bridge.on_snapshot(replace(RUNNING, last_rejection=rejection))
    bridge.on_snapshot(replace(RUNNING, last_rejection=rejection))
    halted = replace(RUNNING, state=ui.SessionState.ALARM, alarm=alarm, last_rejection=rejection)
    bridge.on_snapshot(halted)
    bridge.on_snapshot(halted)
    codes = [e.code for e in sink.events]
    assert codes == ["request_rejected", "state_alarm", "overspeed"]
    for event in sink.events:
        jsonschema.validate(json.loads(encode(event.to_payload("tm1", 0.0, 1))), EVENT_SCHEMA)
    assert sink.states[-1].alarm == "Belt too fast: stopped"


def test_governor_decisions_and_alarms_map_to_events() -> None:
    request = safety.Request(safety.SetSpeed(3.0), safety.Source.KEYBOARD)
    rejected = safety.Decision(safety.Verdict.REJECTED, request, None, "exceeds the cap")
    approved = safety.Decision(safety.Verdict.APPROVED, request, safety.SetSpeed(3.0))
    event = event_from_decision(rejected)
    assert event is not None
    assert (event.code, event.data["source"], event.data["sent"]) == (
        "command_rejected",
        "keyboard",
        None,
    )
    assert event_from_decision(approved) is None
    alarm = event_from_alarm(safety.Alarm(safety.AlarmKind.LINK_LOSS, "Link lost", at=3.0))
    assert (alarm.category, alarm.code) == ("alarm", "link_loss")


def test_ui_status_mapping() -> None:
    def status(state: MqttConnectionState) -> MqttStatus:
        return MqttStatus(state=state, broker="mqtt://h:1883/p")

    assert ui_mqtt_status(status(MqttConnectionState.CONNECTED)) is ui.MqttStatus.CONNECTED
    assert ui_mqtt_status(status(MqttConnectionState.CONNECTING)) is ui.MqttStatus.CONNECTING
    assert ui_mqtt_status(status(MqttConnectionState.RECONNECTING)) is ui.MqttStatus.DISCONNECTED
    assert ui_mqtt_status(status(MqttConnectionState.REFUSED)) is ui.MqttStatus.DISCONNECTED
