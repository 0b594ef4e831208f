"""Injected faults: no crash, an event for the caller, Stop first after reconnect, no resume."""

from __future__ import annotations

import asyncio
from typing import Any

from protocols.ftms import ControlPermissionLost
from retro_treadmill.ftms.client import EventStream, FtmsClient
from retro_treadmill.ftms.events import (
    CommandResult,
    Connected,
    ControlChanged,
    LinkLost,
    MachineStatusEvent,
    ReconnectFailed,
    Reconnecting,
    TelemetrySilence,
)
from retro_treadmill.ftms.model import BeltState, CommandKind, Outcome
from retro_treadmill.sim import VirtualTreadmill
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import drain, of_type, opcodes, speed_near, until

STOP_OP, START_OP, SPEED_OP, CONTROL_OP = 0x08, 0x07, 0x02, 0x00


async def _running(
    make_sim: MakeSim, make_client: MakeClient, personality: str, **client_options: Any
) -> tuple[VirtualTreadmill, FtmsClient, EventStream]:
    sim = await make_sim(personality)
    client = await make_client(**client_options)
    stream = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    return sim, client, stream


async def test_link_drop_mid_ramp_keeps_running_treadmill_gets_stop_first(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "keeps-running-on-disconnect")
    # Mid-ramp, and the client has seen the belt moving (so UNKNOWN below is news).
    await until(sim, lambda: client.belt_state is BeltState.MOVING and sim.belt_speed_kmh < 1.9)
    # A speed change waiting for its response when the link drops.
    await sim.inject("delay-responses:by=5s,count=1")
    pending = asyncio.create_task(client.set_target_speed(2.4))
    await until(sim, lambda: opcodes(sim)[-1] == SPEED_OP and len(sim.writes) == 4)
    before = len(sim.writes)
    await sim.drop_link()

    lost = await stream.next_of(LinkLost, timeout=5)
    assert lost.reason == "disconnected"
    assert lost.will_reconnect
    assert client.belt_state.value == "unknown"  # (.value: mypy narrows the property)
    assert client.belt_speed_kmh is None
    result = await asyncio.wait_for(pending, 5)
    assert result.outcome is Outcome.LINK_LOST

    connected = await stream.next_of(Connected, timeout=10)
    assert connected.reconnect
    # The belt kept running on the treadmill: Stop is the first write after the reconnect; the
    # spec personality wants control for it, so Request Control and Stop follow.
    await until(sim, lambda: sim.belt_speed_kmh == 0.0, 30)
    after = opcodes(sim, before)
    assert after[0] == STOP_OP
    assert after == [STOP_OP, CONTROL_OP, STOP_OP]
    assert [w.result for w in sim.writes[before:]] == [0x05, 0x01, 0x01]
    # No automatic resume: nothing but that in the next 10 s either.
    t_end = sim.elapsed + 10
    await sim.wait_for(lambda s: s.elapsed >= t_end, 12)
    assert opcodes(sim, before) == [STOP_OP, CONTROL_OP, STOP_OP]
    assert not sim.running
    assert client.belt_state is BeltState.STOPPED
    events = drain(stream)
    stop_results = [r for r in of_type(events, CommandResult) if r.command.kind is CommandKind.STOP]
    assert [r.outcome for r in stop_results] == [Outcome.SUCCESS]


async def test_link_drop_on_stops_on_disconnect_treadmill(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "stops-on-disconnect")
    await until(sim, lambda: sim.belt_speed_kmh > 1.0)
    before = len(sim.writes)
    await sim.drop_link()
    await stream.next_of(LinkLost, timeout=5)
    await stream.next_of(Connected, timeout=10)
    await until(sim, lambda: client.belt_state is BeltState.STOPPED, 30)
    # Already stopping by itself: the Stop is still first; 0x04/0x05 answers are fine.
    assert opcodes(sim, before)[0] == STOP_OP
    assert SPEED_OP not in opcodes(sim, before)
    assert START_OP not in opcodes(sim, before)


