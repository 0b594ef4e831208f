"""The UI driven by the real session engine and governor (ideal belt, manual clock)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from retro_treadmill.profiles import load_profile
from retro_treadmill.safety.commands import LinkLost, Stop
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo, SessionState, StopSource
from retro_treadmill.tui.screens import (
    AlarmScreen,
    CountdownScreen,
    PreflightScreen,
    SessionScreen,
)
from retro_treadmill.tui.widgets.bignumber import BigNumber
from tests.tui.engine_double import EngineController


def screen_of(app: RetroTreadmillApp) -> Screen[object]:
    return app.screen


def speed_shown(app: RetroTreadmillApp) -> str:
    return app.screen.query_one("#speed", BigNumber).value


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.pause()


def demo_app() -> tuple[RetroTreadmillApp, EngineController]:
    profile = load_profile("demo")
    controller = EngineController(profile)
    app = RetroTreadmillApp(
        controller,
        devices=[VIRTUAL_TREADMILL],
        profiles=[ProfileInfo.from_profile(profile, "demo")],
        alarm_bell_interval_s=0.0,
        redraw_interval_s=0.0,  # the double queues every snapshot
    )
    return app, controller


async def test_a_session_from_selection_to_stop_through_the_real_engine() -> None:
    app, controller = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "enter")  # the virtual treadmill, the demo profile
        await settle(pilot)
        assert isinstance(screen_of(app), PreflightScreen)
        await pilot.press("1", "2", "3", "4", "g")
        await settle(pilot)
        assert isinstance(screen_of(app), CountdownScreen)
        assert app.screen.query_one(BigNumber).value == "5"

        controller.advance(6.0)
        await settle(pilot)
        assert isinstance(screen_of(app), SessionScreen)
        assert speed_shown(app) == "1.0"

        controller.advance(50.0)  # into the ramp from 1.0 to 1.2 mph
        await settle(pilot)
        assert speed_shown(app) == "1.1"
        assert controller.engine.status(controller.now).segment_index == 1

        await pilot.press("space")
        await settle(pilot)
        assert controller.stop_sources == [StopSource.KEYBOARD]
        assert isinstance(controller.written[-1], Stop)
        controller.advance(1.0)  # telemetry shows the belt stopped
        await settle(pilot)
        assert speed_shown(app) == "0.0"
        assert app.snapshot.state is SessionState.FINISHED
        assert "FINISHED" in str(app.screen.query_one("#state-line", Static).content)


async def test_speed_up_beyond_the_cap_is_refused_with_the_governor_reason() -> None:
    app, controller = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "enter")
        await settle(pilot)
        await pilot.press("1", "2", "3", "4", "g")
        controller.advance(6.0)
        await settle(pilot)
        for _ in range(8):  # +0.8 mph asked at once: the rate limit refuses
            await pilot.press("plus")
        await settle(pilot)
        notice = str(app.screen.query_one("#notice", Static).content)
        assert notice.startswith("✗ Refused: speed +0.1 mph: ")
        assert len(notice) > len("✗ Refused: speed +0.1 mph: ")
        assert max(c.kmh for c in controller.written if hasattr(c, "kmh")) <= 2.42


async def test_link_loss_raises_the_alarm_screen_and_nothing_resumes() -> None:
    app, controller = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "enter")
        await settle(pilot)
        await pilot.press("1", "2", "3", "4", "g")
        controller.advance(10.0)
        await settle(pilot)
        controller._event(LinkLost())
        await settle(pilot)
        assert isinstance(screen_of(app), AlarmScreen)
        assert "LINK" in str(app.screen.query_one("#alarm-headline", Static).content)
        controller.advance(5.0)
        await settle(pilot)
        assert controller.belt_kmh == 0.0
        assert isinstance(screen_of(app), AlarmScreen)
