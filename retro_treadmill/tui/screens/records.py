"""The history screen: recent sessions and the totals of the last seven days.

The store is read in a thread worker (SQLite is blocking IO; never on the event loop). The stop
keys and the STOP bar work here as on every screen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from retro_treadmill.records.model import SessionRow
from retro_treadmill.records.store import Store, StoreError
from retro_treadmill.tui.format import duration
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.units import SpeedUnit, format_distance, format_speed

WEEK_S = 7 * 86400.0
RECENT = 20


@dataclass(frozen=True, slots=True)
class RecentSessions:
    """What the history screen shows."""

    rows: tuple[SessionRow, ...]
    week_sessions: int
    week_backward_s: float
    week_forward_s: float
    week_distance_m: float
    message: str = ""
    """Why nothing is shown (no store yet, unreadable store), else empty."""


def load_recent(path: Path, now: float, limit: int = RECENT) -> RecentSessions:
    """Read the newest ``limit`` sessions and the last seven days' totals (blocking IO)."""
    if not path.exists():
        return RecentSessions((), 0, 0.0, 0.0, 0.0, f"No sessions recorded yet ({path}).")
    try:
        with Store.open(path, create=False, recover=False) as store:
            rows = tuple(store.list_sessions(limit=limit))
            week = store.list_sessions(since=now - WEEK_S)
    except StoreError as error:
        return RecentSessions((), 0, 0.0, 0.0, 0.0, f"Cannot read the records: {error}")
    return RecentSessions(
        rows=rows,
        week_sessions=len(week),
        week_backward_s=sum(r.totals.backward_s for r in week),
        week_forward_s=sum(r.totals.forward_s for r in week),
        week_distance_m=sum(r.totals.distance_m for r in week),
        message="" if rows else f"No sessions recorded yet ({path}).",
    )


class HistoryScreen(RetroScreen):
    """Recent sessions, newest first, and the last seven days' totals; B goes back (Escape, like
    Space and S, is STOP)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("backspace,b", "back", "Back")]

    def __init__(self, path: Path, units: SpeedUnit) -> None:
        super().__init__()
        self.path = path
        self.units: SpeedUnit = units
        self.recent: RecentSessions | None = None

    def compose_body(self) -> Iterable[Widget]:
        """Title, the week's totals, the sessions and the keys."""
        yield Static("Session history", classes="title")
        yield Static("Reading the records…", id="week", markup=False)
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("B back · `retro-treadmill history show ID` for details", classes="keys")

    def on_mount(self) -> None:
        """Read the store in a worker."""
        super().on_mount()
        table = self.query_one(DataTable)
        table.add_columns("Date", "Walker", "Profile", "Time", "Distance", "Peak", "Outcome")
        self._load()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        recent = load_recent(self.path, time.time())
        self.app.call_from_thread(self._fill, recent)

    def _fill(self, recent: RecentSessions) -> None:
        self.recent = recent
        week = self.query_one("#week", Static)
        if recent.message:
            week.update(recent.message)
        else:
            week.update(
                f"Last 7 days: {recent.week_sessions} session(s), backward "
                f"{duration(recent.week_backward_s)}, forward {duration(recent.week_forward_s)}, "
                f"{format_distance(recent.week_distance_m, self.units)}"
            )
        table = self.query_one(DataTable)
        for row in recent.rows:
            table.add_row(
                time.strftime("%Y-%m-%d %H:%M", time.localtime(row.started_at)),
                row.walker_id or "-",
                row.profile_name,
                duration(row.totals.duration_s),
                format_distance(row.totals.distance_m, self.units),
                format_speed(row.totals.peak_speed_kmh, self.units),
                row.outcome,
                key=row.session_id,
            )
        table.focus()

    def action_back(self) -> None:
        """Back to the profiles."""
        self.dismiss()


__all__ = ["HistoryScreen", "RecentSessions", "load_recent"]
