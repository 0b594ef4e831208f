"""The rating form after a session: pain (0-10 numeric rating scale) and effort (Borg CR10).

Everything is done with keys that are not stop keys (Space, S and Escape stop the belt on every
screen, so a free-text note is left to ``history rate ID --note``): Tab or the arrows left/right
pick the row, Up/Down or +/- change the value (effort in steps of 0.5; the first press on an
empty row gives 0), a digit sets it (T sets 10), Delete clears it, Enter saves, N skips. Saving
writes to the store in a thread worker (SQLite is blocking IO), then calls ``on_done`` with the
rating; skipping calls it with ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from retro_treadmill.records.ratings import (
    EFFORT_MAX,
    PAIN_MAX,
    Rating,
    effort_text,
)
from retro_treadmill.records.store import Store, StoreError
from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.screens.base import RetroScreen

ROWS = ("pain", "effort")


def save_rating(path: Path, session_id: str, rating: Rating) -> None:
    """Save ``rating`` with the session (blocking IO: from a thread)."""
    with Store.open(path, create=False) as store:
        store.rate(store.resolve(session_id), rating)


class RatingScreen(RetroScreen):
    """Pain and effort after the session; Enter saves, N skips."""

    DEFAULT_CSS = """
    RatingScreen .rating-row { height: 1; padding: 0 2; }
    RatingScreen .rating-row.-focused { background: $boost; text-style: bold; }
    RatingScreen #rating-status { height: auto; padding: 0 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,plus,equals_sign", "change(1)", "More", show=False),
        Binding("down,minus", "change(-1)", "Less", show=False),
        Binding("tab,left,right", "next_row", "Next", show=False),
        Binding("delete,backspace", "clear", "Clear", show=False),
        Binding(both_cases("t"), "digit(10)", "10", show=False),
        *(Binding(str(d), f"digit({d})", str(d), show=False) for d in range(10)),
        Binding("enter", "save", "Save"),
        Binding(both_cases("n"), "skip", "Skip"),
    ]

    def __init__(
        self,
        session_id: str,
        *,
        path: Path | None,
        on_done: Callable[[Rating | None], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.path = path
        """The store to save in (``None``: only ``on_done`` gets the rating)."""
        self.on_done = on_done
        self.clock = clock
        self.pain: int | None = None
        self.effort: float | None = None
        self.row = 0
        self.saved: Rating | None = None
        self.finished = False

    def compose_body(self) -> Iterable[Widget]:
        """Title, the two rows, the status line and the keys."""
        yield Static("How was the session?", classes="title")
        yield Static("", id="pain", classes="rating-row", markup=False)
        yield Static("", id="effort", classes="rating-row", markup=False)
        yield Static(
            f"A note: retro-treadmill history rate {self.session_id[:8]} --note TEXT",
            id="rating-status",
            markup=False,
        )
        yield Static(
            "Up/Down or digits: value (T = 10) · Tab: next · Enter: save · N: skip",
            classes="keys",
        )

    def on_mount(self) -> None:
        """Draw the rows."""
        super().on_mount()
        self._draw_rows()

    def _draw_rows(self) -> None:
        pain = "-" if self.pain is None else f"{self.pain}"
        effort = "-" if self.effort is None else effort_text(self.effort)
        texts = {
            "pain": f"Pain now (0 none … 10 worst imaginable):  {pain}",
            "effort": f"Effort (Borg CR10: 3 moderate, 5 strong, 7 very strong):  {effort}",
        }
        for index, name in enumerate(ROWS):
            widget = self.query_one(f"#{name}", Static)
            widget.update(("> " if index == self.row else "  ") + texts[name])
            widget.set_class(index == self.row, "-focused")

    def action_next_row(self) -> None:
        """The other row."""
        self.row = (self.row + 1) % len(ROWS)
        self._draw_rows()

    def action_change(self, step: int) -> None:
        """One step up or down on the focused scale (an empty row becomes 0)."""
        if ROWS[self.row] == "pain":
            base = 0 if self.pain is None else self.pain
            self.pain = min(max(base + (step if self.pain is not None else 0), 0), PAIN_MAX)
        else:
            base_e = 0.0 if self.effort is None else self.effort
            changed = base_e + (0.5 * step if self.effort is not None else 0.0)
            self.effort = min(max(changed, 0.0), EFFORT_MAX)
        self._draw_rows()

    def action_digit(self, value: int) -> None:
        """Set the focused row to ``value``."""
        if ROWS[self.row] == "pain":
            self.pain = value
        else:
            self.effort = float(value)
        self._draw_rows()

    def action_clear(self) -> None:
        """No value on the focused row."""
        if ROWS[self.row] == "pain":
            self.pain = None
        else:
            self.effort = None
        self._draw_rows()

    def action_save(self) -> None:
        """Save (in a worker) and finish."""
        if self.finished:
            return
        rating = Rating(pain=self.pain, effort=self.effort, rated_at=self.clock())
        if rating.empty:
            self.action_skip()
            return
        self.finished = True
        self.query_one("#rating-status", Static).update("Saving…")
        if self.path is None:
            self._done(rating, "")
        else:
            self._save(self.path, rating)

    @work(thread=True, exclusive=True, group="rating", exit_on_error=False)
    def _save(self, path: Path, rating: Rating) -> None:
        try:
            save_rating(path, self.session_id, rating)
            problem = ""
        except StoreError as error:
            problem = str(error)
        self.app.call_from_thread(self._done, rating, problem)

    def _done(self, rating: Rating, problem: str) -> None:
        status = self.query_one("#rating-status", Static)
        if problem:
            # Not saved: say so and let the operator try again or skip.
            self.finished = False
            status.update(f"Not saved: {problem}")
            return
        self.saved = rating
        status.update(f"Saved: {rating.text()}")
        if self.on_done is not None:
            self.on_done(rating)

    def action_skip(self) -> None:
        """No rating."""
        if self.finished:
            return
        self.finished = True
        self.query_one("#rating-status", Static).update("Not rated.")
        if self.on_done is not None:
            self.on_done(None)


__all__ = ["RatingScreen", "save_rating"]
