"""The session screen repaints only what changed (issue 15: the TUI on a Raspberry Pi).

Snapshots come at 10 Hz; most change nothing a person can see (a few milliseconds of session
time, a sliver of profile progress). Those must not repaint any widget; a new second repaints the
time line; the progress bar moves in visible steps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from textual.widget import Widget
from textual.widgets import Static

from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, Alarm, AlarmKind, SessionState
from retro_treadmill.tui.screens.alarm import AlarmScreen
from retro_treadmill.tui.screens.session import PROGRESS_STEPS, SessionScreen, progress_step
from tests.tui.fakes import PROFILES, RUNNING, FakeController


@pytest.fixture
def repaints(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts ``Widget.refresh`` calls by widget (type#id) while the test runs."""
    counts: Counter[str] = Counter()
    original = Widget.refresh

    def refresh(self: Widget, *args: object, **kwargs: object) -> Widget:
        counts[f"{type(self).__name__}#{self.id}"] += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Widget, "refresh", refresh)
    return counts


def test_progress_moves_in_visible_steps() -> None:
    assert progress_step(0.3201) == progress_step(0.3224) == 0.32
    assert progress_step(0.3226) == 0.325
    assert progress_step(-0.1) == 0.0
    assert progress_step(1.7) == 1.0
    assert PROGRESS_STEPS >= 100  # never coarser than the percentage the bar prints


async def test_snapshots_that_change_nothing_visible_repaint_nothing(
    repaints: Counter[str],
) -> None:
    controller = FakeController()
    app = RetroTreadmillApp(
        controller, devices=[VIRTUAL_TREADMILL], profiles=PROFILES, redraw_interval_s=0.0
    )
    async with app.run_test(size=(120, 36)) as pilot:
        # Two seconds of a steady heart rate: the panel already shows its trend (→), which a
        # third second of the same rate does not change.
        controller.push(replace(RUNNING, time_s=RUNNING.time_s - 1, elapsed_s=191.0))
        await pilot.pause()
        controller.push(RUNNING)
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
        assert "→" in str(app.screen.query_one("#hr-detail", Static).render())
        repaints.clear()
        # One second of 10 Hz snapshots inside the same displayed second and progress step.
        for tick in range(1, 10):
            controller.push(
                replace(
                    RUNNING,
                    time_s=RUNNING.time_s + tick / 10,
                    elapsed_s=RUNNING.elapsed_s + tick / 100,
                    profile_progress=RUNNING.profile_progress + tick / 10000,
                )
            )
            await pilot.pause()
        assert app.snapshot.elapsed_s == pytest.approx(RUNNING.elapsed_s + 0.09)
        assert sum(repaints.values()) == 0, repaints
        # The next displayed second repaints the time line, not the screen.
        controller.push(replace(RUNNING, time_s=RUNNING.time_s + 1, elapsed_s=193.0))
        await pilot.pause()
        assert repaints["Static#times"] == 1
        assert set(repaints) <= {"Static#times", "Plot#None"}, repaints


async def test_the_alarm_screen_repaints_only_when_its_text_changes(
    repaints: Counter[str],
) -> None:
    controller = FakeController()
    app = RetroTreadmillApp(
        controller, devices=[VIRTUAL_TREADMILL], profiles=PROFILES, redraw_interval_s=0.0
    )
    alarm = Alarm(AlarmKind.OVERSPEED, "Belt too fast: stopping", seq=1, acknowledgeable=False)
    alarmed = replace(RUNNING, state=SessionState.ALARM, alarm=alarm, speed_kmh=0.5)
    async with app.run_test(size=(120, 36)) as pilot:
        controller.push(alarmed)
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, AlarmScreen)
        repaints.clear()
        for tick in range(1, 6):  # the belt runs down; the alarm stays the same
            controller.push(replace(alarmed, time_s=alarmed.time_s + tick / 10))
            await pilot.pause()
        assert not [name for name in repaints if name.startswith("Static#alarm-")], repaints
        # The belt has stopped: the alarm may now be acknowledged, and the screen says so.
        controller.push(replace(alarmed, alarm=replace(alarm, acknowledgeable=True)))
        await pilot.pause()
        assert repaints["Static#alarm-keys"] == 1
        assert repaints["Static#alarm-headline"] == 0
