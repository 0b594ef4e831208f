"""Fixtures: the virtual treadmill on an in-process virtual radio, and FtmsClient through bumble."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from retro_treadmill.ble.adapter import Adapter, open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.clock import ScaledClock
from retro_treadmill.ftms.client import FtmsClient, ReconnectPolicy
from retro_treadmill.ftms.quirks import load_quirks_table, merge_overrides
from retro_treadmill.sim import VirtualTreadmill

TIME_SCALE = 10.0
"""Clock seconds per wall second for the sim and the client in these tests."""

MakeSim = Callable[..., Awaitable[VirtualTreadmill]]
MakeClient = Callable[..., Awaitable[FtmsClient]]


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(TIME_SCALE)


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio() as virtual_radio:
        yield virtual_radio


@pytest.fixture
async def adapter(radio: VirtualRadio) -> AsyncIterator[Adapter]:
    async with open_adapter(radio) as opened:
        yield opened


@pytest.fixture
async def make_sim(radio: VirtualRadio, clock: ScaledClock) -> AsyncIterator[MakeSim]:
    started: list[VirtualTreadmill] = []

    async def make(personality: str = "spec", **kwargs: Any) -> VirtualTreadmill:
        kwargs.setdefault("clock", clock)
        sim = VirtualTreadmill.on_radio(radio, personality=personality, **kwargs)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.close()


@pytest.fixture
async def make_client(adapter: Adapter, clock: ScaledClock) -> AsyncIterator[MakeClient]:
    clients: list[FtmsClient] = []

    async def make(target: str | None = None, **kwargs: Any) -> FtmsClient:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault(
            "reconnect", ReconnectPolicy(max_attempts=3, initial_delay_s=0.5, max_delay_s=2.0)
        )
        kwargs.setdefault("rng", random.Random(4))
        kwargs.setdefault("scan_timeout_s", 2.0)
        kwargs.setdefault("connect_timeout_s", 2.0)
        # A dead-link verdict from 0.6 s of wall-clock silence would make tests flaky on busy
        # shared cores; the tests of that verdict set it themselves.
        kwargs.setdefault("link_silence_s", 30.0)
        if "quirks" not in kwargs:
            # Likewise a 0.3 s wall-clock control-point timeout (3 s at TIME_SCALE 10): 1 s.
            kwargs.setdefault(
                "quirks_table",
                merge_overrides(load_quirks_table(), {"*": {"control_point_timeout_s": 10.0}}),
            )
        client = FtmsClient(adapter, target, **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield make
    for client in clients:
        await client.close()
