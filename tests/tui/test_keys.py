"""Every key the screen and README name works as written: in both cases, with Shift or Caps Lock.

A terminal hands over ``S`` (not ``s``) with Shift or Caps Lock on, and a terminal speaking the
kitty keyboard protocol reports ``shift+space`` and ``shift+escape``; the README writes the letter
keys in capitals. None of that may make a stop key, or any documented key, do nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.keys import is_stop_key
from retro_treadmill.tui.model import Alarm, AlarmKind, SessionSnapshot, SessionState, StopSource
from retro_treadmill.tui.screens import (
    AlarmScreen,
    CountdownScreen,
    DeviceScreen,
    PreflightScreen,
    ProfileScreen,
    SessionScreen,
)
from tests.tui.fakes import RUNNING, SCANNED, FakeController, preflight

MakeApp = Callable[..., RetroTreadmillApp]
README = Path(__file__).resolve().parents[2] / "README.md"

STOP_KEYS_AS_TYPED = ["space", "shift+space", "s", "S", "escape", "shift+escape", "ctrl+c"]
"""space, S and Esc as a terminal reports them with and without Shift / Caps Lock; Ctrl+C."""


async def show(pilot: Pilot[None], controller: FakeController, snapshot: SessionSnapshot) -> None:
    controller.push(snapshot)
    await pilot.pause()


def both_cases(letter: str) -> list[str]:
    return [letter.lower(), letter.upper()]


@pytest.mark.parametrize(
    "where", ["devices", "profiles", "preflight", "countdown", "session", "alarm"]
)
async def test_every_stop_key_in_either_case_stops_on_every_screen(
    make_app: MakeApp, controller: FakeController, where: str
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        if where == "profiles":
            await pilot.press("enter")
        elif where == "preflight":
            await show(pilot, controller, preflight())
            await pilot.press("1")  # a focused checklist item must not eat the key
        elif where == "countdown":
            await show(pilot, controller, preflight(state=SessionState.COUNTDOWN, countdown_s=3))
        elif where == "session":
            await show(pilot, controller, RUNNING)
        elif where == "alarm":
            alarm = Alarm(AlarmKind.OVERSPEED, "2.9 mph reported, cap 1.5 mph", seq=1)
            await show(pilot, controller, replace(RUNNING, alarm=alarm))
        screen_type = {
            "devices": DeviceScreen,
            "profiles": ProfileScreen,
            "preflight": PreflightScreen,
            "countdown": CountdownScreen,
            "session": SessionScreen,
            "alarm": AlarmScreen,
        }[where]
        source = StopSource.ALARM_SCREEN if where == "alarm" else StopSource.KEYBOARD
        for count, key in enumerate(STOP_KEYS_AS_TYPED, start=1):
            await pilot.press(key)
            assert controller.stops() == [source] * count, key
            assert isinstance(app.screen, screen_type), key
        assert "STOP SENT" in str(app.screen.query_one("#stop-bar", Static).content)
        stops = len(STOP_KEYS_AS_TYPED)
        assert controller.names()[-stops:] == ["stop"] * stops


def test_the_stop_key_test_covers_what_the_stop_bar_and_readme_name() -> None:
    bar = re.search(r'STOP_KEYS_LABEL = "([^"]+)"', _source("tui/widgets/stopbar.py"))
    assert bar is not None
    named = {k.strip().lower() for k in bar.group(1).split("·")}
    assert named == {"space", "s", "esc"}
    stop_row = next(line for line in _readme_key_rows() if "**STOP**" in line)
    assert all(word in stop_row for word in ("space", "S", "Esc", "Ctrl+C"))
    for key in STOP_KEYS_AS_TYPED:
        assert is_stop_key(key), key
    for key in ("p", "P", "q", "a", "shift+a", "ctrl+s", "enter"):
        assert not is_stop_key(key), key


@pytest.mark.parametrize("key", both_cases("p"))
async def test_p_pauses_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press(key)
        assert controller.names() == ["pause"]


@pytest.mark.parametrize("key", both_cases("r"))
async def test_r_resumes_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    app = make_app()
    paused = replace(RUNNING, state=SessionState.PAUSED, standstill=True, speed_kmh=0.0)
    async with app.run_test() as pilot:
        await show(pilot, controller, paused)
        await pilot.press(key)
        assert controller.names() == ["resume"]


@pytest.mark.parametrize("key", both_cases("g"))
async def test_g_starts_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, preflight())
        await pilot.press("1", "2", "3", "4", key)
        assert controller.names() == ["start"]


@pytest.mark.parametrize("key", [*both_cases("a"), "enter"])
async def test_a_acknowledges_an_alarm_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        alarm = Alarm(AlarmKind.OVERSPEED, "2.9 mph reported", seq=1)
        await show(pilot, controller, replace(RUNNING, state=SessionState.ALARM, alarm=alarm))
        assert isinstance(app.screen, AlarmScreen)
        await pilot.press(key)
        assert controller.names() == ["acknowledge_alarm"]


@pytest.mark.parametrize("alarm", [False, True])
@pytest.mark.parametrize("key", [*both_cases("q"), "ctrl+q"])
async def test_q_quits_and_stops_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str, alarm: bool
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        snapshot = RUNNING
        if alarm:
            raised = Alarm(AlarmKind.OVERSPEED, "2.9 mph reported", seq=1)
            snapshot = replace(RUNNING, state=SessionState.ALARM, alarm=raised)
        await show(pilot, controller, snapshot)
        await pilot.press(key)
        await pilot.pause()
        assert controller.stops() == [StopSource.UI_EXIT], key  # before run_test's own exit
        assert app.leaving


@pytest.mark.parametrize("key", both_cases("b"))
async def test_b_goes_back_to_the_treadmills_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("enter")
        assert type(app.screen).__name__ == "ProfileScreen"
        await pilot.press(key)
        await pilot.pause()
        assert type(app.screen) is DeviceScreen


@pytest.mark.parametrize("key", both_cases("r"))
async def test_r_scans_again_in_either_case(
    make_app: MakeApp, controller: FakeController, key: str
) -> None:
    scans: list[int] = []

    async def scan() -> tuple[object, ...]:
        scans.append(1)
        return SCANNED

    app = make_app(scanner=scan)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        assert len(scans) == 1
        await pilot.press(key)
        await pilot.pause()
        await pilot.pause()
        assert len(scans) == 2


def _source(relative: str) -> str:
    return (Path(__file__).resolve().parents[2] / "retro_treadmill" / relative).read_text()


def _readme_key_rows() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("| key | action |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


TESTED_LETTERS = {"S", "P", "R", "G", "A", "Q", "B", "H", "Y", "N"}
"""H: tests/tui/test_history_screen.py; Y, N: tests/tui/test_screening_form.py."""


def test_every_letter_key_in_readme_and_on_screen_is_tested_in_both_cases() -> None:
    """README's key table and the screens' key hints name no letter key the tests above skip."""
    readme_letters: set[str] = set()
    for row in _readme_key_rows():
        keys = row.split("|")[1]
        readme_letters |= set(re.findall(r"(?<![\w+])([A-Z])(?![\w+])", keys))
    assert readme_letters == TESTED_LETTERS
    hints = "".join(
        _source(name)
        for name in (
            "tui/screens/select.py",
            "tui/screens/preflight.py",
            "tui/screens/session.py",
            "tui/screens/alarm.py",
        )
    )
    hinted: set[str] = set()
    for quoted in re.findall(r'"([^"\n]*·[^"\n]*)"', hints):
        hinted |= set(re.findall(r"(?<![\w+])([A-Za-z])(?=[: ]|$)", quoted))
    assert {h.upper() for h in hinted} <= TESTED_LETTERS, hinted


# -- the preflight shows the speeds the treadmill runs (issue 13, point 5) -----------------------


def _plan(refusal: str = "", runs_kmh: float = 1.5):  # type: ignore[no-untyped-def]
    from retro_treadmill.session.plan import SegmentSpeeds, SpeedPlan
    from retro_treadmill.units import mph_to_kmh

    one = mph_to_kmh(1.0)
    return SpeedPlan(
        (SegmentSpeeds("segment 1 'hold'", one, one, runs_kmh, runs_kmh),), 0.5, refusal
    )


async def test_a_speed_difference_is_one_more_item_to_tick_before_start(
    make_app: MakeApp, controller: FakeController
) -> None:
    from textual.widgets import Button, Static

    plan = _plan()
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await show(pilot, controller, preflight(speed_plan=plan))
        assert isinstance(app.screen, PreflightScreen)
        shown = str(app.screen.query_one("#speed-plan", Static).content)
        assert "prescribed       1.0 mph  runs       0.9 mph" in shown
        await pilot.press("1", "2", "3", "4", "g")
        assert controller.names() == []  # the fifth item (accept the speeds) is not ticked
        assert app.screen.query_one("#start", Button).disabled
        await pilot.press("5", "g")
        assert controller.names() == ["start"]
        assert controller.intents[0][1][-1] == plan.acceptance_item("mph")


async def test_a_profile_the_treadmill_cannot_run_keeps_start_disabled_with_the_reason(
    make_app: MakeApp, controller: FakeController
) -> None:
    from textual.widgets import Button, Static

    plan = _plan(refusal="cannot start: steps too coarse; run the shipped 'steady'")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await show(pilot, controller, preflight(speed_plan=plan))
        await pilot.press("1", "2", "3", "4", "g")
        assert controller.names() == []
        assert app.screen.query_one("#start", Button).disabled
        assert "run the shipped 'steady'" in str(
            app.screen.query_one("#preflight-status", Static).content
        )
