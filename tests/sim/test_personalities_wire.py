"""Each personality's behaviour as a client sees it on the wire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from bleak.exc import BleakGATTProtocolError

from protocols.ftms import TreadmillDataAssembler, parse_treadmill_data
from retro_treadmill.sim import PERSONALITIES, RunState, VirtualTreadmill
from retro_treadmill.sim.personalities import ENCRYPTED
from retro_treadmill.units import mph_to_kmh
from tests.sim.conftest import Connect, Wire, uuid

MakeSim = Callable[..., Awaitable[VirtualTreadmill]]


def speed_of(value: bytes) -> float | None:
    """Instantaneous Speed of a 2ACD notification (absent when More Data is set)."""
    return parse_treadmill_data(value).speed_kmh


def belt_speeds(wire: Wire) -> list[float]:
    return [s for s in map(speed_of, wire.values("2ACD")) if s is not None]


async def start_at(wire: Wire, kmh: float) -> None:
    await wire.command(b"\x00")
    await wire.command(b"\x07")
    await wire.command(b"\x02" + round(kmh * 100).to_bytes(2, "little"))


def test_every_named_personality_is_documented() -> None:
    assert set(PERSONALITIES) >= {
        "spec",
        "lenient",
        "urevo-e1l",
        "matrix",
        "split-records",
        "mph-confused",
        "ignores-speed",
        "keeps-running-on-disconnect",
        "stops-on-disconnect",
    }
    assert all(p.description for p in PERSONALITIES.values())


async def test_spec_rejects_commands_without_control(make_sim: MakeSim, connect: Connect) -> None:
    wire = await connect(await make_sim("spec"))
    assert await wire.command(b"\x07") == bytes.fromhex("800705")
    assert await wire.command(b"\x00") == bytes.fromhex("800001")
    assert await wire.command(b"\x07") == bytes.fromhex("800701")
    assert await wire.command(b"\x07") == bytes.fromhex("800704")
    assert await wire.command(b"\x02\x10\x27") == bytes.fromhex("800203")  # 100 km/h
    assert await wire.command(b"\x02\x01") == bytes.fromhex("800203")  # parameter cut short
    assert await wire.command(b"\x05\x10\x00") == bytes.fromhex("800502")  # target resistance


async def test_lenient_runs_without_control(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("lenient")
    wire = await connect(sim)
    cp = wire.client.services.get_characteristic(uuid("2AD9"))
    assert cp is not None
    assert "write-without-response" in cp.properties
    assert "write" not in cp.properties
    await wire.client.write_gatt_char(cp, b"\x02\xc8\x00", response=False)  # Write Command
    await wire.wait(lambda w: bytes.fromhex("800201") in w.values("2AD9"))
    assert await wire.command(b"\x07") == bytes.fromhex("800701")  # a Write Request works too
    assert await wire.command(b"\x07") == bytes.fromhex("800701")
    assert sim.controller is None
    await wire.wait(lambda w: bytes.fromhex("040000") in w.values("2ADA"))


async def test_urevo_answers_by_notification_in_mph_steps(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("urevo-e1l")
    wire = await connect(sim)
    props = wire.client.services.get_characteristic(uuid("2AD9"))
    assert props is not None
    assert "notify" in props.properties
    assert "indicate" not in props.properties
    assert await wire.client.read_gatt_char(uuid("2AD4")) == bytes.fromhex("600083022000")
    assert await wire.command(b"\x03\x14\x00") == bytes.fromhex("800301")  # incline: no motor
    await start_at(wire, 2.0)
    target = round(mph_to_kmh(1.2), 2)  # 2.0 km/h snaps to 1.2 mph
    await wire.wait(lambda w: target in belt_speeds(w), within=20)
    ramp = [int.from_bytes(v[1:3], "little") / 100 for v in wire.values("2ADA") if v[0] == 0x05]
    steps = [r for r in ramp if r != target]  # the Set Target Speed status itself aside
    assert steps[:3] == [0.16, 0.32, 0.48]  # a 0x05 status at every motor step
    assert wire.values("2ADA")[0][-2:] == b"\x00\x00"  # zero padding
    last = parse_treadmill_data(wire.values("2ACD")[-1])
    assert last.step_count is not None  # vendor step counter behind RFU bit 13
    assert last.step_count > 0
    assert sim.incline_pct == 0.0


async def test_matrix_truncates_records_at_20_bytes(make_sim: MakeSim, connect: Connect) -> None:
    wire = await connect(await make_sim("matrix"))
    await wire.wait(lambda w: len(w.values("2ACD")) >= 2)
    record = wire.values("2ACD")[-1]
    assert len(record) == 20
    parsed = parse_treadmill_data(record)
    assert parsed.truncated  # flags promise remaining time; the notification ends before it
    assert parsed.remaining_time_s is None
    assert parsed.speed_kmh == 0.0


async def test_split_records_use_more_data(make_sim: MakeSim, connect: Connect) -> None:
    wire = await connect(await make_sim("split-records"))
    await wire.wait(lambda w: len(w.values("2ACD")) >= 4)
    bits = [v[0] & 0x01 for v in wire.values("2ACD")[:4]]
    assert bits == [1, 0, 1, 0]
    assembler = TreadmillDataAssembler()
    merged = [r for r in map(assembler.feed, wire.values("2ACD")[:4]) if r is not None]
    assert len(merged) == 2
    assert merged[0].elapsed_time_s is not None
    assert merged[0].average_speed_kmh is not None


async def test_mph_confused_runs_1609_times_too_fast(make_sim: MakeSim, connect: Connect) -> None:
    wire = await connect(await make_sim("mph-confused"))
    await start_at(wire, 2.0)
    await wire.wait(lambda w: bool(belt_speeds(w)) and belt_speeds(w)[-1] >= 3.2, within=20)
    assert max(belt_speeds(wire)) == pytest.approx(3.2, abs=0.1)


async def test_ignores_speed_acknowledges_but_the_belt_stays(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("ignores-speed")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await wire.command(b"\x07")
    assert await wire.command(b"\x02\x2c\x01") == bytes.fromhex("800201")
    await sim.wait_for(lambda s: s.elapsed > 8.0, 20)
    assert max(belt_speeds(wire)) == pytest.approx(0.5)  # the start speed, not 3.0


@pytest.mark.parametrize(
    ("personality", "after"),
    [("keeps-running-on-disconnect", RunState.RUNNING), ("stops-on-disconnect", RunState.STOPPED)],
)
async def test_what_the_belt_does_when_the_controller_disconnects(
    make_sim: MakeSim, connect: Connect, personality: str, after: RunState
) -> None:
    sim = await make_sim(personality)
    wire = await connect(sim)
    await start_at(wire, 2.0)
    await sim.wait_for(lambda s: s.belt_speed_kmh >= 2.0, 20)
    await wire.client.disconnect()
    await sim.wait_for(lambda s: not s.connections, 5)
    assert sim.controller is None
    assert sim.state is after
    if after is RunState.STOPPED:
        await sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, 10)
    else:
        later = sim.elapsed + 10.0
        await sim.wait_for(lambda s: s.elapsed > later, 15)
        assert sim.belt_speed_kmh == pytest.approx(2.0)


async def test_encrypted_control_point_needs_pairing(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(ENCRYPTED)
    wire = await connect(sim)
    with pytest.raises(BleakGATTProtocolError) as refused:
        await wire.write(b"\x00")
    assert refused.value.args[0] == 0x0F  # Insufficient Encryption
    assert sim.writes == []  # refused by the ATT layer before the control point saw it
    await wire.client.pair()
    assert await wire.command(b"\x00") == bytes.fromhex("800001")
