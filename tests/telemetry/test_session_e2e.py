"""Issue 7 acceptance, end to end: ``retro-treadmill run --headless --simulate --mqtt`` in its own
process against a real mosquitto, watched and commanded by MQTT clients in the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocols.ftms import SetTargetSpeed, parse_control_point_request
from retro_treadmill.telemetry.monitor import MonitorApp
from retro_treadmill.telemetry.schema import (
    EVENT_SCHEMA,
    STATE_SCHEMA,
    TELEMETRY_SCHEMA,
    Topics,
    command_payload,
)
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.units import mph_to_kmh
from tests.e2e.conftest import read_log
from tests.mosquitto import MosquittoBroker
from tests.stall import latency_within
from tests.telemetry.helpers import (
    Received,
    Recorder,
    card_text,
    client_for,
    press_stop,
    recording,
    until,
)

REPO = Path(__file__).resolve().parents[2]
T = Topics("retro-treadmill/bay1")
SCHEMAS = {T.state: STATE_SCHEMA, T.telemetry: TELEMETRY_SCHEMA, T.event: EVENT_SCHEMA}
TIME_SCALE = 2  # the demo's 30 s warm-up lasts 15 s: no profile step during the test


@contextlib.asynccontextmanager
async def headless_session(
    broker: MosquittoBroker, event_log: Path, treadmill_id: str = "bay1"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``run --profile demo --simulate --headless --yes-preflight --mqtt ...`` as a process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "retro_treadmill",
        "run",
        "--profile",
        "demo",
        "--simulate",
        "--headless",
        "--yes-preflight",
        "--time-scale",
        str(TIME_SCALE),
        "--mqtt",
        f"mqtt://{broker.host}:{broker.port}/retro-treadmill",
        "--mqtt-id",
        treadmill_id,
        "--event-log",
        str(event_log),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def is_running(m: Received) -> bool:
    return m.topic == T.state and m.json()["state"] == "running"


def moving(m: Received) -> bool:
    return m.topic == T.telemetry and (m.json()["speed_kmh"] or 0.0) > 1.0


def check_schemas(rec: Recorder) -> None:
    for message in rec.messages:
        if message.topic in SCHEMAS and message.payload:
            jsonschema.validate(message.json(), SCHEMAS[message.topic])


async def test_remote_stop_stops_the_virtual_belt_and_start_or_speed_do_nothing(
    mosquitto: MosquittoBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts: list[Path] = []
    standstill_at: list[str] = []

    async def session() -> tuple[float, float]:
        event_log = tmp_path / f"events-{len(attempts)}.jsonl"
        attempts.append(event_log)
        async with (
            recording(client_for(mosquitto), f"{T.base}/#") as rec,
            client_for(mosquitto) as desk,
            headless_session(mosquitto, event_log) as proc,
        ):
            await rec.wait_for(is_running, within=60)
            await rec.wait_for(moving, within=30)
            remote_start_at = time.time()
            await desk.publish(T.command("start"), command_payload("go", "desk"), qos=1)
            await desk.publish(T.command("speed"), b'{"reason":"r","sender":"desk","mph":3}', qos=1)
            rejected = await rec.wait_count(
                lambda m: m.topic == T.event and m.json()["code"] == "remote_command_rejected", 2
            )
            published_at, published = time.time(), time.perf_counter()
            await desk.publish(T.command("stop"), command_payload("e2e", "desk"), qos=1)
            async with asyncio.timeout(30):
                code = await proc.wait()
            assert proc.stderr is not None
            stderr = (await proc.stderr.read()).decode()
            standstill = await rec.wait_for(
                lambda m: m.topic == T.telemetry and m.json()["speed_kmh"] == 0.0, within=5
            )
            offline = await rec.wait_for(lambda m: m.payload == b"offline", within=5)

        assert code == 3, stderr  # stopped by the operator (here: MQTT)
        check_schemas(rec)
        walking = next(m.json() for m in rec.messages if is_running(m))
        # 1-based, and the segment's own name (its kind), as README's state example shows
        assert walking["segment"]["index"] == 1, walking
        assert walking["segment"]["name"] == "warm-up", walking
        assert walking["segment"]["count"] == 4, walking
        assert offline.topic == T.availability
        assert [m.json()["data"]["command"] for m in rejected] == ["start", "speed"]
        records = read_log(event_log)
        # What the virtual treadmill received on its control point (its own log, wall clock).
        received = [
            (r["wall"], r["message"].split(": ", 1)[1].split(" ->")[0])
            for r in records
            if r.get("kind") == "simulator-log" and r["message"].startswith("control point from")
        ]
        # A few seconds of warm-up need a handful of writes (request control, start, speed, stop);
        # dozens would mean the session floods the treadmill's control point.
        assert len(received) < 20, f"control-point write flood: {[cp for _, cp in received][:12]}"
        after_remote = [cp for wall, cp in received if wall >= remote_start_at]
        # start/speed over MQTT did nothing: no Start (07) was written, and the only speed writes
        # are the profile's own (the warm-up's 1.0 mph), never the 3 mph asked for remotely.
        assert "07" not in after_remote
        requests = [parse_control_point_request(bytes.fromhex(cp)) for cp in after_remote]
        speeds = [r.speed_kmh for r in requests if isinstance(r, SetTargetSpeed)]
        assert all(kmh <= mph_to_kmh(1.0) + 0.01 for kmh in speeds), speeds
        assert "08 01" in after_remote
        stop_received_at = next(wall for wall, cp in received if cp == "08 01")
        latency = stop_received_at - published_at
        final = next(r for r in records if r.get("kind") == "simulator")
        assert final["state"] == "stopped"
        assert final["belt_speed_kmh"] == 0.0
        operator = [r for r in records if r.get("kind") == "operator" and r.get("action") == "stop"]
        assert operator[0]["by"] == "mqtt"
        assert operator[0]["detail"] == "desk: e2e"
        standstill_at.append(standstill.json()["timestamp"])
        return published, latency

    latency = await latency_within(0.100, session, "command/stop publish -> Stop (08 01)")
    with capsys.disabled():
        print(
            f"\ne2e: command/stop publish -> Stop (08 01) received by the virtual treadmill: "
            f"{latency * 1000:.1f} ms; telemetry showed the belt at 0 at "
            f"{standstill_at[-1]}"
        )


async def test_last_will_when_the_session_process_is_killed(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        recording(client_for(mosquitto), T.availability) as rec,
        headless_session(mosquitto, tmp_path / "events.jsonl") as proc,
    ):
        await rec.wait_for(lambda m: m.payload == b"online", within=60)
        proc.send_signal(signal.SIGKILL)
        await rec.wait_for(lambda m: m.payload == b"offline", within=5)


async def wait_log(path: Path, predicate: Any, within: float = 15.0) -> dict[str, Any]:
    """The first event-log record satisfying ``predicate`` (polls the file the session writes)."""
    async with asyncio.timeout(within):
        while True:
            for record in read_log(path):
                if predicate(record):
                    return record
            await asyncio.sleep(0.05)


def mqtt_state(state: str) -> Any:
    return lambda r: r.get("kind") == "mqtt" and r.get("state") == state


async def test_broker_killed_mid_session_does_not_disturb_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = MosquittoBroker(tmp_path / "broker", persistent=True)
    broker.start()
    event_log = tmp_path / "events.jsonl"

    def dashboard() -> Any:
        return client_for(broker, identifier="e2e-dashboard", clean_session=False)

    try:
        async with recording(dashboard(), T.event, f"{T.base}/state") as rec:
            subscribed_at = time.time()
            async with headless_session(broker, event_log) as proc:
                await rec.wait_for(is_running, within=60)
                # The dashboard's session must be on disk, or the restarted broker forgets it.
                await broker.wait_saved(since=subscribed_at)
                killed_at = time.time()
                broker.kill()
                await wait_log(event_log, mqtt_state("reconnecting"))
                assert proc.stdin is not None
                proc.stdin.write(b"p\n")  # an operator pause while the broker is down
                await proc.stdin.drain()
                await wait_log(
                    event_log, lambda r: r.get("kind") == "state" and r["state"] == "paused"
                )
                broker.start()
                await wait_log(
                    event_log, lambda r: mqtt_state("connected")(r) and r["wall"] > killed_at
                )
                async with recording(dashboard(), T.event) as after:
                    paused = await after.wait_for(
                        lambda m: m.topic == T.event and m.json()["code"] == "state_paused",
                        within=15,
                    )
                    async with client_for(broker) as desk:
                        published_at = time.time()
                        await desk.publish(T.command("stop"), command_payload("e2e", "d"), qos=1)
                    async with asyncio.timeout(30):
                        code = await proc.wait()
    finally:
        broker.stop()

    assert code == 3
    assert paused.json()["category"] == "state"
    records = read_log(event_log)
    states = [r["state"] for r in records if r.get("kind") == "mqtt" and "state" in r]
    assert states.count("connected") >= 2
    assert "reconnecting" in states
    outcome = next(r for r in records if r.get("kind") == "outcome")
    assert outcome["alarms"] == []
    assert outcome["stop_requested"] == "mqtt"
    stop_at = next(
        r["wall"]
        for r in records
        if r.get("kind") == "simulator-log"
        and ": 08 01 ->" in r["message"]
        and r["wall"] >= published_at
    )
    assert stop_at - published_at < 0.100
    with capsys.disabled():
        print(
            f"\ne2e after a broker kill/restart: command/stop -> virtual treadmill "
            f"{(stop_at - published_at) * 1000:.1f} ms"
        )


async def test_monitor_shows_two_virtual_treadmills_and_stops_one(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    url = f"mqtt://{mosquitto.host}:{mosquitto.port}/retro-treadmill"
    app = MonitorApp(MqttSettings.from_url(url, treadmill_id="monitor"), sender="e2e-monitor")

    def shows(treadmill_id: str, part: str, text: str) -> Callable[[], bool]:
        return lambda: text in card_text(app, treadmill_id, part)

    logs = {name: tmp_path / f"{name}.jsonl" for name in ("bay1", "bay2")}
    async with (
        headless_session(mosquitto, logs["bay1"], "bay1") as bay1,
        headless_session(mosquitto, logs["bay2"], "bay2") as bay2,
        app.run_test(size=(150, 20)) as pilot,
    ):
        for name in ("bay1", "bay2"):
            await until(pilot, shows(name, "state", "RUNNING"), within=60)
            await until(pilot, shows(name, "liveness", "ONLINE"), within=60)
        await press_stop(pilot, app, "bay1")
        await until(pilot, lambda: app.stops_sent == ["bay1"], within=5)
        async with asyncio.timeout(30):
            code = await bay1.wait()
        await until(pilot, lambda: "OFFLINE" in card_text(app, "bay1", "liveness"), within=10)
        assert bay2.returncode is None
        assert "RUNNING" in card_text(app, "bay2", "state")
    assert code == 3
    bay1_log = read_log(logs["bay1"])
    stop = next(r for r in bay1_log if r.get("kind") == "operator" and r["action"] == "stop")
    assert (stop["by"], stop["detail"]) == ("mqtt", "e2e-monitor: STOP pressed in the monitor")
    simulator = next(r for r in bay1_log if r.get("kind") == "simulator")
    assert simulator["writes"][-1] == "08 01"
    assert simulator["belt_speed_kmh"] == 0.0
    assert not any(
        r.get("kind") == "operator" and r.get("action") == "stop" for r in read_log(logs["bay2"])
    )
