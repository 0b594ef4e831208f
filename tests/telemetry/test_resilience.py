"""Broker down, killed, restarted; publisher process killed: the last will, queues, counters."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttPublisher, MqttStatus
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    RemoteCommand,
    TelemetrySample,
    Topics,
    command_payload,
)
from retro_treadmill.telemetry.settings import MqttSettings
from tests.mosquitto import MosquittoBroker, free_port
from tests.stall import latency_within
from tests.telemetry.helpers import client_for, fast_settings, recording

T = Topics("retro-treadmill/tm1")
REPO = Path(__file__).resolve().parents[2]


def timed_calls(publisher: MqttPublisher, n: int) -> list[float]:
    """Call publish_event and publish_telemetry ``n`` times each; every call's duration (s)."""
    durations = []
    for i in range(n):
        t0 = time.perf_counter()
        publisher.publish_event(Event(EventCategory.SAFETY, "tick", f"tick {i}", data={"i": i}))
        t1 = time.perf_counter()
        publisher.publish_telemetry(TelemetrySample(speed_kmh=1.5, distance_m=float(i)))
        t2 = time.perf_counter()
        durations += [t1 - t0, t2 - t1]
    return durations


def p99(durations: list[float]) -> float:
    """The 99th percentile."""
    return sorted(durations)[int(len(durations) * 0.99)]


# A blocking network call would take the connect timeout (seconds); a busy shared CI machine can
# preempt any call for a few ms. So: every call well under 50 ms, 99 % of them under 1 ms.
MAX_CALL_S = 0.050
P99_CALL_S = 0.001


async def test_last_will_says_offline_when_the_publisher_process_is_killed(
    mosquitto: MosquittoBroker,
) -> None:
    url = f"mqtt://{mosquitto.host}:{mosquitto.port}/retro-treadmill"
    async with recording(client_for(mosquitto), T.availability) as rec:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.telemetry.publisher_process",
            url,
            "tm1",
            cwd=REPO,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(20):
                line = await proc.stdout.readline()
            assert line.strip() == b"connected"
            await rec.wait_for(lambda m: m.payload == b"online")
            killed_at = time.perf_counter()
            proc.send_signal(signal.SIGKILL)
            offline = await rec.wait_for(lambda m: m.payload == b"offline", within=5)
            will_delay = time.perf_counter() - killed_at
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
    assert offline.topic == T.availability
    assert will_delay < 2.0


async def test_unreachable_broker_never_blocks_publish_calls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    settings = MqttSettings(
        host="127.0.0.1",
        port=port,
        treadmill_id="tm1",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        event_queue_size=100,
        telemetry_queue_size=5,
    )
    statuses: list[MqttStatus] = []
    ticks = itertools.count()  # every clock read is 1 s later: no sample is rate limited
    t0 = time.perf_counter()
    async with MqttPublisher(
        settings, on_status=statuses.append, clock=lambda: float(next(ticks))
    ) as pub:
        started_in = time.perf_counter() - t0
        durations = timed_calls(pub, 5000)
        await asyncio.sleep(0)
        status = pub.status
    assert started_in < 1.0
    assert status.state is MqttConnectionState.RECONNECTING
    assert status.last_error is not None
    assert status.events_queued == 100
    assert status.events_dropped == 4900
    assert status.telemetry_dropped == 5000 - 5
    assert max(durations) < MAX_CALL_S
    assert p99(durations) < P99_CALL_S
    assert statuses[-1].state is MqttConnectionState.CLOSED
    with capsys.disabled():
        print(
            f"\npublish_* call time, broker unreachable ({len(durations)} calls): "
            f"p99 {p99(durations) * 1e6:.0f} us, max {max(durations) * 1e6:.0f} us"
        )


