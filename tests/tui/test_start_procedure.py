"""Pilot tests of the straddle start (preflight words, WAIT, STEP ON) and the posture cue line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Static

from retro_treadmill.session.coaching import step_on_prompt, waiting_prompt
from retro_treadmill.session.plan import SegmentSpeeds, SpeedPlan
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, SessionState
from retro_treadmill.tui.screens import CountdownScreen, PreflightScreen, SessionScreen
from retro_treadmill.tui.widgets.bignumber import BigNumber
from retro_treadmill.tui.widgets.stopbar import StopBar
from retro_treadmill.units import mph_to_kmh
from tests.tui.fakes import PROFILES, RUNNING, FakeController, preflight

MakeApp = Callable[..., RetroTreadmillApp]
ONE = mph_to_kmh(1.0)


def shown(widget: Widget) -> bool:
    """Whether ``widget`` is displayed (a call, so that mypy does not narrow it across steps)."""
    return bool(widget.display)


def text(app: RetroTreadmillApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def test_the_preflight_and_the_countdown_say_where_to_stand(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app(device=VIRTUAL_TREADMILL, profile=PROFILES[0])
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        words = text(app, "#preflight-prompt")
        assert words.startswith("Stand on the side rails, feet off the belt")
        assert "Step on only when the screen says STEP ON" in words
        assert "side rails" in str(app.screen.query_one("#item-2").render())
        controller.push(preflight(state=SessionState.COUNTDOWN, countdown_s=3.0))
        await pilot.pause()
        assert isinstance(app.screen, CountdownScreen)
        assert text(app, "#countdown-title").endswith("starts at 1.0 mph in")
        assert text(app, "#countdown-prompt") == words


async def test_wait_until_the_belt_is_confirmed_then_step_on_then_the_cue_line(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    first = replace(RUNNING, speed_kmh=0.8, target_speed_kmh=ONE)
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(replace(first, straddle=True, prompt=waiting_prompt(ONE, "mph")))
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
        banner = app.screen.query_one("#banner", BigNumber)
        assert shown(banner)
        assert banner.value == "WAIT"
        assert not banner.has_class("-step-on")
        assert not shown(app.screen.query_one("#trends"))
        assert "wait for STEP ON" in text(app, "#prompt")

        step_on = replace(first, speed_kmh=ONE, step_on=True)
        controller.push(replace(step_on, prompt=step_on_prompt("backward", ONE, "mph")))
        await pilot.pause()
        assert banner.value == "STEP ON"
        assert banner.has_class("-step-on")
        assert text(app, "#prompt").startswith("▶ STEP ON: the belt moves at 1.0 mph")

        controller.push(replace(RUNNING, cue="Head up, eyes level"))
        await pilot.pause()
        assert not shown(banner)
        assert shown(app.screen.query_one("#trends"))
        cue = app.screen.query_one("#cue", Static)
        assert shown(cue)
        assert text(app, "#cue") == "HEAD UP, EYES LEVEL"

        controller.push(RUNNING)  # a forward segment: no cue
        await pilot.pause()
        assert not shown(cue)


async def test_start_and_its_refusal_stay_on_an_80x24_screen_with_every_preflight_line(
    make_app: MakeApp, controller: FakeController
) -> None:
    plan = SpeedPlan((SegmentSpeeds("segment 1 'hold'", ONE, ONE, ONE, ONE),), 0.1)
    reason = "the screening answered yes to: dizziness or an inner-ear (vestibular) condition"
    app = make_app(spotter_reason=reason)
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight(speed_plan=plan))
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        await pilot.press("1", "2", "3", "4", "g")
        await pilot.pause()
        assert "start" not in controller.names()
        status = app.screen.query_one("#preflight-status", Static)
        assert str(status.content).startswith("Start refused: tick item 5, the spotter")
        # The speed plan, five items, the spotter's reason and the straddle prompt do not fit
        # 80x24; they scroll, and Start with the answer to it stays in sight above the STOP bar.
        stop_bar = app.screen.query_one(StopBar).region
        assert stop_bar.bottom == 24
        in_sight = Region(0, 1, 80, stop_bar.y - 1)  # between the status line and the STOP bar
        for widget in (app.screen.query_one("#start", Button), status):
            assert widget.region.height > 0
            assert in_sight.contains_region(widget.region), (widget, widget.region)
