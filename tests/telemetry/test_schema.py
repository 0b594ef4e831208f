"""Payload builders against the documented JSON Schemas; remote command validation; discovery."""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
import pytest

from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.telemetry import discovery
from retro_treadmill.telemetry.schema import (
    COMMAND_SCHEMA,
    EVENT_SCHEMA,
    STATE_SCHEMA,
    TELEMETRY_SCHEMA,
    CommandRejection,
    Event,
    EventCategory,
    RemoteCommand,
    SegmentInfo,
    Severity,
    StateUpdate,
    TelemetrySample,
    command_payload,
    encode,
    iso_timestamp,
    parse_remote_command,
)
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.units import mph_to_kmh

T0 = 1_795_000_000.25


def roundtrip(payload: Any) -> Any:
    return json.loads(encode(payload))


def test_telemetry_payload_carries_both_speed_units_and_matches_schema() -> None:
    sample = TelemetrySample(
        speed_kmh=mph_to_kmh(1.2),
        incline_pct=1.5,
        distance_m=120.04,
        elapsed_s=300.0,
        heart_rate_bpm=96,
        heart_rate_source="strap RetroSim HR",
    )
    body = roundtrip(sample.to_payload("tm1", T0))
    jsonschema.validate(body, TELEMETRY_SCHEMA)
    assert (body["heart_rate_bpm"], body["heart_rate_source"]) == (96, "strap RetroSim HR")
    assert body["speed_mph"] == pytest.approx(1.2, abs=1e-3)
    assert body["speed_kmh"] == pytest.approx(1.931, abs=1e-3)
    assert body["timestamp"] == iso_timestamp(T0)
    assert body["timestamp"].endswith(".250Z")


def test_unknown_and_non_finite_values_become_null() -> None:
    body = roundtrip(TelemetrySample(speed_kmh=math.nan).to_payload("tm1", T0))
    jsonschema.validate(body, TELEMETRY_SCHEMA)
    assert body["speed_kmh"] is None
    assert body["speed_mph"] is None
    assert body["heart_rate_bpm"] is None
    assert body["heart_rate_source"] is None


def test_state_payload_matches_schema_with_and_without_segment() -> None:
    full = StateUpdate(
        state="running",
        profile="gentle-retro",
        segment=SegmentInfo(index=2, count=4, name="hold", remaining_s=95.0),
        target_speed_kmh=mph_to_kmh(1.2),
        target_incline_pct=1.0,
        limits=SafetyLimits(max_speed_kmh=mph_to_kmh(1.3)),
    )
    body = roundtrip(full.to_payload("tm1", T0))
    jsonschema.validate(body, STATE_SCHEMA)
    assert body["caps"]["max_speed_mph"] == pytest.approx(1.3)
    assert body["segment"]["count"] == 4
    idle = roundtrip(StateUpdate(state="idle").to_payload("tm1", T0))
    jsonschema.validate(idle, STATE_SCHEMA)
    assert idle["segment"] is None
    assert idle["targets"]["speed_kmh"] is None


def test_event_payload_matches_schema() -> None:
    event = Event(
        EventCategory.ALARM, "overspeed", "Belt too fast", Severity.CRITICAL, {"speed_kmh": 2.9}
    )
    body = roundtrip(event.to_payload("tm1", T0, seq=7))
    jsonschema.validate(body, EVENT_SCHEMA)
    assert (body["seq"], body["category"], body["severity"]) == (7, "alarm", "critical")


def test_schema_rejects_a_payload_missing_a_field() -> None:
    body = roundtrip(TelemetrySample(speed_kmh=1.0).to_payload("tm1", T0))
    del body["speed_mph"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, TELEMETRY_SCHEMA)


def parse(name: str, payload: bytes, **kw: Any) -> RemoteCommand | CommandRejection:
    return parse_remote_command(
        name, payload, retained=kw.pop("retained", False), received_at=5.0, **kw
    )


def test_valid_stop_and_pause_are_accepted() -> None:
    stop = parse("stop", command_payload("patient unwell", "desk-1"))
    assert stop == RemoteCommand("stop", "patient unwell", "desk-1", 5.0)
    assert isinstance(parse("pause", command_payload("phone", "desk-1")), RemoteCommand)
    jsonschema.validate(json.loads(command_payload("r", "s")), COMMAND_SCHEMA)


