"""The JSON-lines session recorder: same payloads as MQTT, events flushed at once, never raises."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.telemetry.bridge import SnapshotBridge
from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttStatus
from retro_treadmill.telemetry.recorder import SessionRecorder, Tee, read_log
from retro_treadmill.telemetry.schema import (
    EVENT_SCHEMA,
    STATE_SCHEMA,
    TELEMETRY_SCHEMA,
    Event,
    EventCategory,
    StateUpdate,
    TelemetrySample,
)
from retro_treadmill.tui import model as ui

SCHEMAS = {"state": STATE_SCHEMA, "telemetry": TELEMETRY_SCHEMA, "event": EVENT_SCHEMA}


def check_lines(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        body = dict(line)
        jsonschema.validate(body, SCHEMAS[body.pop("type")])


def test_a_session_through_the_bridge_is_logged_in_the_mqtt_schemas(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "session.jsonl"
    snapshot = ui.SessionSnapshot(state=ui.SessionState.COUNTDOWN, profile_name="first-steps")
    with SessionRecorder(path, treadmill_id="bay1", wall_clock=lambda: 1_795_000_000.0) as log:
        bridge = SnapshotBridge(log, SafetyLimits())
        bridge.on_snapshot(snapshot)
        bridge.on_snapshot(replace(snapshot, state=ui.SessionState.RUNNING, speed_kmh=1.6))
        bridge.on_snapshot(replace(snapshot, state=ui.SessionState.RUNNING, speed_kmh=1.7))
        # Events are on disk before close (a crash keeps them); telemetry may still be buffered.
        assert any(line["type"] == "event" for line in read_log(path))
    lines = read_log(path)
    check_lines(lines)
    assert [line["type"] for line in lines] == [
        "state",
        "telemetry",
        "event",
        "state",
        "telemetry",
        "telemetry",
    ]
    assert lines[2]["code"] == "state_running"
    assert lines[5]["speed_kmh"] == 1.7


def test_telemetry_can_be_left_out_and_mqtt_status_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with SessionRecorder(path, treadmill_id="bay1", telemetry=False) as log:
        log.publish_telemetry(TelemetrySample(speed_kmh=1.0))
        log.record_mqtt_status(
            MqttStatus(
                state=MqttConnectionState.RECONNECTING,
                broker="mqtt://h:1883/p",
                last_error="Connection refused",
                events_dropped=3,
            )
        )
    lines = read_log(path)
    check_lines(lines)
    assert [(line["type"], line["code"]) for line in lines] == [("event", "mqtt_reconnecting")]
    assert lines[0]["data"]["events_dropped"] == 3
    assert "Connection refused" in lines[0]["message"]


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write the event log"):
        SessionRecorder(tmp_path, treadmill_id="bay1").open()


def test_bad_data_and_a_closed_file_never_raise(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = SessionRecorder(path, treadmill_id="bay1")
    log.open()
    log.publish_event(Event(EventCategory.SAFETY, "odd", "odd", data={"x": math.nan}))
    log.close()
    log.publish_event(Event(EventCategory.SAFETY, "late", "after close"))
    lines = read_log(path)
    assert [(line["code"], line["data"]) for line in lines] == [("odd", {})]


def test_tee_feeds_every_sink_even_when_one_fails(tmp_path: Path) -> None:
    class Broken:
        def publish_state(self, update: StateUpdate) -> None:
            raise RuntimeError("down")

    path = tmp_path / "e.jsonl"
    with SessionRecorder(path, treadmill_id="bay1") as log:
        Tee([Broken(), log]).publish_state(StateUpdate(state="idle"))
    assert [line["state"] for line in read_log(path)] == ["idle"]
