"""Things outside the FTMS client must not stop it from stopping the belt or noticing a lost link:
a broken audit sink (the ``--event-log`` file on a full disk, a recorder that raises)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bleak import BleakClient

from protocols.ftms import TreadmillData, build_treadmill_data
from retro_treadmill.errors import DeviceError
from retro_treadmill.ftms.audit import AuditRecord, AuditTrail
from retro_treadmill.ftms.client import FtmsClient
from retro_treadmill.ftms.events import Connected, LinkLost, TreadmillDataEvent
from retro_treadmill.ftms.model import Outcome
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import opcodes, until

STOP_OP = 0x08


def _full_disk(record: AuditRecord) -> None:
    raise OSError(28, "No space left on device")


async def test_a_failing_audit_sink_never_blocks_the_stop(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    client = await make_client()
    assert (await client.start()).outcome is Outcome.SUCCESS
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh > 0.5)
    client.audit.add_sink(_full_disk)
    before = len(sim.writes)
    stop = await client.stop()
    assert opcodes(sim, before) == [STOP_OP]
    assert stop.outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh == 0.0, 30)
    # The records are still kept in memory for the recorder.
    assert [r.data["command"] for r in client.audit.of_kind("command")][-1] == "stop"


async def test_a_failing_audit_sink_does_not_hide_a_lost_link(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("keeps-running-on-disconnect")
    client = await make_client()
    stream = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh > 0.5)
    client.audit.add_sink(_full_disk)
    before = len(sim.writes)
    await sim.drop_link()
    lost = await stream.next_of(LinkLost, timeout=5)
    assert lost.will_reconnect
    assert (await stream.next_of(Connected, timeout=10)).reconnect
    await until(sim, lambda: sim.belt_speed_kmh == 0.0, 30)
    assert opcodes(sim, before)[0] == STOP_OP


def test_a_failing_sink_does_not_starve_the_others() -> None:
    trail = AuditTrail()
    seen: list[str] = []
    trail.add_sink(_full_disk)
    trail.add_sink(lambda record: seen.append(record.kind))
    trail.add(1.0, "write", command="stop")
    trail.add(2.0, "response", result_code=1)
    assert seen == ["write", "response"]
    assert [r.kind for r in trail.records] == ["write", "response"]
    assert trail.sink_errors == 2


async def test_a_link_that_drops_while_being_set_up_is_not_taken_for_up(
    make_sim: MakeSim, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disconnect arrives while the reconnect is still subscribing (real links often drop
    during set-up): that attempt fails and the next one writes the Stop; the client must not
    report Connected on a dead link and wait there for ever."""
    sim = await make_sim("keeps-running-on-disconnect")
    client = await make_client()
    stream = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    assert (await client.set_target_speed(2.0)).outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh > 0.5)

    subscribe, on_disconnected = FtmsClient._subscribe, FtmsClient._on_disconnected
    link_down = asyncio.Event()
    dropped_during_setup: list[bool] = []

    def noting_the_disconnect(self: FtmsClient, generation: int) -> None:
        on_disconnected(self, generation)
        link_down.set()

    async def subscribe_then_lose_the_link(self: FtmsClient, bleak_client: BleakClient) -> None:
        await subscribe(self, bleak_client)
        if not dropped_during_setup:
            dropped_during_setup.append(True)
            link_down.clear()
            await sim.drop_link()
            await asyncio.wait_for(link_down.wait(), 5)  # bleak's callback has run

    monkeypatch.setattr(FtmsClient, "_subscribe", subscribe_then_lose_the_link)
    monkeypatch.setattr(FtmsClient, "_on_disconnected", noting_the_disconnect)
    before = len(sim.writes)
    await sim.drop_link()
    await stream.next_of(LinkLost, timeout=5)
    await until(sim, lambda: sim.belt_speed_kmh == 0.0, 30)
    assert dropped_during_setup
    assert opcodes(sim, before)[0] == STOP_OP
    assert client.connected


async def test_a_partial_split_record_does_not_survive_a_reconnect(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    """FTMS §4.18: a split record cut by a link loss is discarded; its first fragment must not be
    merged into the first record of the next connection (ftms-notes §3.2)."""
    sim = await make_sim("spec")  # sends no Remaining Time
    client = await make_client()
    stream = client.events()
    # The first fragment of a split record arrives (as bleak would deliver it), then the link
    # drops before the rest.
    fragment = build_treadmill_data(TreadmillData(more_data=True, remaining_time_s=77))
    client._on_treadmill_data(fragment)
    await sim.drop_link()
    assert (await stream.next_of(Connected, timeout=10)).reconnect
    first = await stream.next_of(TreadmillDataEvent, timeout=10)
    assert first.record.speed_kmh is not None
    assert first.record.remaining_time_s is None


async def test_a_gatt_timeout_while_setting_up_is_a_device_error(
    make_sim: MakeSim, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connect() promises DeviceError (which the CLI reports in one line), whatever fails."""
    await make_sim("spec")

    async def times_out(*_args: Any, **_kwargs: Any) -> None:
        raise TimeoutError("GATT request to F0:F1:F2:F3:F4:F5 timed out")

    monkeypatch.setattr(BleakClient, "start_notify", times_out)
    with pytest.raises(DeviceError, match="timed out"):
        await make_client()
