"""The heart-rate panel and the lost-signal banner (issue 10), driven by snapshots as the service
sends them, plus their 80x24 snapshot."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Static

from retro_treadmill.tui.format import preflight_heart_rate
from retro_treadmill.tui.model import HeartRateView, SessionSnapshot
from retro_treadmill.tui.widgets.bignumber import BigNumber
from tests.tui.fakes import FakeController
from tests.tui.test_snapshots import SnapCompare, app_for, ramp

STRAP = HeartRateView(bpm=104, source="strap RetroSim HR", live=True, max_bpm=120, hold_bpm=110)
LOST = replace(
    STRAP,
    live=False,
    lost=True,
    lost_reason="no measurement for 5 s",
    slow_in_s=22.0,
    stop_in_s=52.0,
)


async def _session(controller: FakeController, hr: HeartRateView) -> SessionSnapshot:
    last = ramp(controller, 30)
    snapshot = replace(last, heart_rate=hr, heart_rate_bpm=hr.bpm if hr.live else None)
    controller.push(snapshot)
    return snapshot


def _text(app: object, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)  # type: ignore[attr-defined]
    return str(widget.render())


async def test_the_panel_shows_value_source_trend_and_zone() -> None:
    controller = FakeController()
    app = app_for(controller)
    async with app.run_test(size=(100, 30)) as pilot:
        current = await _session(controller, STRAP)
        await pilot.pause()
        await pilot.pause()
        panel = app.screen.query_one("#hr-panel")
        assert app.screen.query_one("#hr", BigNumber).value == "104"
        assert "strap RetroSim HR" in _text(app, "#hr-detail")
        assert "↑" in _text(app, "#hr-detail")  # the ramp's heart rate rose 80 -> 85
        assert panel.has_class("-zone-ok")
        assert not app.screen.query_one("#hr-banner").has_class("-shown")
        controller.push(replace(current, heart_rate=replace(STRAP, bpm=112)))
        await pilot.pause()
        await pilot.pause()
        assert panel.has_class("-zone-hold")  # at or above the 110 bpm hold
        controller.push(replace(current, heart_rate=replace(STRAP, bpm=125)))
        await pilot.pause()
        await pilot.pause()
        assert panel.has_class("-zone-high")


async def test_the_lost_banner_counts_down_and_r_continues_a_slowed_ramp() -> None:
    controller = FakeController()
    app = app_for(controller)
    async with app.run_test(size=(100, 30)) as pilot:
        current = await _session(controller, LOST)
        await pilot.pause()
        await pilot.pause()
        banner = app.screen.query_one("#hr-banner")
        assert banner.has_class("-shown")
        text = _text(app, "#hr-banner")
        assert text.startswith("HEART RATE LOST · minimum speed in 22 s · STOP in 52 s")
        assert "no measurement for 5 s" in text
        assert app.screen.query_one("#hr", BigNumber).value == "--"
        assert app.screen.query_one("#hr-panel").has_class("-zone-lost")
        await pilot.press("r")  # lost: nothing continues
        assert "resume" not in controller.names()
        back = replace(STRAP, slowed=True)
        controller.push(replace(current, heart_rate=back))
        await pilot.pause()
        await pilot.pause()
        assert "R continues the profile" in _text(app, "#hr-banner")
        await pilot.press("r")
        assert controller.names().count("resume") == 1
        controller.push(replace(current, heart_rate=STRAP))
        await pilot.pause()
        await pilot.pause()
        assert not banner.has_class("-shown")


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24")])
def test_session_with_the_heart_rate_lost(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def lost(pilot: object) -> None:
        await _session(controller, LOST)
        await pilot.pause()  # type: ignore[attr-defined]
        await pilot.pause()  # type: ignore[attr-defined]

    assert snap_compare(app_for(controller), terminal_size=size, run_before=lost)


def test_the_preflight_shows_the_live_value_or_why_start_waits() -> None:
    assert preflight_heart_rate(STRAP) == "Heart rate 104 bpm (strap RetroSim HR)"
    assert "Start waits for a live value" in preflight_heart_rate(LOST)
    assert preflight_heart_rate(None) == ""


async def test_the_device_screen_lets_one_pick_a_strap_then_the_treadmill() -> None:
    from retro_treadmill.tui.app import RetroTreadmillApp
    from retro_treadmill.tui.model import VIRTUAL_TREADMILL, DeviceInfo
    from retro_treadmill.tui.screens.select import DeviceScreen
    from tests.tui.fakes import PROFILES

    strap = DeviceInfo(
        name="Polar H10", address="A0:9E:1A:00:00:01", rssi_dbm=-60, kind="heart-rate"
    )
    controller = FakeController()
    app = RetroTreadmillApp(
        controller,
        devices=[VIRTUAL_TREADMILL, strap],
        profiles=PROFILES,
        alarm_bell_interval_s=0.0,
        redraw_interval_s=0.0,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")  # the strap
        await pilot.pause()
        assert controller.intents[-1] == ("choose_strap", strap)
        assert isinstance(app.screen, DeviceScreen)  # the treadmill is still to be chosen
        assert "Polar H10 chosen" in _text(app, "#scan-status")
        await pilot.press("up", "enter")  # the treadmill
        await pilot.pause()
        assert not isinstance(app.screen, DeviceScreen)
