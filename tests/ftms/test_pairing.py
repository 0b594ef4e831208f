"""A control point that requires encryption (FTMS §4.16: "security: Encryption"): the client pairs
when a write is refused with ATT Insufficient Encryption, then writes again; after a reconnect it
pairs before its first write, so the Stop written first is not refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bleak import BleakClient
from bumble import att

from retro_treadmill.ble.adapter import Adapter
from retro_treadmill.ftms.events import CommandResult, Connected, FtmsEvent, LinkLost
from retro_treadmill.ftms.model import CommandKind, Outcome
from retro_treadmill.sim import VirtualTreadmill
from tests.ftms.conftest import MakeClient, MakeSim
from tests.ftms.helpers import until

ATT_INSUFFICIENT_ENCRYPTION = 0x0F


def require_encryption(sim: VirtualTreadmill) -> None:
    # The sim has no personality for this; its control point characteristic is a bumble
    # Attribute whose write permission we tighten, as a treadmill following §4.16 would have it.
    sim._control_point.permissions |= att.Attribute.WRITE_REQUIRES_ENCRYPTION


async def test_client_pairs_when_the_control_point_wants_encryption(
    make_sim: MakeSim, make_client: MakeClient
) -> None:
    sim = await make_sim("spec")
    require_encryption(sim)
    client = await make_client()
    stream = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    pairing = client.audit.of_kind("pairing")
    assert [p.data["ok"] for p in pairing] == [True]
    errors = client.audit.of_kind("write-error")
    assert [e.data["att_error"] for e in errors] == [ATT_INSUFFICIENT_ENCRYPTION]
    # The refused write never reached the control point handler; the rewritten one did.
    assert [w.data.hex() for w in sim.writes] == ["00", "07"]

    assert (await client.set_target_speed(1.5)).outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh > 0.5)
    before = len(sim.writes)
    await sim.drop_link()
    await stream.next_of(LinkLost, timeout=5)
    await stream.next_of(Connected, timeout=10)
    await until(sim, lambda: not sim.running, 20)
    # Paired right after reconnecting: the first write (Stop) was not refused for encryption.
    assert len(client.audit.of_kind("pairing")) == 2
    assert len(client.audit.of_kind("write-error")) == 1
    assert sim.writes[before].opcode == 0x08


async def test_a_pairing_that_never_completes_does_not_hold_back_the_stop_after_reconnect(
    make_sim: MakeSim, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bumble's SMP has no timeout of its own: a treadmill that never answers the pairing request
    must not keep the reconnect (and its Stop first) waiting for ever."""
    sim = await make_sim("keeps-running-on-disconnect")
    require_encryption(sim)
    client = await make_client(connect_timeout_s=1.0)
    stream = client.events()
    assert (await client.start()).outcome is Outcome.SUCCESS
    assert (await client.set_target_speed(1.5)).outcome is Outcome.SUCCESS
    await until(sim, lambda: sim.belt_speed_kmh > 0.5)

    make_bleak = Adapter.client

    def with_hanging_pairing(self: Adapter, *args: Any, **kwargs: Any) -> BleakClient:
        bleak_client = make_bleak(self, *args, **kwargs)

        async def never_answers(*_args: Any, **_kwargs: Any) -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(bleak_client, "pair", never_answers)
        return bleak_client

    monkeypatch.setattr(Adapter, "client", with_hanging_pairing)
    before = len(client.audit.of_kind("write"))
    await sim.drop_link()
    await stream.next_of(LinkLost, timeout=5)
    # The pairing gives up after the connect timeout (1 s wall); the Stop is tried at once.
    seen: list[FtmsEvent] = []
    async with asyncio.timeout(10):
        async for event in stream:
            seen.append(event)
            if isinstance(event, Connected):
                break
    assert [p.data["ok"] for p in client.audit.of_kind("pairing")] == [True, False]
    assert [w.data["command"] for w in client.audit.of_kind("write")[before:]][:1] == ["stop"]
    # Unencrypted, the treadmill refuses it: the caller hears so before Connected (and escalates).
    stops = [e for e in seen if isinstance(e, CommandResult) and e.command.kind is CommandKind.STOP]
    assert [s.outcome for s in stops] == [Outcome.WRITE_FAILED]