async def test_broker_killed_and_restarted_reconnects_and_delivers_queued_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = MosquittoBroker(tmp_path / "broker", persistent=True)
    broker.start()
    commands: list[tuple[RemoteCommand, float]] = []
    stopped = asyncio.Event()

    def on_command(command: RemoteCommand) -> None:
        commands.append((command, time.perf_counter()))
        stopped.set()

    states: list[MqttConnectionState] = []
    went_down = asyncio.Event()

    def on_status(status: MqttStatus) -> None:
        states.append(status.state)
        if status.state is MqttConnectionState.RECONNECTING:
            went_down.set()

    # The dashboard keeps a persistent session (QoS 1) so it gets what was published while it
    # was itself reconnecting to the restarted broker.
    def dashboard() -> aiomqtt.Client:
        return client_for(broker, identifier="dashboard", clean_session=False)

    settings = fast_settings(broker, discovery=False, event_queue_size=20)
    try:
        async with recording(dashboard(), T.event) as rec:
            subscribed_at = time.time()
            async with MqttPublisher(
                settings,
                on_command=on_command,
                on_status=on_status,
            ) as pub:
                await pub.wait_connected()
                pub.publish_event(Event(EventCategory.STATE, "before", "before the crash"))
                async with asyncio.timeout(5):
                    await pub.wait_idle()  # acknowledged: not resent (nor counted) after the crash
                await rec.wait_for(lambda m: m.json()["code"] == "before")
                await broker.wait_saved(since=subscribed_at)

                broker.kill()
                async with asyncio.timeout(5):
                    await went_down.wait()
                durations = []
                for i in range(30):
                    t0 = time.perf_counter()
                    pub.publish_event(
                        Event(EventCategory.ALARM, "while_down", f"#{i}", data={"i": i})
                    )
                    durations.append(time.perf_counter() - t0)
                down_status = pub.status
                broker.start()
                async with asyncio.timeout(10):
                    await pub.wait_connected()

                async with recording(dashboard(), T.event) as after:
                    dropped = await after.wait_for(lambda m: m.json()["code"] == "events_dropped")
                    flushed = await after.wait_count(
                        lambda m: m.json()["code"] == "while_down", 20, within=10
                    )
                    async with client_for(broker) as desk:

                        async def remote_stop() -> tuple[float, float]:
                            stopped.clear()
                            sent = time.perf_counter()
                            payload = command_payload("after", "d")
                            await desk.publish(T.command("stop"), payload, qos=1)
                            async with asyncio.timeout(2):
                                await stopped.wait()
                            return sent, commands[-1][1] - sent

                        stop_latency = await latency_within(
                            0.1, remote_stop, "remote stop after the broker restart"
                        )
                    status = pub.status
                    task = pub._task
                    assert task is not None
                    assert not task.done()
    finally:
        broker.stop()

    assert down_status.events_queued == 20
    assert down_status.events_dropped == 10
    assert dropped.json()["data"]["dropped"] == 10
    assert [m.json()["data"]["i"] for m in flushed] == list(range(10, 30))
    seqs = [m.json()["seq"] for m in flushed]
    assert seqs == sorted(seqs)
    assert status.connects == 2
    assert status.events_dropped == 10
    assert states[0] is MqttConnectionState.CONNECTED
    assert MqttConnectionState.RECONNECTING in states
    assert states[-2:] == [MqttConnectionState.CONNECTED, MqttConnectionState.CLOSED]
    assert {command.kind for command, _ in commands} == {"stop"}
    assert max(durations) < MAX_CALL_S
    with capsys.disabled():
        print(
            f"\nafter broker restart: stop latency {stop_latency * 1000:.2f} ms; "
            f"publish_event max call time while down {max(durations) * 1e6:.0f} us"
        )


async def test_bad_event_data_is_published_without_it_instead_of_raising(
    mosquitto: MosquittoBroker,
) -> None:
    async with (
        recording(client_for(mosquitto), T.event) as rec,
        MqttPublisher(fast_settings(mosquitto, discovery=False)) as pub,
    ):
        await pub.wait_connected()
        pub.publish_event(Event(EventCategory.SAFETY, "odd", "odd data", data={"x": math.nan}))
        pub.publish_telemetry(TelemetrySample(speed_kmh=math.inf))
        event = await rec.wait_for(lambda m: True)
    assert event.json()["code"] == "odd"
    assert event.json()["data"] == {}


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback_broker(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "v6", host="::1")
    broker.start()
    try:
        settings = MqttSettings.from_url(
            f"mqtt://[::1]:{broker.port}/retro-treadmill", treadmill_id="tm1", discovery=False
        )
        async with (
            recording(client_for(broker), T.availability) as rec,
            MqttPublisher(settings) as pub,
        ):
            await pub.wait_connected()
            await rec.wait_for(lambda m: m.payload == b"online")
    finally:
        broker.stop()


async def test_stalled_broker_is_detected_and_recovered_without_blocking(
    mosquitto: MosquittoBroker,
) -> None:
    """SIGSTOP the broker: TCP still accepts but nothing answers (a "slow" broker)."""
    states: list[MqttConnectionState] = []
    lost = asyncio.Event()

    def on_status(status: MqttStatus) -> None:
        states.append(status.state)
        if status.state is MqttConnectionState.RECONNECTING:
            lost.set()

    settings = fast_settings(mosquitto, discovery=False, connect_timeout_s=0.5)
    assert mosquitto.process is not None
    async with (
        recording(client_for(mosquitto), T.event) as rec,
        MqttPublisher(settings, on_status=on_status) as pub,
    ):
        await pub.wait_connected()
        mosquitto.process.send_signal(signal.SIGSTOP)
        try:
            durations = []
            for i in range(5):
                t0 = time.perf_counter()
                pub.publish_event(
                    Event(EventCategory.ALARM, "during_stall", f"#{i}", data={"i": i})
                )
                durations.append(time.perf_counter() - t0)
            async with asyncio.timeout(5):
                await lost.wait()  # the unanswered PUBACK timed out
        finally:
            mosquitto.process.send_signal(signal.SIGCONT)
        async with asyncio.timeout(10):
            await pub.wait_connected()
        await rec.wait_for(lambda m: m.json()["data"].get("i") == 4, within=10)
    delivered = [m.json()["data"]["i"] for m in rec.messages if m.json()["code"] == "during_stall"]
    # At least once, in order: the event in flight when the broker stalled may come twice.
    assert list(dict.fromkeys(delivered)) == [0, 1, 2, 3, 4]
    assert max(durations) < MAX_CALL_S
    assert states.count(MqttConnectionState.CONNECTED) >= 2
