"""Each injected fault as a client sees it on the wire (Python API and scheduled specs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from retro_treadmill.ble.adapter import open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.clock import ScaledClock
from retro_treadmill.sim import RunState, VirtualTreadmill
from tests.sim.conftest import FTMS, Connect, Wire

MakeSim = Callable[..., Awaitable[VirtualTreadmill]]


async def running(wire: Wire, kmh: float = 2.0) -> None:
    await wire.command(b"\x00")
    await wire.command(b"\x07")
    await wire.command(b"\x02" + round(kmh * 100).to_bytes(2, "little"))
    assert wire.sim is not None
    await wire.sim.wait_for(lambda s: s.belt_speed_kmh >= kmh, 20)


async def test_drop_link_at_a_scheduled_time_then_advertises_again(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await running(wire)
    at = sim.elapsed + 2.0
    sim.schedule(f"drop-link@{at:.2f}s")
    await wire.wait(lambda w: w.disconnected.is_set(), within=10)
    assert sim.elapsed >= at
    assert not wire.client.is_connected
    assert sim.controller is None  # control revoked with the link
    assert sim.running  # the spec personality keeps the belt going
    again = await connect(sim)  # found by service data and connectable again
    assert again.client.is_connected


async def test_drop_notifications_for_a_while(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.wait(lambda w: len(w.values("2ACD")) >= 1)
    dropped_at = sim.elapsed
    await sim.inject("drop-notifications:for=5s,only=2ACD")
    await sim.wait_for(lambda s: s.elapsed > dropped_at + 7.0, 15)
    arrivals = [r.sim_time - dropped_at for r in wire.received if r.short == "2ACD"]
    # (one already on its way when the fault hit may still land in the first second)
    assert not [t for t in arrivals if 1.0 < t < 4.9], "Treadmill Data during the silence"
    assert [t for t in arrivals if t > 5.0], "Treadmill Data did not come back"


async def test_delay_notifications(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await sim.inject("delay-notifications:by=3s,only=2ADA")
    sent_at = sim.elapsed
    await wire.command(b"\x07")
    await wire.wait(lambda w: b"\x04" in w.values("2ADA"), within=10)
    status = next(r for r in wire.received if r.short == "2ADA")
    assert status.sim_time - sent_at >= 3.0


async def test_delayed_response_keeps_the_procedure_in_progress(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await sim.inject("delay-responses:by=4s,count=1")
    written = sim.elapsed
    await wire.write(b"\x07")
    await wire.wait(lambda w: bytes.fromhex("800701") in w.values("2AD9"), within=10)
    response = next(r for r in wire.received if r.value == bytes.fromhex("800701"))
    assert response.sim_time - written >= 4.0
    assert sim.running  # applied at once; only the answer was late


async def test_lost_response_is_applied_but_never_answered(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await sim.inject("lose-responses:count=1")
    await wire.write(b"\x07")
    await sim.wait_for(lambda s: s.belt_speed_kmh > 0.0, 10)
    later = sim.elapsed + 3.0
    await sim.wait_for(lambda s: s.elapsed > later, 10)
    assert wire.values("2AD9") == [bytes.fromhex("800001")]
    assert await wire.command(b"\x08\x01") == bytes.fromhex("800801")  # next one is answered


async def test_forced_result_code(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    sim.schedule("result:code=5,op=7,count=2")
    await sim.wait_for(lambda s: not s.scheduled_faults, 5)
    assert await wire.command(b"\x02\xc8\x00") == bytes.fromhex("800201")  # other ops: real
    assert await wire.command(b"\x07") == bytes.fromhex("800705")
    assert await wire.command(b"\x07") == bytes.fromhex("800705")
    assert not sim.running  # not applied
    assert await wire.command(b"\x07") == bytes.fromhex("800701")


async def test_console_speed_keys_and_stop(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await running(wire, 2.0)
    await sim.inject("console-speed-up:by=0.5kmh")
    await wire.wait(lambda w: bytes.fromhex("05fa00") in w.values("2ADA"))  # 2.50 km/h
    await sim.wait_for(lambda s: s.belt_speed_kmh >= 2.5, 10)
    await sim.inject("console-speed-down:by=1kmh")
    await wire.wait(lambda w: bytes.fromhex("059600") in w.values("2ADA"))  # 1.50 km/h
    await sim.inject("console-stop")
    await wire.wait(lambda w: bytes.fromhex("0201") in w.values("2ADA"))
    await sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, 10)


async def test_safety_key_pulled(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await running(wire)
    await sim.inject("safety-key")
    await wire.wait(lambda w: b"\x03" in w.values("2ADA"))
    assert sim.belt_speed_kmh == 0.0
    assert await wire.command(b"\x07") == bytes.fromhex("800704")
    sim.insert_safety_key()
    assert await wire.command(b"\x07") == bytes.fromhex("800701")


async def test_take_control_sends_ff_and_revokes(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await wire.command(b"\x00")
    await sim.inject("take-control")
    await wire.wait(lambda w: b"\xff" in w.values("2ADA"))
    assert sim.controller == "console"
    assert await wire.command(b"\x07") == bytes.fromhex("800705")


async def test_a_second_client_requesting_control_takes_it(
    make_sim: MakeSim, connect: Connect, radio: VirtualRadio
) -> None:
    sim = await make_sim("spec")
    first = await connect(sim)
    await first.command(b"\x00")
    async with open_adapter(radio) as other:
        device = await other.find_device_by_filter(lambda _d, ad: FTMS in ad.service_data, 5.0)
        assert device is not None
        async with other.client(device) as client:
            second = Wire(client, sim)
            await second.subscribe()
            assert await second.command(b"\x00") == bytes.fromhex("800001")
            await first.wait(lambda w: b"\xff" in w.values("2ADA"))
            assert b"\xff" not in second.values("2ADA")
            assert await first.command(b"\x07") == bytes.fromhex("800705")
            assert await second.command(b"\x07") == bytes.fromhex("800701")


async def test_reboot_drops_links_resets_and_comes_back(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim("spec")
    wire = await connect(sim)
    await running(wire)
    await sim.inject("reboot:after=2s")
    assert wire.disconnected.is_set() or not wire.client.is_connected
    assert sim.state is RunState.IDLE
    assert sim.belt_speed_kmh == 0.0
    again = await connect(sim)
    assert await again.command(b"\x07") == bytes.fromhex("800705")  # control was reset


async def test_random_fault_time_is_seeded(make_sim: MakeSim) -> None:
    spec = "drop-link@3s..6s"
    a = await make_sim("spec", faults=[spec], seed=11)
    b = await make_sim("spec", faults=[spec], seed=11, address="F0:F1:F2:F3:F4:F6")
    assert a.scheduled_faults[0].at == b.scheduled_faults[0].at
    assert 3.0 <= a.scheduled_faults[0].at <= 6.0


async def test_repeated_random_link_drops(make_sim: MakeSim, connect: Connect) -> None:
    # A slower clock here: the reconnect must finish (wall time) inside the 4-6 s gap.
    sim = await make_sim("spec", seed=3, clock=ScaledClock(5))
    wire = await connect(sim)
    first = sim.schedule(f"drop-link:every=4s..6s@{sim.elapsed + 1:.2f}s")
    await wire.wait(lambda w: w.disconnected.is_set(), within=10)
    next_drop = sim.scheduled_faults[0].at
    # the gap is drawn from 4-6 s after the drop; the drop itself may be a loop tick late
    assert 4.0 <= next_drop - first.at <= 6.5
    again = await connect(sim)
    await again.wait(lambda w: w.disconnected.is_set(), within=10)
    assert sim.elapsed >= next_drop
