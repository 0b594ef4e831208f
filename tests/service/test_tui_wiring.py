"""The Textual app driving the real session service on the virtual treadmill (issue 6 wiring):
connect, tick the checklist, start, watch the belt follow, press space: Stop reaches the
treadmill; an exception inside the UI stops the belt through the service."""

from __future__ import annotations

import time

from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo, SessionState
from tests.service.conftest import STOP, Rig, stop_writes_after, until


def app_for(service: SessionService) -> RetroTreadmillApp:
    profile = service.profile
    assert profile is not None
    return RetroTreadmillApp(
        service,
        devices=[VIRTUAL_TREADMILL],
        units="mph",
        device=VIRTUAL_TREADMILL,
        profile=ProfileInfo.from_profile(profile, "demo"),
    )


async def test_space_on_the_session_screen_stops_the_virtual_treadmill(ui_rig: Rig) -> None:
    rig = ui_rig
    service = rig.service()
    pressed: list[float] = []

    async def tui(service: SessionService) -> None:
        app = app_for(service)
        async with app.run_test(headless=True, size=(80, 24)) as pilot:
            await until(service, lambda: service.snapshot.state is SessionState.PREFLIGHT)
            await pilot.pause(0.2)
            await pilot.press("1", "2", "3", "4", "g")
            await rig.sim.wait_for(lambda s: s.belt_speed_kmh > 1.5, timeout=60)
            assert service.snapshot.state is SessionState.RUNNING, service.snapshot.alarm
            pressed.append(time.perf_counter())
            await pilot.press("space")
            await rig.sim.wait_for(lambda s: not s.running and s.belt_speed_kmh == 0.0, timeout=30)
            await until(service, lambda: service.snapshot.state is SessionState.FINISHED)

    code = await service.serve(tui)

    assert code is ExitCode.STOPPED
    assert stop_writes_after(rig, pressed[0]), "the space key did not reach the treadmill as a Stop"
    starts = [w for w in rig.sim.writes if w.data[:1] == b"\x07"]
    assert len(starts) == 1  # started once, by the operator's G
    operator = [r for r in service.log.records if r["kind"] == "operator"]
    assert [r["action"] for r in operator][:2] == ["start", "stop"]
    assert operator[1]["by"] == "keyboard"


async def test_an_exception_in_the_ui_stops_the_belt(ui_rig: Rig) -> None:
    rig = ui_rig
    service = rig.service()

    async def tui(service: SessionService) -> None:
        app = app_for(service)
        async with app.run_test(headless=True, size=(80, 24)) as pilot:
            await until(service, lambda: service.snapshot.state is SessionState.PREFLIGHT)
            await pilot.pause(0.2)
            await pilot.press("1", "2", "3", "4", "g")
            await rig.sim.wait_for(lambda s: s.belt_speed_kmh > 1.0, timeout=60)

            def broken(_: object) -> None:
                raise RuntimeError("widget exploded")

            app.call_later(broken, None)
            await rig.sim.wait_for(lambda s: not s.running and s.belt_speed_kmh == 0.0, timeout=30)

    code = await service.serve(tui)

    assert code is ExitCode.INTERNAL_ERROR
    assert rig.sim.writes[-1].data == STOP
    alarms = [r for r in service.log.records if r["kind"] == "alarm"]
    assert alarms[0]["alarm"] == "internal_error"