@pytest.mark.parametrize("name", ["start", "resume", "speed", "incline", "stop/now", ""])
def test_nothing_remote_can_start_resume_or_change_speed(name: str) -> None:
    result = parse(name, command_payload("go", "desk-1"))
    assert isinstance(result, CommandRejection)
    assert "not accepted" in result.why
    assert result.sender == "desk-1"


BAD_PAYLOADS = [
    (b"STOP", "not a JSON object"),
    (b"\xff\xfe", "not a JSON object"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"sender": "x"}', '"reason"'),
    (b'{"reason": "x"}', '"sender"'),
    (b'{"reason": "  ", "sender": "x"}', '"reason"'),
    (b'{"reason": 5, "sender": "x"}', '"reason"'),
    (b"{" + b" " * 2000 + b"}", "longer than"),
]


@pytest.mark.parametrize("name", ["stop", "pause"])
@pytest.mark.parametrize(("payload", "why"), BAD_PAYLOADS)
def test_a_stop_or_pause_with_a_bad_payload_still_acts_and_says_what_was_wrong(
    name: str, payload: bytes, why: str
) -> None:
    # Fail closed: a stop is never blocked for want of a well-formed payload.
    result = parse(name, payload)
    assert isinstance(result, RemoteCommand)
    assert result.kind == name
    assert result.payload_problem is not None
    assert why in result.payload_problem
    assert result.sender  # "unknown sender" when the payload did not say


def test_a_bad_payload_keeps_the_sender_it_did_name() -> None:
    result = parse("stop", b'{"sender": "desk-3"}')
    assert isinstance(result, RemoteCommand)
    assert result.sender == "desk-3"


@pytest.mark.parametrize(("payload", "_why"), BAD_PAYLOADS)
def test_a_bad_payload_never_turns_another_command_into_an_action(
    payload: bytes, _why: str
) -> None:
    assert isinstance(parse("start", payload), CommandRejection)
    assert isinstance(parse("speed", payload), CommandRejection)


def test_retained_and_disabled_commands_are_rejected() -> None:
    ok = command_payload("r", "s")
    assert isinstance(parse("stop", ok, retained=True), CommandRejection)
    disabled = parse("stop", ok, allow_stop=False)
    assert isinstance(disabled, CommandRejection)
    assert "disabled" in disabled.why
    assert isinstance(parse("pause", ok, allow_pause=False), CommandRejection)


def test_discovery_announces_sensors_and_a_stop_button_that_is_a_valid_command() -> None:
    settings = MqttSettings(host="h", treadmill_id="tm1", prefix="clinic")
    messages = dict(discovery.discovery_messages(settings))
    configs = {topic: json.loads(body) for topic, body in messages.items()}
    node = "homeassistant/{}/retro_treadmill_tm1/{}/config"
    for obj in ("speed", "incline", "distance", "heart_rate", "state"):
        config = configs[node.format("sensor", obj)]
        assert config["availability_topic"] == "clinic/tm1/availability"
    button = configs[node.format("button", "stop")]
    assert button["command_topic"] == "clinic/tm1/command/stop"
    press = parse("stop", button["payload_press"].encode())
    assert isinstance(press, RemoteCommand)
    assert configs[node.format("sensor", "speed")]["state_topic"] == "clinic/tm1/telemetry"


def test_discovery_off_sends_empty_payloads_to_the_same_topics() -> None:
    on = MqttSettings(host="h", treadmill_id="tm1")
    off = MqttSettings(host="h", treadmill_id="tm1", discovery=False)
    on_topics = [t for t, _ in discovery.discovery_messages(on)]
    off_messages = discovery.discovery_messages(off)
    assert [t for t, _ in off_messages] == on_topics
    assert all(body == b"" for _, body in off_messages)


def test_readme_state_example_is_a_valid_payload_with_a_1_based_segment_by_its_name() -> None:
    import json
    import re
    from pathlib import Path

    from retro_treadmill.session.profile import SEGMENT_KINDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"`state` \(`state` is one of.*?```json\n(.*?)```", readme, re.S)
    assert example is not None
    body = json.loads(example.group(1))
    jsonschema.validate(body, STATE_SCHEMA)
    assert body["segment"]["index"] >= 1
    assert body["segment"]["name"] in SEGMENT_KINDS
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "segment": {**body["segment"], "index": 0}}, STATE_SCHEMA)
