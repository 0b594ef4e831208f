"""Pilot tests of the app on the real session service, FTMS client and virtual treadmill
(time-scaled): what a person at the keyboard does, and what reaches the treadmill."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from retro_treadmill.profiles import load_profile
from retro_treadmill.service import SessionService
from retro_treadmill.service.session import ExitCode
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo, SessionSnapshot, SessionState
from retro_treadmill.tui.screens import AlarmScreen, PreflightScreen, SessionScreen
from retro_treadmill.tui.widgets.bignumber import BigNumber
from retro_treadmill.units import mph_to_kmh
from tests.service.conftest import Rig, make_rig, stop_writes_after, until
from tests.stall import latency_within

TIME_SCALE = 4.0
"""Slower than the service tests' rig: the UI shares the event loop, and on a loaded machine a
few hundred milliseconds without telemetry are several session seconds at 10x (the governor's
telemetry watchdog is 3 s)."""

WALL_WAIT_S = 20.0
SIM_WAIT_S = 60.0
"""Longest wait in virtual-treadmill seconds (15 s of wall time at ``TIME_SCALE``)."""


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """The service tests' rig (virtual treadmill on a virtual radio) at ``TIME_SCALE``."""
    async with make_rig(TIME_SCALE) as made:
        yield made


def screen_of(app: RetroTreadmillApp) -> Screen[object]:
    return app.screen


async def shown(
    pilot: Pilot[None], app: RetroTreadmillApp, predicate: Callable[[SessionSnapshot], bool]
) -> None:
    """Wait (bounded, wall time) until the snapshot the app has drawn satisfies ``predicate``
    (the app draws the newest snapshot at most every ``redraw_interval_s``)."""
    try:
        async with asyncio.timeout(WALL_WAIT_S):
            while not predicate(app.snapshot):
                await pilot.pause(0.01)
    except TimeoutError:
        raise AssertionError(f"not shown in {WALL_WAIT_S} s; {describe(app)}") from None
    await pilot.pause()


def describe(app: RetroTreadmillApp) -> str:
    """What the app shows and what the service knows, for a failure message."""
    service = app.controller
    assert isinstance(service, SessionService)
    operator = [r for r in service.log.records if r["kind"] in ("operator", "state", "error")]
    notes = [str(w.content) for w in app.screen.query("#scan-status, #notice").results(Static)]
    return (
        f"screen {type(app.screen).__name__} {notes}; app shows {app.snapshot}; "
        f"service has {service.snapshot}; last operator/state records {operator[-8:]}"
    )


async def belt(rig: Rig, app: RetroTreadmillApp, predicate: Callable[[float], bool]) -> None:
    """Wait until the virtual treadmill's belt speed (km/h) satisfies ``predicate``."""
    try:
        await rig.sim.wait_for(lambda s: predicate(s.belt_speed_kmh), timeout=SIM_WAIT_S)
    except TimeoutError:
        raise AssertionError(
            f"belt at {rig.sim.belt_speed_kmh} km/h after {SIM_WAIT_S} sim s; {describe(app)}"
        ) from None


# Speeds on the virtual treadmill's 0.1 km/h grid, so that every setpoint lands on the profile.
RAMP_PROFILE = """
name = "ui-ramp"
description = "A short ramp for the UI tests."
audience = "tests"
units = "kmh"

[[segments]]
kind = "warm-up"
direction = "backward"
speed = 1.6
duration_s = 4

[[segments]]
kind = "ramp"
direction = "backward"
speed = { from = 1.6, to = 2.0 }
duration_s = 20
prompt = "Ramping up."
"""


def ramp_service(rig: Rig, folder: Path) -> SessionService:
    path = folder / "ui-ramp.toml"  # the service re-validates it by path against the device
    path.write_text(RAMP_PROFILE, encoding="utf-8")
    return rig.service(profile=load_profile(str(path)), profile_key=str(path))


def make_app(service: SessionService) -> RetroTreadmillApp:
    assert service.profile is not None
    info = ProfileInfo.from_profile(service.profile, service.profile_key)
    return RetroTreadmillApp(
        service, devices=[VIRTUAL_TREADMILL], profiles=[info], alarm_bell_interval_s=0.0
    )


async def walk(pilot: Pilot[None], app: RetroTreadmillApp) -> None:
    """Choose the virtual treadmill and the demo profile, tick the checklist, start, walk."""
    await pilot.press("enter", "enter")
    await shown(pilot, app, lambda s: s.state is SessionState.PREFLIGHT)
    assert isinstance(screen_of(app), PreflightScreen)
    await pilot.press("1", "2", "3", "4")
    async with asyncio.timeout(WALL_WAIT_S):
        # Start is refused (and offered again) until telemetry confirms the belt standing still.
        while app.snapshot.state is SessionState.PREFLIGHT:
            await pilot.press("g")
            await pilot.pause(0.1)
    await shown(
        pilot,
        app,
        lambda s: s.state is SessionState.RUNNING and (s.speed_kmh or 0.0) > mph_to_kmh(0.95),
    )
    assert isinstance(screen_of(app), SessionScreen)


