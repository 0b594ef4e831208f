"""The publisher on a real mosquitto: topics, schemas, discovery, rate limit, remote commands."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

import jsonschema
import pytest

from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttPublisher
from retro_treadmill.telemetry.schema import (
    EVENT_SCHEMA,
    STATE_SCHEMA,
    TELEMETRY_SCHEMA,
    Event,
    EventCategory,
    RemoteCommand,
    SegmentInfo,
    Severity,
    StateUpdate,
    TelemetrySample,
    Topics,
    command_payload,
)
from tests.mosquitto import MosquittoBroker
from tests.telemetry.helpers import client_for, fast_settings, recording

BASE = "retro-treadmill/tm1"
T = Topics(BASE)


async def test_publishes_every_topic_with_documented_json(mosquitto: MosquittoBroker) -> None:
    async with recording(client_for(mosquitto), f"{BASE}/#", "homeassistant/#") as rec:
        async with MqttPublisher(fast_settings(mosquitto)) as pub:
            await pub.wait_connected()
            pub.publish_state(
                StateUpdate(
                    state="running",
                    profile="gentle-retro",
                    segment=SegmentInfo(index=1, count=3, name="warm-up", remaining_s=60.0),
                    target_speed_kmh=1.6,
                    target_incline_pct=0.5,
                )
            )
            pub.publish_telemetry(
                TelemetrySample(
                    speed_kmh=1.6,
                    incline_pct=0.5,
                    distance_m=12.0,
                    elapsed_s=30.0,
                    heart_rate_bpm=90,
                )
            )
            pub.publish_event(Event(EventCategory.STATE, "running", "Session running"))
            online = await rec.wait_for(lambda m: m.topic == T.availability)
            state = await rec.wait_for(lambda m: m.topic == T.state)
            telemetry = await rec.wait_for(lambda m: m.topic == T.telemetry)
            event = await rec.wait_for(lambda m: m.topic == T.event)
            speed_config = await rec.wait_for(lambda m: m.topic.endswith("/speed/config"))
        offline = await rec.wait_for(lambda m: m.topic == T.availability and m.payload != b"online")

    assert online.payload == b"online"
    assert offline.payload == b"offline"
    jsonschema.validate(state.json(), STATE_SCHEMA)
    assert state.json()["state"] == "running"
    jsonschema.validate(telemetry.json(), TELEMETRY_SCHEMA)
    assert telemetry.json()["heart_rate_bpm"] == 90
    jsonschema.validate(event.json(), EVENT_SCHEMA)
    assert event.json()["code"] == "running"
    assert speed_config.json()["state_topic"] == T.telemetry
    assert pub.status.state is MqttConnectionState.CLOSED


async def test_availability_and_state_are_retained_for_late_subscribers(
    mosquitto: MosquittoBroker,
) -> None:
    async with MqttPublisher(fast_settings(mosquitto, discovery=False)) as pub:
        await pub.wait_connected()
        pub.publish_state(StateUpdate(state="preflight", profile="p"))
        async with recording(client_for(mosquitto), f"{BASE}/#") as probe:
            # A probe that subscribed after the fact sees the state once it has been sent.
            state = await probe.wait_for(
                lambda m: m.topic == T.state and m.json()["state"] == "preflight"
            )
        async with recording(client_for(mosquitto), f"{BASE}/#") as late:
            online = await late.wait_for(lambda m: m.topic == T.availability)
            retained_state = await late.wait_for(lambda m: m.topic == T.state)
    assert online.retain
    assert online.payload == b"online"
    assert retained_state.retain
    assert retained_state.payload == state.payload


async def test_telemetry_is_rate_limited_and_the_last_sample_still_goes_out(
    mosquitto: MosquittoBroker,
) -> None:
    now = [0.0]
    settings = fast_settings(mosquitto, discovery=False, telemetry_rate_hz=2.0)
    async with (
        recording(client_for(mosquitto), T.telemetry) as rec,
        MqttPublisher(settings, clock=lambda: now[0]) as pub,
    ):
        await pub.wait_connected()
        # 16 samples at 8 Hz of (injected) session time: 0.0 .. 1.875 s.
        for i in range(16):
            now[0] = i * 0.125
            pub.publish_telemetry(TelemetrySample(speed_kmh=1.0, distance_m=float(i)))
            await asyncio.sleep(0)
        now[0] = 2.0  # the interval after the last accepted sample has passed
        await rec.wait_count(lambda m: m.json()["distance_m"] == 15.0, 1)
        status = pub.status
    distances = [m.json()["distance_m"] for m in rec.messages]
    assert distances == [0.0, 4.0, 8.0, 12.0, 15.0]
    assert status.telemetry_published == 5
    assert status.telemetry_throttled == 16 - 5  # held, then replaced by a newer one


async def test_remote_stop_reaches_the_callback_within_100_ms(
    mosquitto: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    received: list[tuple[RemoteCommand, float]] = []
    arrived = asyncio.Event()

    def on_command(command: RemoteCommand) -> None:
        received.append((command, time.perf_counter()))
        arrived.set()

    async with (
        MqttPublisher(fast_settings(mosquitto), on_command=on_command) as pub,
        client_for(mosquitto) as desk,
    ):
        await pub.wait_connected()
        latencies = []
        for i in range(20):
            arrived.clear()
            sent = time.perf_counter()
            await desk.publish(T.command("stop"), command_payload(f"drill {i}", "desk-1"), qos=1)
            async with asyncio.timeout(1.0):
                await arrived.wait()
            latencies.append(received[-1][1] - sent)
        status = pub.status

    assert [c.kind for c, _ in received] == ["stop"] * 20
    assert received[0][0].sender == "desk-1"
    assert received[0][0].reason == "drill 0"
    assert status.commands_accepted == 20
    assert max(latencies) < 0.100
    with capsys.disabled():
        print(
            f"\nremote stop publish->callback over loopback: median "
            f"{statistics.median(latencies) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms "
            f"(n={len(latencies)}, from before the QoS 1 publish to the callback)"
        )


async def test_start_and_speed_do_nothing_and_a_garbled_stop_still_stops(
    mosquitto: MosquittoBroker,
) -> None:
    commands: list[RemoteCommand] = []
    async with (
        client_for(mosquitto) as desk,
        recording(client_for(mosquitto), T.event) as rec,
    ):
        # A retained stop left on the broker is stale: refused when the publisher subscribes.
        await desk.publish(T.command("stop"), command_payload("old", "desk-0"), qos=1, retain=True)
        ticks = itertools.count()  # 1 s per clock read: below the rejection-event rate limit
        async with MqttPublisher(
            fast_settings(mosquitto), on_command=commands.append, clock=lambda: float(next(ticks))
        ) as pub:
            await pub.wait_connected()
            await rec.wait_for(lambda m: True)
            refused = [
                ("start", command_payload("go", "desk-1")),
                ("speed", b'{"reason": "faster", "sender": "desk-1", "kmh": 9}'),
                ("resume", command_payload("go", "desk-1")),
                ("start", b"START!"),
            ]
            garbled = [
                ("stop", b"STOP!"),
                ("stop", b'{"reason": "no sender"}'),
                ("pause", b"\x00\xff"),
            ]
            for name, payload in [*refused, *garbled]:
                await desk.publish(T.command(name), payload, qos=1)
            await desk.publish(T.command("pause"), command_payload("tea", "desk-2"), qos=1)
            events = await rec.wait_count(lambda m: True, len(refused) + len(garbled) + 2)
            status = pub.status
        await desk.publish(T.command("stop"), b"", qos=1, retain=True)  # clear the retained stop

    for message in events:
        jsonschema.validate(message.json(), EVENT_SCHEMA)
    rejected = [m.json() for m in events if m.json()["code"] == "remote_command_rejected"]
    assert [e["data"]["command"] for e in rejected] == ["stop", *(n for n, _ in refused)]
    assert rejected[0]["data"]["why"].startswith("retained command ignored")
    assert "nothing remote can start" in rejected[1]["message"]
    accepted = [m.json() for m in events if m.json()["code"] == "remote_command_accepted"]
    # Fail closed: a stop or pause is never blocked by its payload; the event says what was wrong.
    assert [(e["data"]["command"], e["data"]["sender"]) for e in accepted] == [
        ("stop", "unknown sender"),
        ("stop", "unknown sender"),
        ("pause", "unknown sender"),
        ("pause", "desk-2"),
    ]
    assert all(e["data"]["payload_problem"] for e in accepted[:3])
    assert accepted[3]["data"]["payload_problem"] is None
    # Only stops and pauses reached the application; nothing that starts or speeds up did.
    assert [c.kind for c in commands] == ["stop", "stop", "pause", "pause"]
    assert (status.commands_rejected, status.commands_accepted) == (len(refused) + 1, 4)
    assert status.state is MqttConnectionState.CONNECTED


async def test_remote_stop_can_be_disabled(mosquitto: MosquittoBroker) -> None:
    commands: list[RemoteCommand] = []
    settings = fast_settings(mosquitto, remote_stop=False, discovery=False)
    async with (
        recording(client_for(mosquitto), T.event) as rec,
        MqttPublisher(settings, on_command=commands.append) as pub,
        client_for(mosquitto) as desk,
    ):
        await pub.wait_connected()
        await desk.publish(T.command("stop"), command_payload("x", "desk-1"), qos=1)
        event = await rec.wait_for(lambda m: True)
    assert commands == []
    assert "remote stop is disabled" in event.json()["data"]["why"]


async def test_a_failing_command_callback_is_reported_not_fatal(
    mosquitto: MosquittoBroker,
) -> None:
    def on_command(command: RemoteCommand) -> None:
        raise RuntimeError("service gone")

    async with (
        recording(client_for(mosquitto), T.event) as rec,
        MqttPublisher(fast_settings(mosquitto, discovery=False), on_command=on_command) as pub,
        client_for(mosquitto) as desk,
    ):
        await pub.wait_connected()
        await desk.publish(T.command("stop"), command_payload("x", "desk-1"), qos=1)
        event = await rec.wait_for(lambda m: True)
        pub.publish_event(Event(EventCategory.OPERATOR, "still_here", "still publishing"))
        await rec.wait_for(lambda m: m.json()["code"] == "still_here")
    assert event.json()["code"] == "remote_command_failed"
    assert event.json()["severity"] == Severity.CRITICAL


async def test_discovery_off_removes_configs_an_earlier_run_announced(
    mosquitto: MosquittoBroker,
) -> None:
    async with recording(client_for(mosquitto), "homeassistant/#") as rec:
        async with MqttPublisher(fast_settings(mosquitto)) as pub:
            await pub.wait_connected()
            announced = await rec.wait_count(lambda m: bool(m.payload), 6)
        async with MqttPublisher(fast_settings(mosquitto, discovery=False)) as pub:
            await pub.wait_connected()
            removed = await rec.wait_count(lambda m: not m.payload, 6)
    assert {m.topic for m in removed} == {m.topic for m in announced}
    components = sorted(m.topic.split("/")[1] for m in announced)
    assert components == ["button", "sensor", "sensor", "sensor", "sensor", "sensor"]
    async with recording(client_for(mosquitto), "homeassistant/#") as late:
        # Nothing retained is left: a marker published after subscribing arrives first.
        async with client_for(mosquitto) as marker:
            await marker.publish("homeassistant/marker", b"m", qos=1)
        first = await late.wait_for(lambda m: True)
    assert first.topic == "homeassistant/marker"


async def test_an_async_command_callback_is_run_not_dropped(mosquitto: MosquittoBroker) -> None:
    ran = asyncio.Event()

    async def on_command(command: RemoteCommand) -> None:
        ran.set()

    async with (
        MqttPublisher(fast_settings(mosquitto, discovery=False), on_command=on_command) as pub,
        client_for(mosquitto) as desk,
    ):
        await pub.wait_connected()
        await desk.publish(T.command("stop"), command_payload("x", "desk-1"), qos=1)
        async with asyncio.timeout(2):
            await ran.wait()


async def test_closing_sends_the_last_state_and_sample_before_offline(
    mosquitto: MosquittoBroker,
) -> None:
    async with recording(client_for(mosquitto), f"{BASE}/#") as rec:
        pub = MqttPublisher(fast_settings(mosquitto, discovery=False, telemetry_rate_hz=0.1))
        await pub.start()
        await pub.wait_connected()
        pub.publish_telemetry(TelemetrySample(speed_kmh=1.5))
        pub.publish_state(StateUpdate(state="stopping"))
        # Inside the 10 s rate limit: this sample is held, and must still go out on close.
        pub.publish_telemetry(TelemetrySample(speed_kmh=0.0))
        pub.publish_state(StateUpdate(state="finished"))
        await pub.aclose()
        await rec.wait_for(lambda m: m.payload == b"offline")
    topics = [(m.topic.rsplit("/", 1)[1], m.payload) for m in rec.messages]
    offline_at = topics.index(("availability", b"offline"))
    before = rec.messages[:offline_at]
    assert [m.json()["state"] for m in before if m.topic == T.state][-1] == "finished"
    assert [m.json()["speed_kmh"] for m in before if m.topic == T.telemetry][-1] == 0.0


async def test_a_flood_of_junk_commands_is_counted_but_cannot_flood_events(
    mosquitto: MosquittoBroker,
) -> None:
    commands: list[RemoteCommand] = []
    now = [100.0]
    async with (
        recording(client_for(mosquitto), T.event) as rec,
        MqttPublisher(
            fast_settings(mosquitto, discovery=False),
            on_command=commands.append,
            clock=lambda: now[0],
        ) as pub,
        client_for(mosquitto) as desk,
    ):
        await pub.wait_connected()
        for i in range(40):
            await desk.publish(T.command("speed"), f"junk {i}".encode(), qos=1)
        await desk.publish(T.command("stop"), command_payload("real", "desk-1"), qos=1)
        await rec.wait_for(lambda m: m.json()["code"] == "remote_command_accepted")
        now[0] += 1.0  # a second later (injected clock): rejections are reported again
        await desk.publish(T.command("start"), b"junk", qos=1)
        last = await rec.wait_for(lambda m: m.json()["data"].get("command") == "start")
        status = pub.status
    rejected = [m for m in rec.messages if m.json()["code"] == "remote_command_rejected"]
    assert len(rejected) == 5 + 1
    assert last.json()["data"]["suppressed_before"] == 35
    assert status.commands_rejected == 41
    assert [c.reason for c in commands] == ["real"]


def _readme_remote_stop_argv() -> list[str]:
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### Remote STOP and pause\n\n```sh\n(.*?)```", readme, re.S)
    assert block is not None
    return shlex.split(block.group(1).replace("\\\n", " "))


async def test_readme_mosquitto_pub_stop_works_as_written(mosquitto: MosquittoBroker) -> None:
    """README's remote STOP example, run with the real mosquitto_pub (`make test` installs
    mosquitto-clients), only the broker's address and the treadmill id changed."""
    import shutil

    argv = _readme_remote_stop_argv()
    assert argv[0] == "mosquitto_pub"
    executable = shutil.which("mosquitto_pub")
    assert executable is not None, "mosquitto-clients is not installed (make system-deps)"
    argv[0] = executable
    argv[argv.index("-h") + 1 : argv.index("-h") + 2] = [mosquitto.host, "-p", str(mosquitto.port)]
    argv = [a.replace("retro-treadmill/bay1/", f"{BASE}/") for a in argv]
    received: list[RemoteCommand] = []
    arrived = asyncio.Event()

    def on_command(command: RemoteCommand) -> None:
        received.append(command)
        arrived.set()

    async with MqttPublisher(fast_settings(mosquitto), on_command=on_command) as pub:
        await pub.wait_connected()
        proc = await asyncio.create_subprocess_exec(*argv)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
            await arrived.wait()
    assert [(c.kind, c.sender, c.reason) for c in received] == [
        ("stop", "desk-2", "patient asked to stop")
    ]
