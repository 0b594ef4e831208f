"""Pilot tests of the screening form and the preflight's spotter item."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Button, Static

from retro_treadmill.screening import SPOTTER_ITEM, Screening, spotter_reason
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL
from retro_treadmill.tui.screens import PreflightScreen, ScreeningScreen
from tests.tui.fakes import PROFILES, FakeController, preflight

MakeApp = Callable[..., RetroTreadmillApp]


def text(app: RetroTreadmillApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def on_screen(app: RetroTreadmillApp) -> object:
    return app.screen


async def test_a_yes_in_the_form_makes_the_spotter_item_required_before_start(
    make_app: MakeApp, controller: FakeController
) -> None:
    kept: list[Screening] = []

    def keep(screening: Screening) -> str:
        kept.append(screening)
        return spotter_reason(screening, require_spotter=False)

    app = make_app(
        device=VIRTUAL_TREADMILL, profile=PROFILES[0], screening_needed=True, on_screening=keep
    )
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        assert isinstance(on_screen(app), ScreeningScreen)
        assert "[ ? ]" in text(app, "#question-0")
        await pilot.press("enter")  # nothing answered: nothing saved
        await pilot.pause()
        assert kept == []
        assert "4 question(s) to answer" in text(app, "#screening-outcome")
        await pilot.press("n", "Y", "n", "n")  # letters in either case (Caps Lock, Shift)
        assert "[yes]" in text(app, "#question-1")
        outcome = text(app, "#screening-outcome")
        assert "A spotter is required" in outcome
        assert "physiotherapist" in outcome
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert len(kept) == 1
        assert kept[0].answers["dizziness"] is True
        assert isinstance(on_screen(app), PreflightScreen)
        assert SPOTTER_ITEM in str(app.screen.query_one("#item-4").render())
        assert "inner-ear" in text(app, "#spotter-reason")

        await pilot.press("1", "2", "3", "4", "g")
        assert app.screen.query_one("#start", Button).disabled
        assert "start" not in controller.names()
        refusal = text(app, "#preflight-status")
        assert refusal.startswith("Start refused: tick item 5, the spotter: the screening")
        assert "inner-ear" in refusal

        await pilot.press("5", "g")
        starts = [i for i in controller.intents if i[0] == "start"]
        assert len(starts) == 1
        assert SPOTTER_ITEM in starts[0][1]


@pytest.mark.parametrize("no", ["n", "N"])
async def test_no_yes_and_no_clinic_key_means_no_spotter_item(
    make_app: MakeApp, controller: FakeController, no: str
) -> None:
    app = make_app(
        device=VIRTUAL_TREADMILL,
        profile=PROFILES[0],
        screening_needed=True,
        on_screening=lambda s: spotter_reason(s, require_spotter=False),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        await pilot.press(no, no, no, no, "enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(on_screen(app), PreflightScreen)
        assert not app.screen.query("#item-4")
        assert not app.screen.query("#spotter-reason")


async def test_the_clinic_key_requires_the_spotter_without_a_form(
    make_app: MakeApp, controller: FakeController
) -> None:
    reason = spotter_reason(None, require_spotter=True)
    app = make_app(device=VIRTUAL_TREADMILL, profile=PROFILES[0], spotter_reason=reason)
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        assert isinstance(on_screen(app), PreflightScreen)
        assert "require_spotter" in text(app, "#spotter-reason")
