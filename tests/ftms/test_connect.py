"""Connecting by name and by address, the device description, quirks by name, the audit trail."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError

from retro_treadmill.errors import DeviceError
from retro_treadmill.ftms.audit import JsonLinesWriter
from retro_treadmill.ftms.events import BeltStateChanged, UnitMismatch
from retro_treadmill.ftms.model import BeltState, Outcome
from retro_treadmill.ftms.monitor import SelfTest
from retro_treadmill.ftms.quirks import load_quirks_table, merge_overrides
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import drain, of_type, speed_near, until

ADDRESS = "F0:F1:F2:F3:F4:F5"


@pytest.mark.parametrize("target", ["RetroSim FTMS", "retrosim ftms", ADDRESS, ADDRESS.lower()])
async def test_connect_by_name_or_address(
    target: str, make_sim: MakeSim, make_client: MakeClient
) -> None:
    await make_sim("spec", name="RetroSim FTMS")
    await make_sim("lenient", name="Other Treadmill", address="F0:F1:F2:F3:F4:F6")
    client = await make_client(target)
    assert client.device is not None
    assert client.device.address == ADDRESS
    assert client.device.name == "RetroSim FTMS"


async def test_connect_picks_the_named_one_of_two(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    await make_sim("spec", name="RetroSim FTMS")
    await make_sim("lenient", name="Other Treadmill", address="F0:F1:F2:F3:F4:F6")
    client = await make_client("Other Treadmill")
    assert client.device is not None
    assert client.device.address == "F0:F1:F2:F3:F4:F6"
    assert client.device.min_speed_kmh == 1.0  # the lenient personality's range


async def test_unknown_device_is_a_clear_error(make_sim: MakeSim, make_client: MakeClient) -> None:
    await make_sim("spec")
    with pytest.raises(DeviceError, match="no BLE device with name 'Nope'"):
        await make_client("Nope", scan_timeout_s=0.5)


async def test_description_tolerates_an_all_zero_incline_range(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    await make_sim("urevo-e1l")
    client = await make_client()
    d = client.device
    assert d is not None
    assert (d.min_speed_kmh, d.max_speed_kmh, d.speed_increment_kmh) == (0.96, 6.43, 0.32)
    assert (d.min_incline_pct, d.max_incline_pct, d.incline_increment_pct) == (None, None, None)
    assert d.features == 0x5645
    assert d.target_features == 0x05


async def test_quirk_override_corrects_a_device_that_reads_mph(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    """A clinic override (target_speed_in_mph for this name) makes the mph-confused treadmill run
    the requested km/h, and the units self-test passes."""
    sim = await make_sim("mph-confused", name="JFTM T202")
    table = merge_overrides(load_quirks_table(), {"JFTM T202": {"target_speed_in_mph": True}})
    client = await make_client("JFTM T202", quirks_table=table)
    stream = client.events()
    assert client.quirks.target_speed_in_mph
    await client.start()
    await client.set_target_speed(2.0)
    await until(sim, lambda: speed_near(client, 2.0), 40)
    await until(sim, lambda: client.monitor.self_test == SelfTest.PASSED, 10)
    assert of_type(drain(stream), UnitMismatch) == []
    assert sim.writes[-1].data == bytes.fromhex("02 7c 00")  # 1.24 mph x 100
    await client.stop()


async def test_unit_self_test_can_be_turned_off(make_sim: MakeSim, make_client: MakeClient) -> None:
    sim = await make_sim("mph-confused")
    client = await make_client(unit_self_test=False)
    stream = client.events()
    await client.start()
    await client.set_target_speed(2.0)
    await until(sim, lambda: speed_near(client, 2.0 * 1.609344), 40)
    settled = sim.elapsed + 3.0
    await sim.wait_for(lambda s: s.elapsed >= settled, 5)
    assert client.monitor.self_test == SelfTest.OFF
    assert of_type(drain(stream), UnitMismatch) == []
    await client.stop()


async def test_audit_trail_shows_every_command_with_result_and_round_trip(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    log = io.StringIO()
    client = await make_client()
    client.audit.add_sink(JsonLinesWriter(log))
    await client.start()
    await client.set_target_speed(1.8)
    await client.set_target_incline(2.0)
    await until(sim, lambda: client.belt_state is BeltState.MOVING)
    assert (await client.stop()).outcome is Outcome.SUCCESS

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    commands = [r for r in lines if r["kind"] == "command"]
    assert [c["command"] for c in commands] == [
        "start",
        "set-target-speed 1.80 km/h",
        "set-target-incline 2.0 %",
        "stop",
    ]
    for c in commands:
        assert c["outcome"] == "success"
        assert c["result_code"] == 1
        assert 0 < c["latency_s"] < 3.0
        assert isinstance(c["wall"], float)
    writes = [r["bytes"] for r in lines if r["kind"] == "write"]
    assert writes == ["00", "07", "02 b4 00", "03 14 00", "08 01"]
    responses = [(r["request_opcode"], r["result_code"]) for r in lines if r["kind"] == "response"]
    assert responses == [(0, 1), (7, 1), (2, 1), (3, 1), (8, 1)]
    assert all(r["latency_s"] > 0 for r in lines if r["kind"] == "response")
    assert [r["bytes"] for r in lines if r["kind"] == "response"][-1] == "80 08 01"
    kinds = {r["kind"] for r in lines}
    assert {"telemetry", "status", "training", "control"} <= kinds
    telemetry = [r for r in lines if r["kind"] == "telemetry"]
    assert telemetry[-1]["record"]["type"] == "TreadmillData"
    assert "speed_kmh" in telemetry[-1]["record"]
    # Timestamps never go backwards.
    ts = [r["t"] for r in lines]
    assert ts == sorted(ts)


async def test_quirks_shape_the_wire_traffic(make_sim: MakeSim, make_client: MakeClient) -> None:
    """Request Control before each command, and a speed change held until the belt moves."""
    sim = await make_sim("spec", name="MYRUN 01")
    quirks = load_quirks_table().for_name("MYRUN 01")
    assert quirks.request_control_before_each_command
    client = await make_client(
        "MYRUN 01", quirks=dataclasses.replace(quirks, wait_for_belt_before_speed=True)
    )
    await client.start()
    moving_seen: list[float] = []
    client.add_listener(
        lambda e: (
            moving_seen.append(sim.elapsed)
            if isinstance(e, BeltStateChanged) and e.state is BeltState.MOVING
            else None
        )
    )
    assert (await client.set_target_speed(1.5)).outcome is Outcome.SUCCESS
    assert (await client.set_target_incline(1.0)).outcome is Outcome.SUCCESS
    assert [w.data.hex() for w in sim.writes] == ["00", "07", "00", "029600", "00", "030a00"]
    speed_write = sim.writes[3]
    assert moving_seen
    assert speed_write.sim_time >= moving_seen[0] - 0.05  # held until telemetry showed motion
    await client.stop()


async def test_connect_timeout_is_named_in_the_error(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bleak's BlueZ backend ends a connection attempt nobody answers with a bare TimeoutError,
    whose text is empty: the message read "could not connect to ADDRESS: " and nothing more."""

    async def connect_like_bluez_when_nobody_answers(self: BleakClient, **kwargs: Any) -> None:
        raise TimeoutError

    monkeypatch.setattr(BleakClient, "connect", connect_like_bluez_when_nobody_answers)
    nobody = BLEDevice("F0:F1:F2:F3:F4:0F", "Gone", None)
    with pytest.raises(
        DeviceError, match=r"F0:F1:F2:F3:F4:0F: no connection within 1 s \(3 attempts\)$"
    ):
        await make_client(nobody, connect_timeout_s=1.0)


