"""Fixtures: the virtual treadmill on a virtual radio, and a bleak client through our backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from bleak import BleakClient

from retro_treadmill.ble.adapter import Adapter, open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.clock import ScaledClock
from retro_treadmill.sim import VirtualTreadmill

TIME_SCALE = 20.0
"""Sim seconds per wall second in these tests."""


def uuid(short: str) -> str:
    """The 128-bit form of a 16-bit SIG UUID."""
    return f"0000{short.lower()}-0000-1000-8000-00805f9b34fb"


FTMS = uuid("1826")
NOTIFYING = ("2ACD", "2ADA", "2AD3", "2AD9")


@dataclass
class Received:
    """One notification or indication as the client saw it."""

    short: str
    value: bytes
    perf_counter: float
    sim_time: float


@dataclass
class Wire:
    """A connected bleak client and everything it received, by characteristic."""

    client: BleakClient
    sim: VirtualTreadmill | None
    """The in-process treadmill (sim-clock waits), or None for one in another process."""
    received: list[Received] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def values(self, short: str) -> list[bytes]:
        return [r.value for r in self.received if r.short == short]

    async def subscribe(self, *shorts: str) -> None:
        for short in shorts or NOTIFYING:

            def callback(_char: Any, data: bytearray, short: str = short) -> None:
                now = self.sim.elapsed if self.sim is not None else 0.0
                self.received.append(Received(short, bytes(data), time.perf_counter(), now))
                self.arrived.set()

            await self.client.start_notify(uuid(short), callback)

    async def write(self, data: bytes) -> None:
        await self.client.write_gatt_char(uuid("2AD9"), data, response=True)

    async def command(self, data: bytes, within: float = 60.0) -> bytes:
        """Write to 2AD9 and wait for its ``80 op ..`` response."""
        before = len(self.values("2AD9"))
        await self.write(data)
        await self.wait(lambda w: len(w.values("2AD9")) > before, within)
        return self.values("2AD9")[before]

    async def wait(self, predicate: Callable[[Wire], bool], within: float = 60.0) -> None:
        """Wait ``within`` sim seconds for ``predicate`` (wall seconds without a local sim).

        The defaults only catch a hang (60 sim s = 3 s wall at x20): a round trip through two
        bumble hosts must not fail a test because the shared cores stalled for 250 ms."""
        if self.sim is not None:
            await self.sim.wait_for(lambda _s: predicate(self), within)
            return
        async with asyncio.timeout(within):
            while not predicate(self):
                self.arrived.clear()
                await self.arrived.wait()


Connect = Callable[..., Awaitable[Wire]]


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio() as virtual_radio:
        yield virtual_radio


@pytest.fixture
async def adapter(radio: VirtualRadio) -> AsyncIterator[Adapter]:
    async with open_adapter(radio) as opened:
        yield opened


@pytest.fixture
async def make_sim(
    radio: VirtualRadio,
) -> AsyncIterator[Callable[..., Awaitable[VirtualTreadmill]]]:
    started: list[VirtualTreadmill] = []

    async def make(personality: str = "spec", **kwargs: Any) -> VirtualTreadmill:
        kwargs.setdefault("clock", ScaledClock(TIME_SCALE))
        sim = VirtualTreadmill.on_radio(radio, personality=personality, **kwargs)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.close()
    leaked = [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t is not asyncio.current_task() and "VirtualTreadmill" in repr(t)
    ]
    assert not leaked, f"tasks left running after close(): {leaked}"


@pytest.fixture
async def connect(adapter: Adapter) -> AsyncIterator[Connect]:
    clients: list[BleakClient] = []

    async def do(sim: VirtualTreadmill, subscribe: bool = True) -> Wire:
        device = await adapter.find_device_by_filter(
            lambda _d, ad: FTMS in ad.service_data, timeout=5.0
        )
        assert device is not None, "virtual treadmill not found by FTMS service data"
        wire: Wire
        client = adapter.client(device, disconnected_callback=lambda _c: wire.disconnected.set())
        wire = Wire(client, sim)
        await client.connect()
        clients.append(client)
        if subscribe:
            await wire.subscribe()
        return wire

    yield do
    for client in clients:
        if client.is_connected:
            await client.disconnect()
