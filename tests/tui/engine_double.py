"""A SessionController over the real SessionEngine with a manual clock and an ideal belt.

Not the service: no BLE, no asyncio tasks. The belt follows every command at once, so the UI can be
driven through a real session (governor decisions, rejections, alarms) deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from retro_treadmill.safety.commands import (
    Command,
    Event,
    InclineChange,
    LinkUp,
    Pause,
    Request,
    SetIncline,
    SetSpeed,
    Source,
    SpeedChange,
    Stop,
    Telemetry,
)
from retro_treadmill.session.engine import SessionEngine, SessionOutput
from retro_treadmill.session.profile import Profile
from retro_treadmill.tui.adapt import snapshot_from_status
from retro_treadmill.tui.model import (
    ControlStatus,
    DeviceInfo,
    ProfileInfo,
    Rejection,
    SessionSnapshot,
    StopSource,
)
from retro_treadmill.units import SpeedUnit, format_speed


class EngineController:
    """Implements :class:`~retro_treadmill.tui.model.SessionController` over ``SessionEngine``."""

    def __init__(self, profile: Profile, units: SpeedUnit = "mph") -> None:
        self.engine = SessionEngine(profile, units=units)
        self.units: SpeedUnit = units
        self.now = 0.0
        self.belt_kmh = 0.0
        self.incline_pct = 0.0
        self.written: list[Command] = []
        self.stop_sources: list[StopSource] = []
        self.device_name = ""
        self.queue: asyncio.Queue[SessionSnapshot] = asyncio.Queue()
        self._rejection: Rejection | None = None
        self._rejections = 0

    # -- the simulated world ---------------------------------------------------------------

    def _apply(self, out: SessionOutput, request: str = "") -> None:
        for command in out.commands:
            self.written.append(command)
            if isinstance(command, Stop | Pause):
                self.belt_kmh = 0.0
            elif isinstance(command, SetSpeed):
                self.belt_kmh = command.kmh
            elif isinstance(command, SetIncline):
                self.incline_pct = command.pct
        if out.rejection:
            self._rejections += 1
            self._rejection = Rejection(request or "request", out.rejection, self._rejections)
        self.publish()

    def _event(self, event: Event) -> None:
        self._apply(self.engine.handle(event, self.now))

    def publish(self) -> None:
        status = self.engine.status(self.now)
        self.queue.put_nowait(
            snapshot_from_status(
                status,
                units=self.units,
                device_name=self.device_name,
                control=ControlStatus.GRANTED,
                rejection=self._rejection,
            )
        )

    def advance(self, seconds: float, step: float = 0.1) -> None:
        """Let ``seconds`` of session time pass with telemetry every ``step``."""
        for _ in range(round(seconds / step)):
            self.now += step
            self._event(Telemetry(self.belt_kmh, self.incline_pct))
            self._apply(self.engine.tick(self.now))

    # -- SessionController ------------------------------------------------------------------

    def stop(self, source: StopSource) -> None:
        self.stop_sources.append(source)
        self._apply(self.engine.stop(self.now, Source.KEYBOARD))

    def pause(self) -> None:
        self._apply(self.engine.pause(self.now, Source.KEYBOARD))

    def resume(self) -> None:
        self._apply(self.engine.resume(self.now), "resume")

    def start(self, checklist: Sequence[str]) -> None:
        self._apply(self.engine.start(self.now), "start")

    def adjust_speed(self, delta_kmh: float) -> None:
        request = Request(SpeedChange(delta_kmh), Source.KEYBOARD)
        label = f"speed {'+' if delta_kmh > 0 else ''}{format_speed(delta_kmh, self.units)}"
        self._apply(self.engine.request(request, self.now), label)

    def adjust_incline(self, delta_pct: float) -> None:
        request = Request(InclineChange(delta_pct), Source.KEYBOARD)
        self._apply(self.engine.request(request, self.now), f"incline {delta_pct:+.1f} %")

    def acknowledge_alarm(self) -> None:
        self._apply(self.engine.acknowledge(self.now))

    async def prepare(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        self.device_name = device.name
        self._event(LinkUp())
        self._event(Telemetry(0.0, 0.0))
        self._apply(self.engine.prepare(self.now))

    async def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        while True:
            yield await self.queue.get()
