"""The virtual treadmill over a real BLE stack: bleak (our bumble backend) on a virtual radio."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bleak.exc import BleakGATTProtocolError

from protocols.ftms import parse_treadmill_data
from retro_treadmill.sim import RunState, VirtualTreadmill
from retro_treadmill.sim.server import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    ATT_PROCEDURE_ALREADY_IN_PROGRESS,
)
from tests.sim.conftest import Connect, Wire, uuid

MakeSim = Callable[..., Awaitable[VirtualTreadmill]]


def belt_speeds(wire: Wire) -> list[float]:
    """Instantaneous Speed of every complete 2ACD record (bit 0 clear: speed is first)."""
    return [
        int.from_bytes(v[2:4], "little") / 100
        for v in wire.values("2ACD")
        if not v[0] & 0x01 and len(v) >= 4
    ]


async def test_a_session_over_bleak_ramps_the_belt_up_and_coasts_it_down(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    client = wire.client
    assert await client.read_gatt_char(uuid("2ACC")) == bytes.fromhex("0c12000003000000")
    assert await client.read_gatt_char(uuid("2AD4")) == bytes.fromhex("3200b0040a00")
    assert await client.read_gatt_char(uuid("2AD5")) == bytes.fromhex("000064000500")
    assert await client.read_gatt_char(uuid("2AD3")) == bytes.fromhex("0001")
    assert await wire.command(b"\x00") == bytes.fromhex("800001")
    assert sim.controller == sim.connections[0]
    assert await wire.command(b"\x02\x2c\x01") == bytes.fromhex("800201")  # 3.00 km/h
    assert await wire.command(b"\x07") == bytes.fromhex("800701")
    await wire.wait(lambda w: any(s >= 3.0 for s in belt_speeds(w)), within=15)
    up = belt_speeds(wire)
    assert up == sorted(up)
    assert any(0.0 < s < 3.0 for s in up), "the belt jumped instead of ramping"
    # Realistic acceleration, read from the records themselves (speed and elapsed time come
    # from one model snapshot, so no wall-clock jitter): 0.1 km/h every 0.1 s = 1 km/h per s.
    for record in map(parse_treadmill_data, wire.values("2ACD")):
        speed, elapsed = record.speed_kmh, record.elapsed_time_s
        if speed is not None and elapsed is not None and 0.0 < speed < 3.0:
            assert elapsed - 0.2 <= speed <= elapsed + 1.1, (elapsed, speed)
    assert bytes.fromhex("052c01") in wire.values("2ADA")
    assert bytes.fromhex("000d") in wire.values("2AD3")
    stop_index = len(wire.received)
    assert await wire.command(b"\x08\x01") == bytes.fromhex("800801")
    await wire.wait(lambda w: belt_speeds(w)[-1] == 0.0, within=15)
    down = [
        int.from_bytes(r.value[2:4], "little") / 100
        for r in wire.received[stop_index:]
        if r.short == "2ACD"
    ]
    assert any(0.0 < s < 3.0 for s in down), "no coast-down after Stop"
    assert bytes.fromhex("0201") in wire.values("2ADA")
    assert sim.state is RunState.STOPPED
    assert [w.opcode for w in sim.writes] == [0x00, 0x02, 0x07, 0x08]


async def test_gatt_database_ftms_characteristics_and_device_information(
    make_sim: MakeSim, connect: Connect
) -> None:
    """FTMS Table 4.1 properties as a client discovers them, and the Device Information."""
    wire = await connect(await make_sim("spec"), subscribe=False)
    ftms = wire.client.services.get_service(uuid("1826"))
    assert ftms is not None
    assert {c.uuid[4:8].upper(): sorted(c.properties) for c in ftms.characteristics} == {
        "2ACC": ["read"],
        "2ACD": ["notify"],
        "2AD3": ["notify", "read"],
        "2AD4": ["read"],
        "2AD5": ["read"],
        "2AD9": ["indicate", "write"],
        "2ADA": ["notify"],
    }
    assert wire.client.services.get_service(uuid("180A")) is not None
    assert await wire.client.read_gatt_char(uuid("2A29")) == b"retro-treadmill"
    assert await wire.client.read_gatt_char(uuid("2A28")) == b"personality spec"


async def test_control_point_refused_with_fd_until_indications_are_enabled(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim, subscribe=False)
    with pytest.raises(BleakGATTProtocolError) as refused:
        await wire.write(b"\x00")
    assert refused.value.args[0] == ATT_CCCD_IMPROPERLY_CONFIGURED
    assert sim.writes[-1].att_error == ATT_CCCD_IMPROPERLY_CONFIGURED
    await wire.subscribe("2AD9")
    assert await wire.command(b"\x00") == bytes.fromhex("800001")


async def test_second_write_while_a_procedure_is_pending_gets_fe(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await sim.inject("delay-responses:by=20s,count=1")
    await wire.write(b"\x07")  # answered 20 sim-seconds (1 s wall) later
    with pytest.raises(BleakGATTProtocolError) as refused:
        await wire.write(b"\x08\x01")
    assert refused.value.args[0] == ATT_PROCEDURE_ALREADY_IN_PROGRESS
    await wire.wait(lambda w: bytes.fromhex("800701") in w.values("2AD9"), within=30)
    assert await wire.command(b"\x08\x01") == bytes.fromhex("800801")


async def test_scan_finds_the_treadmill_by_ftms_service_data(
    make_sim: MakeSim, connect: Connect, adapter: Any
) -> None:
    await make_sim("spec", name="Clinic TM 3")
    found = await adapter.discover(timeout=0.5, service_uuids=[uuid("1826")])
    (_device, advertisement), *_ = found.values()
    assert advertisement.local_name == "Clinic TM 3"
    # FTMS §3.1: flags 0x01 (available), type 0x0001 (treadmill)
    assert advertisement.service_data[uuid("1826")] == bytes.fromhex("010100")


async def test_stop_write_arrival_is_timestamped_on_the_wall_clock(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await wire.command(b"\x07")
    index = len(sim.writes)
    called = time.perf_counter()
    await wire.write(b"\x08\x01")
    arrived = await sim.wait_for_write(0x08, after=index)
    assert arrived.data == b"\x08\x01"
    assert 0.0 < arrived.perf_counter - called < 0.5


async def test_incline_motor_moves_at_a_finite_rate_on_the_wire(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    assert await wire.command(b"\x03\x1e\x00") == bytes.fromhex("800301")  # 3.0 %
    assert bytes.fromhex("061e00") in wire.values("2ADA")
    assert await wire.command(b"\x03\x00\x02") == bytes.fromhex("800303")  # 51.2 %: out of range

    def inclines(w: Wire) -> list[float | None]:
        return [parse_treadmill_data(v).inclination_pct for v in w.values("2ACD")]

    await wire.wait(lambda w: 3.0 in inclines(w))
    assert any(i is not None and 0.0 < i < 3.0 for i in inclines(wire)), "the deck jumped"


async def test_pause_resume_and_reset(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await wire.command(b"\x02\xc8\x00")
    await wire.command(b"\x07")
    await sim.wait_for(lambda s: s.belt_speed_kmh == 2.0, 10)
    assert await wire.command(b"\x08\x02") == bytes.fromhex("800801")
    assert bytes.fromhex("0202") in wire.values("2ADA")
    await sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, 10)
    assert sim.state is RunState.PAUSED
    assert await wire.command(b"\x07") == bytes.fromhex("800701")  # resume at 2.0 km/h
    await sim.wait_for(lambda s: s.belt_speed_kmh == 2.0, 10)
    assert await wire.command(b"\x01") == bytes.fromhex("800101")
    assert b"\x01" in wire.values("2ADA")
    assert sim.controller is None  # Reset revokes control
    assert await wire.command(b"\x07") == bytes.fromhex("800705")


@pytest.mark.parametrize(("personality", "interval"), [("spec", 1.0), ("urevo-e1l", 0.5)])
async def test_treadmill_data_cadence(
    make_sim: MakeSim, connect: Connect, personality: str, interval: float
) -> None:
    sim = await make_sim(personality)
    wire = await connect(sim)
    await wire.wait(lambda w: len(w.values("2ACD")) >= 12, within=20)
    times = [r.sim_time for r in wire.received if r.short == "2ACD"]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    assert gaps[len(gaps) // 2] == pytest.approx(interval, abs=0.1)