async def test_reconnect_gives_up_after_the_configured_attempts(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "spec", connect_timeout_s=0.5)
    # The treadmill power-cycles and stays silent far longer than the reconnect budget.
    outage = asyncio.create_task(sim.reboot(downtime_s=600))
    await stream.next_of(LinkLost, timeout=5)
    attempts = []
    async for event in stream:
        if isinstance(event, Reconnecting):
            attempts.append(event)
        if isinstance(event, ReconnectFailed):
            break
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert not client.connected
    late = await client.set_target_speed(1.0)
    assert late.outcome is Outcome.LINK_LOST
    outage.cancel()


async def test_lost_response_times_out_and_the_client_carries_on(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "spec")
    await sim.inject("lose-responses:count=1")
    lost = await client.set_target_speed(2.2)
    assert lost.outcome is Outcome.TIMEOUT
    assert lost.result_code is None
    assert lost.latency_s is None
    again = await client.set_target_speed(2.2)
    assert again.outcome is Outcome.SUCCESS
    assert of_type(drain(stream), CommandResult)[-2:] == [lost, again]
    assert client.connected


async def test_control_not_permitted_requests_control_and_retries(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "spec")
    before = len(sim.writes)
    await sim.inject("result:code=5,op=2,count=1")
    result = await client.set_target_speed(1.5)
    assert result.outcome is Outcome.SUCCESS
    assert opcodes(sim, before) == [SPEED_OP, CONTROL_OP, SPEED_OP]
    assert [w.result for w in sim.writes[before:]] == [0x05, 0x01, 0x01]
    # Backoff: the Request Control came at least 0.5 s (clock) after the refusal.
    refused, control = sim.writes[before], sim.writes[before + 1]
    assert control.sim_time - refused.sim_time >= 0.45
    changes = of_type(drain(stream), ControlChanged)
    assert [c.granted for c in changes] == [True, False, True]  # first grant at Start


async def test_control_permission_lost_is_reported_and_control_requested_again(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "spec")
    sim.take_control()
    status = await stream.next_of(MachineStatusEvent, timeout=5)
    while not isinstance(status.status, ControlPermissionLost):
        status = await stream.next_of(MachineStatusEvent, timeout=5)
    lost = await stream.next_of(ControlChanged, timeout=5)
    assert not lost.granted
    assert "0xFF" in lost.reason
    assert not client.has_control
    before = len(sim.writes)
    result = await client.set_target_speed(1.5)
    assert result.outcome is Outcome.SUCCESS
    assert opcodes(sim, before) == [CONTROL_OP, SPEED_OP]


async def test_delayed_notifications_report_silence_then_recover(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(make_sim, make_client, "spec", link_silence_s=6.0)
    await until(sim, lambda: speed_near(client, 2.0))
    await sim.inject("delay-notifications:by=4s,for=8s")
    silence = await stream.next_of(TelemetrySilence, timeout=5)
    assert silence.silent_for_s >= 3.0
    assert client.belt_state.value == "unknown"
    await until(sim, lambda: client.belt_state is BeltState.MOVING, 20)
    assert client.connected  # 4 s late is not a dead link (link_silence_s = 6)
    assert of_type(drain(stream), LinkLost) == []


async def test_telemetry_silence_while_moving_is_a_lost_link(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim, client, stream = await _running(
        make_sim, make_client, "keeps-running-on-disconnect", link_silence_s=6.0
    )
    await until(sim, lambda: speed_near(client, 2.0))
    before = len(sim.writes)
    await sim.inject("drop-notifications:only=2ACD,for=15s")
    lost = await stream.next_of(LinkLost, timeout=5)
    assert lost.reason == "telemetry silence"
    await stream.next_of(Connected, timeout=10)
    await until(sim, lambda: not sim.running, 20)
    assert opcodes(sim, before)[0] == STOP_OP
    assert SPEED_OP not in opcodes(sim, before)
