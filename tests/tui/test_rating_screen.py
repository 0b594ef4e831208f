"""The rating form after a session: keys set pain and effort, Enter saves with the session,
N skips, the stop keys still stop; a snapshot at 80x24."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from retro_treadmill.records.ratings import Rating
from retro_treadmill.records.store import Store
from retro_treadmill.records.totals import compute_totals
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import SessionState, StopSource
from retro_treadmill.tui.screens import SessionScreen
from retro_treadmill.tui.screens.rating import RatingScreen
from tests.records import factory
from tests.tui.fakes import RUNNING, FakeController
from tests.tui.test_snapshots import SnapCompare, app_for

MakeApp = Callable[..., RetroTreadmillApp]
SID = "4a7e" + "5" * 28


def _store(path: Path) -> None:
    with Store.open(path) as store, store.transaction():
        store.begin_session(factory.info(SID), writer_pid=os.getpid(), heartbeat_at=1e12)
        samples = factory.samples()
        store.add_samples(SID, samples)
        store.finish_session(
            SID, ended_at=None, outcome="completed", exit_code=0, totals=compute_totals(samples)
        )


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):  # the worker thread writes the store; at most ~10 s
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_the_rating_form_saves_with_the_session(
    make_app: MakeApp, controller: FakeController, tmp_path: Path
) -> None:
    path = tmp_path / "sessions.db"
    _store(path)
    results: list[Rating | None] = []
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = RatingScreen(SID, path=path, on_done=results.append, clock=lambda: 77.0)
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.press("3", "up", "tab", "5", "down", "down")
        text = str(screen.query_one("#effort", Static).content)
        assert text.endswith("4")
        assert "> " in text
        await pilot.press("space")  # the stop keys work here as everywhere
        assert controller.stops() == [StopSource.KEYBOARD]
        await pilot.press("enter")
        await _until(lambda: bool(results))
        assert results == [Rating(pain=4, effort=4.0, note="", rated_at=77.0)]
        status = str(screen.query_one("#rating-status", Static).content)
        assert "Saved: pain 4/10, effort 4" in status
    with Store.open(path) as store:
        assert store.load(SID).row.rating == Rating(pain=4, effort=4.0, note="", rated_at=77.0)


async def test_n_skips_and_saves_nothing(make_app: MakeApp, tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    _store(path)
    results: list[Rating | None] = []
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(RatingScreen(SID, path=path, on_done=results.append))
        await pilot.pause()
        await pilot.press("7", "n", "enter")
        assert results == [None]
    with Store.open(path) as store:
        assert store.load(SID).row.rating is None


async def test_pain_stays_on_its_scale(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = RatingScreen(SID, path=None)
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.press("t", "up", "up")
        assert screen.pain == 10
        await pilot.press("0", "down")
        assert screen.pain == 0
        await pilot.press("tab", "up", "up", "up")  # empty -> 0 -> 0.5 -> 1
        assert screen.effort == 1.0
        await pilot.press("delete", "enter")
        assert screen.saved is not None
        assert (screen.saved.pain, screen.saved.effort) == (0, None)


def test_snapshot_rating_form_80x24(snap_compare: SnapCompare) -> None:
    async def rate(pilot: Pilot[None]) -> None:
        await pilot.app.push_screen(RatingScreen(SID, path=None, clock=lambda: 1.0))
        await pilot.pause()
        await pilot.press("2", "tab", "3")

    assert snap_compare(app_for(FakeController()), terminal_size=(80, 24), run_before=rate)


async def test_the_form_follows_the_summary_of_a_walkers_session(
    make_app: MakeApp, controller: FakeController, tmp_path: Path
) -> None:
    path = tmp_path / "sessions.db"
    _store(path)
    app = make_app(rate_session=SID, records_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(replace(RUNNING, elapsed_s=60.0))
        await pilot.pause()
        assert not isinstance(app.screen, RatingScreen)
        controller.push(
            replace(RUNNING, state=SessionState.FINISHED, summary="Session complete: 1:00")
        )
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RatingScreen)
        await pilot.press("2", "tab", "3", "enter")
        await _until(lambda: form.saved is not None)
        await _until(lambda: app.screen is not form)  # closes by itself after "Saved"
        assert isinstance(app.screen, SessionScreen)
        controller.push(replace(RUNNING, state=SessionState.FINISHED, summary="again"))
        await pilot.pause()
        assert not isinstance(app.screen, RatingScreen)  # offered once
    with Store.open(path) as store:
        rating = store.load(SID).row.rating
    assert rating is not None
    assert (rating.pain, rating.effort) == (2, 3.0)


async def test_no_form_without_a_walkers_session(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(replace(RUNNING, state=SessionState.FINISHED, summary="done"))
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
