"""The STOP bar shown at the bottom of every screen: one click or one key stops the belt."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import Static

STOP_KEYS_LABEL = "SPACE · S · ESC"


class StopBar(Static):
    """A wide STOP target; clicking it posts :class:`StopBar.Pressed` (the app stops the belt).

    The label names the keys, so its meaning does not depend on colour.
    """

    DEFAULT_CSS = """
    StopBar {
        dock: bottom;
        height: 3;
        width: 100%;
        content-align: center middle;
        text-style: bold reverse;
        background: $error;
        color: $text;
    }
    """

    class Pressed(Message):
        """STOP was clicked."""

    def __init__(self) -> None:
        super().__init__(f"■ STOP  [{STOP_KEYS_LABEL}]", markup=False, id="stop-bar")

    def mark_sent(self) -> None:
        """Say that a stop was sent (the snapshot then shows what the belt does)."""
        self.update(f"■ STOP SENT  [{STOP_KEYS_LABEL}]")

    def on_click(self, event: events.Click) -> None:
        """A click anywhere on the bar is a stop."""
        event.stop()
        self.post_message(self.Pressed())