def _failing_connects(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """BleakClient.connect fails ``failures`` times as BlueZ does while it still takes down the
    previous link to the device; returns a list counting the failures."""
    real_connect = BleakClient.connect
    made: list[int] = []

    async def connect(self: BleakClient, **kwargs: Any) -> None:
        if len(made) < failures:
            made.append(1)
            raise BleakDBusError("org.bluez.Error.Failed", ["Input/output error"])
        await real_connect(self, **kwargs)

    monkeypatch.setattr(BleakClient, "connect", connect)
    return made


async def test_first_connection_is_tried_again_when_bluez_fails_it(
    make_sim: MakeSim, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen in the BlueZ VM: a session started right after the last one ended failed at once
    with "[org.bluez.Error.Failed] Input/output error" (bluetoothd was still taking down the old
    link) and the run ended with exit 5."""
    await make_sim("spec", name="RetroSim FTMS")
    made = _failing_connects(monkeypatch, 2)
    client = await make_client("RetroSim FTMS")
    assert client.device is not None
    assert client.device.name == "RetroSim FTMS"
    assert len(made) == 2
    retries = client.audit.of_kind("connect-retry")
    assert [r.data["attempt"] for r in retries] == [1, 2]


async def test_first_connection_gives_up_after_its_attempts(
    make_sim: MakeSim, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_sim("spec", name="RetroSim FTMS")
    made = _failing_connects(monkeypatch, 3)
    with pytest.raises(DeviceError, match=r"Input/output error.*\(3 attempts\)"):
        await make_client("RetroSim FTMS")
    assert len(made) == 3
