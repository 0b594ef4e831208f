"""A session on the virtual treadmill publishes through the service what MQTT dashboards read:
availability, retained state, telemetry and events, each matching its documented JSON Schema."""

from __future__ import annotations

import jsonschema

from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.service.bus import KEEP
from retro_treadmill.telemetry.schema import (
    EVENT_SCHEMA,
    STATE_SCHEMA,
    TELEMETRY_SCHEMA,
    Topics,
)
from retro_treadmill.tui.model import StopSource
from tests.mosquitto import MosquittoBroker
from tests.service.conftest import Rig, until, walking
from tests.telemetry.helpers import client_for, fast_settings, recording


async def test_a_session_publishes_state_telemetry_and_events_to_the_schemas(
    rig: Rig, mosquitto: MosquittoBroker
) -> None:
    settings = fast_settings(mosquitto, discovery=False)
    topics = Topics(settings.base_topic)
    service = rig.service(mqtt=settings)

    def broken(event: object) -> None:
        raise OSError(28, "No space left on device")

    async with recording(client_for(mosquitto), f"{settings.base_topic}/#") as rec:

        async def walk_then_stop(service: SessionService) -> None:
            service.bus.add_sink("recorder", KEEP(10), broken)
            await rec.wait_count(lambda m: m.topic == topics.telemetry, 2, within=10)
            service.stop(StopSource.KEYBOARD)
            await until(service, service.session_over, timeout=30)

        code = await service.serve(walking(walk_then_stop))
        await rec.wait_for(
            lambda m: m.topic == topics.availability and m.payload == b"offline", within=5
        )

    assert code is ExitCode.STOPPED
    availability = [m.payload for m in rec.on(topics.availability)]
    assert availability[0] == b"online"
    assert availability[-1] == b"offline"
    states = [m.json() for m in rec.on(topics.state)]
    telemetry = [m.json() for m in rec.on(topics.telemetry)]
    events = [m.json() for m in rec.on(topics.event)]
    for payload in states:
        jsonschema.validate(payload, STATE_SCHEMA)
    for payload in telemetry:
        jsonschema.validate(payload, TELEMETRY_SCHEMA)
    for payload in events:
        jsonschema.validate(payload, EVENT_SCHEMA)
    assert [s["state"] for s in states][-1] == "finished"
    assert "running" in [s["state"] for s in states]
    assert any((t["speed_kmh"] or 0) > 1.0 for t in telemetry)
    codes = [e["code"] for e in events]
    assert "state_running" in codes
    assert "stop" in codes  # the operator's stop, with who asked
    stop = next(e for e in events if e["code"] == "stop")
    assert stop["category"] == "operator"
    assert stop["data"]["source"] == "keyboard"
    # An observer that failed is announced; the session ends with its summary.
    failed = next(e for e in events if e["code"] == "sink_failed")
    assert failed["category"] == "session"
    assert failed["data"]["sink"] == "recorder"
    summary = next(e for e in events if e["code"] == "session_summary")
    assert summary["data"]["outcome"] == "stopped"
    assert service.final_summary is not None
    final = service.final_summary.totals
    assert summary["data"]["totals"]["distance_m"] == final.distance_m
    assert summary["data"]["totals"]["backward_s"] == final.backward_s
