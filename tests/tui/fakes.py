"""A test double of the session service: records intents, pushes snapshots to the UI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

from retro_treadmill.errors import DeviceError
from retro_treadmill.session.coaching import straddle_prompt
from retro_treadmill.tui.model import (
    VIRTUAL_TREADMILL,
    ControlStatus,
    DeviceInfo,
    LinkStatus,
    ProfileInfo,
    SessionSnapshot,
    SessionState,
    StopSource,
)
from retro_treadmill.units import mph_to_kmh

PROFILES: tuple[ProfileInfo, ...] = (
    ProfileInfo(
        key="first-steps",
        name="First steps",
        description="Ten minutes at 1.0 mph to learn backward walking, hands on the rails.",
        duration_s=600.0,
        speed_min_kmh=mph_to_kmh(1.0),
        speed_max_kmh=mph_to_kmh(1.0),
        incline_min_pct=0.0,
        incline_max_pct=0.0,
        audience="beginners",
    ),
    ProfileInfo(
        key="backward-hill",
        name="Backward hill",
        description="Backward walking uphill: 1.0 to 1.3 mph, incline 0 to 5 %.",
        duration_s=1200.0,
        speed_min_kmh=mph_to_kmh(1.0),
        speed_max_kmh=mph_to_kmh(1.3),
        incline_min_pct=0.0,
        incline_max_pct=5.0,
        audience="knee rehab, week 3+",
        harness=True,
    ),
)

SCANNED = (
    DeviceInfo(name="URBAN-E1L", address="C4:7F:0E:11:22:33", rssi_dbm=-58),
    DeviceInfo(name="MATRIX-T50", address="D0:11:22:33:44:55", rssi_dbm=-71),
)

RUNNING = SessionSnapshot(
    state=SessionState.RUNNING,
    time_s=190.0,
    units="mph",
    speed_kmh=mph_to_kmh(1.2),
    target_speed_kmh=mph_to_kmh(1.2),
    incline_pct=2.5,
    target_incline_pct=2.5,
    standstill=False,
    elapsed_s=192.0,
    remaining_s=408.0,
    distance_m=103.0,
    heart_rate_bpm=98,
    profile_name="First steps",
    profile_progress=0.32,
    segment_index=1,
    segment_count=4,
    segment_name="ramp",
    direction="backward",
    prompt="walk backwards, hold the rails",
    device_name="Virtual treadmill",
    link=LinkStatus.CONNECTED,
    control=ControlStatus.GRANTED,
    mqtt=None,
)


def preflight(**changes: Any) -> SessionSnapshot:
    """The snapshot right after ``prepare``."""
    base = SessionSnapshot(
        state=SessionState.PREFLIGHT,
        profile_name="First steps",
        device_name="Virtual treadmill",
        link=LinkStatus.CONNECTED,
        control=ControlStatus.GRANTED,
        prompt=straddle_prompt("backward", mph_to_kmh(1.0), "mph"),
        start_speed_kmh=mph_to_kmh(1.0),
    )
    return replace(base, **changes)


class FakeController:
    """Implements :class:`SessionController`; ``intents`` lists every call in order."""

    def __init__(self, *, prepare_error: str | None = None) -> None:
        self.intents: list[tuple[Any, ...]] = []
        self.queue: asyncio.Queue[SessionSnapshot | None] = asyncio.Queue()
        self.prepare_error = prepare_error

    def names(self) -> list[str]:
        """The intent names in order."""
        return [intent[0] for intent in self.intents]

    def stops(self) -> list[StopSource]:
        """The sources of every stop call."""
        return [intent[1] for intent in self.intents if intent[0] == "stop"]

    def push(self, snapshot: SessionSnapshot | None) -> None:
        """Publish a snapshot (``None`` ends the stream)."""
        self.queue.put_nowait(snapshot)

    def stop(self, source: StopSource) -> None:
        self.intents.append(("stop", source))

    def pause(self) -> None:
        self.intents.append(("pause",))

    def resume(self) -> None:
        self.intents.append(("resume",))

    def choose_strap(self, device: DeviceInfo) -> None:
        self.intents.append(("choose_strap", device))

    def start(self, checklist: Sequence[str]) -> None:
        self.intents.append(("start", tuple(checklist)))

    def adjust_speed(self, delta_kmh: float) -> None:
        self.intents.append(("adjust_speed", delta_kmh))

    def adjust_incline(self, delta_pct: float) -> None:
        self.intents.append(("adjust_incline", delta_pct))

    def acknowledge_alarm(self) -> None:
        self.intents.append(("acknowledge_alarm",))

    async def prepare(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        self.intents.append(("prepare", device, profile))
        if self.prepare_error is not None:
            raise DeviceError(self.prepare_error)
        self.push(preflight(device_name=device.name, profile_name=profile.name))

    async def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        while True:
            snapshot = await self.queue.get()
            if snapshot is None:
                return
            yield snapshot


__all__ = ["PROFILES", "RUNNING", "SCANNED", "VIRTUAL_TREADMILL", "FakeController", "preflight"]