async def test_space_on_the_session_screen_stops_the_virtual_belt(tmp_path: Path) -> None:
    async def space_stop() -> tuple[float, float]:
        async with make_rig(TIME_SCALE) as rig:
            service = ramp_service(rig, tmp_path)
            pressed: list[float] = []

            async def frontend(service: SessionService) -> None:
                app = make_app(service)
                async with app.run_test(size=(80, 24)) as pilot:
                    await walk(pilot, app)
                    assert app.screen.query_one("#speed", BigNumber).value == "1.0"  # 1.6 km/h
                    # the ramp to 2.0 km/h: the big digits follow the belt
                    await shown(pilot, app, lambda s: (s.speed_kmh or 0.0) >= 1.8)
                    assert float(app.screen.query_one("#speed", BigNumber).value) >= 1.1

                    pressed.append(time.perf_counter())
                    await pilot.press("space")
                    await until(
                        service, lambda: bool(stop_writes_after(rig, pressed[0])), timeout=5
                    )
                    await belt(rig, app, lambda kmh: kmh == 0.0)
                    await shown(pilot, app, lambda s: s.state is SessionState.FINISHED)
                    assert "FINISHED" in str(app.screen.query_one("#state-line", Static).content)
                    await pilot.press("q")

            code = await service.serve(frontend)
            assert code is ExitCode.STOPPED, service.error
            stops = [
                r for r in service.log.records if r["kind"] == "operator" and r["action"] == "stop"
            ]
            assert stops[0]["by"] == "keyboard"
            return pressed[0], stop_writes_after(rig, pressed[0])[0] - pressed[0]

    await latency_within(0.25, space_stop, "space -> Stop on the treadmill")


async def test_pause_then_resume_by_key_after_the_belt_stood_still(rig: Rig) -> None:
    service = rig.service()

    async def frontend(service: SessionService) -> None:
        app = make_app(service)
        async with app.run_test(size=(80, 24)) as pilot:
            await walk(pilot, app)
            await pilot.press("p")
            await belt(rig, app, lambda kmh: kmh == 0.0)
            await shown(pilot, app, lambda s: s.state is SessionState.PAUSED and s.standstill)
            assert "R to resume" in str(app.screen.query_one("#state-line", Static).content)
            await pilot.press("r")
            await belt(rig, app, lambda kmh: kmh > 1.0)
            await pilot.press("space")
            await belt(rig, app, lambda kmh: kmh == 0.0)

    code = await service.serve(frontend)
    assert code is ExitCode.STOPPED, service.error


async def test_pulling_the_safety_key_raises_the_alarm_screen(rig: Rig) -> None:
    service = rig.service()

    async def frontend(service: SessionService) -> None:
        app = make_app(service)
        async with app.run_test(size=(80, 24)) as pilot:
            await walk(pilot, app)
            await rig.sim.inject("safety-key")
            await shown(pilot, app, lambda s: s.alarm is not None)
            assert isinstance(screen_of(app), AlarmScreen)
            headline = str(app.screen.query_one("#alarm-headline", Static).content)
            assert "SAFETY KEY PULLED" in headline
            await belt(rig, app, lambda kmh: kmh == 0.0)
            await pilot.press("q")

    code = await service.serve(frontend)
    assert code is ExitCode.ALARM, service.error


@pytest.mark.parametrize(
    ("fault", "headline"),
    [
        ("console-speed-up:by=1.0mph", "OVERSPEED"),
        ("take-control", "CONTROL OF THE TREADMILL LOST"),
        ("drop-link", "LINK TO THE TREADMILL LOST"),
        ("drop-notifications:for=20s", "NO DATA FROM THE TREADMILL"),
    ],
)
async def test_a_real_fault_raises_its_alarm_screen_and_the_belt_stops(
    rig: Rig, fault: str, headline: str
) -> None:
    service = rig.service()

    async def frontend(service: SessionService) -> None:
        app = make_app(service)
        async with app.run_test(size=(80, 24)) as pilot:
            await walk(pilot, app)
            await rig.sim.inject(fault)
            await shown(pilot, app, lambda s: s.alarm is not None)
            assert isinstance(screen_of(app), AlarmScreen)
            shown_headline = str(app.screen.query_one("#alarm-headline", Static).content)
            assert headline in shown_headline
            await belt(rig, app, lambda kmh: kmh == 0.0)
            await pilot.press("q")

    code = await service.serve(frontend)
    assert code is ExitCode.ALARM, service.error
