"""Snapshot tests of the main screens at 80x24 and 160x48 (deterministic data).

Regenerate after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

import pytest
from textual.app import App
from textual.pilot import Pilot

from retro_treadmill.session.coaching import step_on_prompt, straddle_prompt, waiting_prompt
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import (
    VIRTUAL_TREADMILL,
    Alarm,
    AlarmKind,
    MqttStatus,
    Rejection,
    SessionSnapshot,
    SessionState,
)
from retro_treadmill.units import mph_to_kmh
from tests.tui.fakes import PROFILES, RUNNING, SCANNED, FakeController, preflight


class SnapCompare(Protocol):
    def __call__(
        self,
        app: App[None],
        *,
        terminal_size: tuple[int, int],
        run_before: Callable[[Pilot[None]], Awaitable[None]] | None = None,
    ) -> bool: ...


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def ramp(controller: FakeController, seconds: int = 180) -> SessionSnapshot:
    """Push a ramp from 1.0 to 1.3 mph with incline 0 -> 2.5 % and a rising heart rate."""
    last = RUNNING
    for t in range(seconds + 1):
        fraction = t / seconds
        last = replace(
            RUNNING,
            elapsed_s=float(t),
            speed_kmh=mph_to_kmh(1.0 + 0.3 * fraction),
            target_speed_kmh=mph_to_kmh(1.0 + 0.3 * fraction),
            incline_pct=round(2.5 * fraction * 2) / 2,
            heart_rate_bpm=80 + int(25 * fraction),
            mqtt=MqttStatus.CONNECTED,
        )
        controller.push(last)
    return last


def app_for(controller: FakeController, **options: object) -> RetroTreadmillApp:
    return RetroTreadmillApp(
        controller,
        devices=[VIRTUAL_TREADMILL, *SCANNED],
        profiles=PROFILES,
        alarm_bell_interval_s=0.0,
        redraw_interval_s=0.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("size", SIZES)
def test_device_selection(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(FakeController()), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_profile_selection(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def choose_device(pilot: Pilot[None]) -> None:
        await pilot.press("enter", "down")

    assert snap_compare(app_for(FakeController()), terminal_size=size, run_before=choose_device)


@pytest.mark.parametrize("size", SIZES)
def test_preflight_checklist_half_ticked(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def tick_two(pilot: Pilot[None]) -> None:
        controller.push(preflight())
        await pilot.pause()
        await pilot.press("1", "3")

    app = app_for(controller, profile=PROFILES[1])
    assert snap_compare(app, terminal_size=size, run_before=tick_two)


@pytest.mark.parametrize("size", SIZES)
def test_countdown(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def count(pilot: Pilot[None]) -> None:
        snapshot = preflight(
            state=SessionState.COUNTDOWN,
            countdown_s=3.0,
            start_speed_kmh=mph_to_kmh(1.0),
            straddle=True,
            prompt=straddle_prompt("backward", mph_to_kmh(1.0), "mph"),
        )
        controller.push(snapshot)
        await pilot.pause()

    assert snap_compare(app_for(controller), terminal_size=size, run_before=count)


@pytest.mark.parametrize("size", SIZES)
def test_session_running(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def run(pilot: Pilot[None]) -> None:
        ramp(controller)
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app_for(controller), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("phase", ["wait", "step-on", "cue"])
def test_session_straddle_start_and_cue(
    snap_compare: SnapCompare, size: tuple[int, int], phase: str
) -> None:
    controller = FakeController()
    one = mph_to_kmh(1.0)
    first = replace(RUNNING, elapsed_s=0.0, speed_kmh=one, target_speed_kmh=one, incline_pct=0.0)
    snapshot = {
        "wait": replace(first, speed_kmh=0.8, straddle=True, prompt=waiting_prompt(one, "mph")),
        "step-on": replace(first, step_on=True, prompt=step_on_prompt("backward", one, "mph")),
        "cue": replace(first, elapsed_s=30.0, cue="Toe first, then roll onto the heel"),
    }[phase]

    async def run(pilot: Pilot[None]) -> None:
        controller.push(snapshot)
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app_for(controller), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_session_paused_with_a_refusal(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def pause(pilot: Pilot[None]) -> None:
        last = ramp(controller, 60)
        refused = Rejection("speed +0.1 mph", "1.6 mph exceeds the cap 1.5 mph", seq=1)
        controller.push(
            replace(
                last,
                state=SessionState.PAUSED,
                standstill=True,
                speed_kmh=0.0,
                last_rejection=refused,
                prompt="turn around: face the rear of the deck, then press R",
            )
        )
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app_for(controller), terminal_size=size, run_before=pause)


@pytest.mark.parametrize("size", SIZES)
def test_alarm_pull_the_safety_key(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def alarm(pilot: Pilot[None]) -> None:
        last = ramp(controller, 30)
        fault = Alarm(
            AlarmKind.STOP_NOT_CONFIRMED,
            "The belt still runs at 1.9 km/h 10 s after Stop.",
            seq=1,
            acknowledgeable=False,
        )
        controller.push(replace(last, state=SessionState.ALARM, alarm=fault))
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app_for(controller), terminal_size=size, run_before=alarm)


@pytest.mark.parametrize("size", SIZES)
def test_screening_form_half_answered(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    controller = FakeController()

    async def answer_two(pilot: Pilot[None]) -> None:
        controller.push(preflight())
        await pilot.pause()
        await pilot.press("n", "y")

    app = app_for(controller, profile=PROFILES[1], screening_needed=True)
    assert snap_compare(app, terminal_size=size, run_before=answer_two)


@pytest.mark.parametrize("size", SIZES)
def test_preflight_with_the_spotter_required(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    controller = FakeController()

    async def refused(pilot: Pilot[None]) -> None:
        controller.push(preflight())
        await pilot.pause()
        await pilot.press("1", "2", "3", "4", "g")

    reason = "the screening answered yes to: dizziness or an inner-ear (vestibular) condition"
    app = app_for(controller, profile=PROFILES[1], spotter_reason=reason)
    assert snap_compare(app, terminal_size=size, run_before=refused)
