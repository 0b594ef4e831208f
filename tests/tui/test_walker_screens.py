"""``run --walker`` in the UI: the profile screen shows the program stage, the preflight the
walker's caps (and a snapshot of it at 80x24)."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Static

from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.screens import PreflightScreen, ProfileScreen
from retro_treadmill.tui.walker import WalkerInfo
from tests.tui.fakes import PROFILES, FakeController, preflight
from tests.tui.test_snapshots import SnapCompare, app_for

MakeApp = Callable[..., RetroTreadmillApp]
WALKER = WalkerInfo(
    "W-17",
    "max speed 1.2 mph, max heart rate 125 bpm",
    "knee-oa-6-weeks, week 2, session 1 of 3: week 1 done",
)


async def test_the_profile_screen_shows_the_stage_and_the_preflight_the_caps(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app(walker=WALKER)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ProfileScreen)
        stage = str(app.screen.query_one("#program-stage", Static).content)
        assert stage == "Walker W-17 · knee-oa-6-weeks, week 2, session 1 of 3: week 1 done"
        await pilot.press("enter")
        controller.push(preflight())
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        caps = str(app.screen.query_one("#walker-caps", Static).content)
        assert caps == "Walker W-17 · caps: max speed 1.2 mph, max heart rate 125 bpm"


async def test_without_a_walker_nothing_is_shown(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app(profile=PROFILES[1])
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        assert not app.screen.query("#walker-caps")


def test_snapshot_preflight_with_walker_caps_80x24(snap_compare: SnapCompare) -> None:
    controller = FakeController()

    async def show(pilot: Pilot[None]) -> None:
        controller.push(preflight())
        await pilot.pause()

    app = app_for(controller, profile=PROFILES[1], walker=WALKER)
    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
