"""The history screen: reachable from the profile screen with H, read in a worker, STOP works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable, Static

from retro_treadmill.records.recorder import Recorder
from retro_treadmill.records.totals import compute_totals
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import StopSource
from retro_treadmill.tui.screens import ProfileScreen
from retro_treadmill.tui.screens.records import HistoryScreen
from tests.records import factory
from tests.tui.fakes import FakeController

MakeApp = Callable[..., RetroTreadmillApp]


def _store(path: Path) -> None:
    now = time.time()
    recorder = Recorder(path)
    for n, (ago, walker) in enumerate(((30 * 86400, "W-old"), (2 * 86400, "W-1"), (3600, "W-2"))):
        start = now - ago
        recorder.begin(factory.info(f"{n:02x}" * 16, walker=walker, started_at=start))
        samples = factory.samples(start)
        for sample in samples:
            recorder.sample(sample)
        recorder.finish("completed", 0, compute_totals(samples))
    assert recorder.close(timeout=20)


async def _history_read(app: RetroTreadmillApp) -> None:
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    for _ in range(200):  # the worker thread reads the store; at most ~10 s
        if screen.recent is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the history was never read")


async def test_h_shows_recent_sessions_and_the_week(
    make_app: MakeApp, controller: FakeController, tmp_path: Path
) -> None:
    path = tmp_path / "sessions.db"
    _store(path)
    app = make_app(records_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ProfileScreen)
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        await _history_read(app)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        assert [table.get_row_at(i)[1] for i in range(3)] == ["W-2", "W-1", "W-old"]
        assert table.get_row_at(0)[3:] == ["1:54", "65 yd", "1.5 mph", "completed"]
        week = str(app.screen.query_one("#week", Static).content)
        # Two sessions in the last seven days, each 1:30 backward and 0:19 forward.
        assert week == "Last 7 days: 2 session(s), backward 3:00, forward 0:38, 130 yd"

        await pilot.press("space")  # STOP works here as everywhere
        assert controller.stops() == [StopSource.KEYBOARD]
        await pilot.press("b")
        assert isinstance(app.screen, ProfileScreen)


async def test_without_records_the_screen_says_so(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(records_path=tmp_path / "none" / "sessions.db")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "h")
        await _history_read(app)
        assert "No sessions recorded yet" in str(app.screen.query_one("#week", Static).content)
        assert app.screen.query_one(DataTable).row_count == 0
    assert not (tmp_path / "none").exists()
