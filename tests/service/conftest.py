"""The session service in-process: the virtual treadmill on a virtual radio, the real FTMS client
through our bumble backend, a time-scaled clock, and a scripted front end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from retro_treadmill.ble.adapter import Adapter, open_adapter
from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.clock import ScaledClock
from retro_treadmill.profiles import load_profile
from retro_treadmill.service import SessionService
from retro_treadmill.sim import VirtualTreadmill
from retro_treadmill.sim.server import DEFAULT_ADDRESS
from retro_treadmill.telemetry.eventlog import EventLog
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo
from tests.mosquitto import mosquitto

__all__ = ["STOP", "Rig", "make_rig", "mosquitto", "rig", "stop_writes_after", "ui_rig"]

TIME_SCALE = 10.0
STOP = b"\x08\x01"
"""FTMS Stop (op 0x08, parameter 0x01) as written to the control point."""


@dataclass
class Rig:
    """A virtual treadmill and what a service needs to reach it."""

    clock: ScaledClock
    radio: VirtualRadio
    sim: VirtualTreadmill
    adapter: Adapter

    def service(self, **kwargs: object) -> SessionService:
        """A service for the demo profile on this rig (signals left alone: pytest owns them)."""
        profile = load_profile("demo")
        options: dict[str, object] = {
            "clock": self.clock,
            "target": DEFAULT_ADDRESS,
            "virtual_target": DEFAULT_ADDRESS,
            "profile": profile,
            "profile_key": "demo",
            "event_log": EventLog(clock=self.clock.now),
            "handle_signals": False,
        }
        options.update(kwargs)
        return SessionService(self.adapter, **options)  # type: ignore[arg-type]


def stop_writes_after(rig: Rig, since: float) -> list[float]:
    """When each Stop written at or after ``since`` (``time.perf_counter()``) reached the
    virtual treadmill."""
    return [w.perf_counter for w in rig.sim.writes if w.data == STOP and w.perf_counter >= since]


@contextlib.asynccontextmanager
async def make_rig(scale: float = TIME_SCALE, personality: str = "spec") -> AsyncIterator[Rig]:
    """A virtual treadmill at ``scale`` session seconds per wall second, and an adapter to it."""
    clock = ScaledClock(scale)
    async with VirtualRadio() as radio:
        sim = VirtualTreadmill.on_radio(radio, personality=personality, clock=clock)
        await sim.start()
        try:
            async with open_adapter(radio) as adapter:
                yield Rig(clock, radio, sim, adapter)
        finally:
            await sim.close()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with make_rig() as made:
        yield made


@pytest.fixture
async def ui_rig() -> AsyncIterator[Rig]:
    """x3: the UI shares the event loop, and building a screen can hold it for a few hundred
    milliseconds; at x10 that is seconds of session time, past the 3 s telemetry watchdog."""
    async with make_rig(3.0) as made:
        yield made


async def until(
    service: SessionService,
    predicate: Callable[[], bool],
    timeout: float = 20.0,  # noqa: ASYNC109 - a test helper's bound, wall seconds
) -> None:
    """Wait (wall seconds) until ``predicate()`` holds, re-checking on every snapshot."""
    async with asyncio.timeout(timeout):
        while not predicate():
            service.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await service.changed.wait()


def walking(
    then: Callable[[SessionService], Awaitable[None]],
) -> Callable[[SessionService], Awaitable[None]]:
    """A front end: connect, tick the checklist, start, wait for the belt to move, ``then``."""

    async def frontend(service: SessionService) -> None:
        profile = service.profile
        assert profile is not None
        await service.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
        # Start is refused (with a reason) until fresh telemetry shows the belt standing still,
        # as an operator would see; start again until the countdown runs.
        async with asyncio.timeout(20):
            while service.snapshot.state.value not in ("countdown", "running"):
                service.start(["deck clear", "safety key", "rails"])
                with contextlib.suppress(TimeoutError):
                    await until(
                        service,
                        lambda: service.snapshot.state.value in ("countdown", "running"),
                        timeout=1.0,
                    )
        await until(
            service,
            lambda: (
                (service.snapshot.speed_kmh or 0.0) > 1.0
                and service.snapshot.state.value == "running"
            ),
        )
        await then(service)

    return frontend
