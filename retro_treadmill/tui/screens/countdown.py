"""The countdown between the checklist and the first speed."""

from __future__ import annotations

import math
from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from retro_treadmill.tui.format import speed_text
from retro_treadmill.tui.model import SessionSnapshot
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.tui.widgets.bignumber import BigNumber


class CountdownScreen(RetroScreen):
    """Big seconds left, what happens at zero, and the walker's prompt."""

    def compose_body(self) -> Iterable[Widget]:
        """Title, the big count, the prompt."""
        yield Static("", id="countdown-title", classes="title", markup=False)
        yield BigNumber(id="countdown")
        yield Static("", id="countdown-prompt", classes="prompt", markup=False)
        yield Static("STOP cancels the start.", classes="keys")

    def draw(self, snapshot: SessionSnapshot) -> None:
        """Seconds left (rounded up) and the start speed."""
        seconds = snapshot.countdown_s
        self.query_one(BigNumber).value = "--" if seconds is None else str(math.ceil(seconds))
        target = snapshot.start_speed_kmh
        starts = f" at {speed_text(target, snapshot.units)}" if target else ""
        self.query_one("#countdown-title", Static).update(
            f"{snapshot.profile_name or 'Session'} starts{starts} in"
        )
        self.query_one("#countdown-prompt", Static).update(
            snapshot.prompt or "Walk backwards, hold the rails"
        )
