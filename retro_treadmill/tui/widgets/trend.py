"""A labelled plot of one quantity over the session."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from retro_treadmill.tui.widgets.plot import Plot


class Trend(Horizontal):
    """``label`` and the latest value on the left, a plot of the history on the right.

    The plot's baseline is ``low`` and its top at least ``high`` (both in the history's unit).
    """

    DEFAULT_CSS = """
    Trend {
        height: 1fr;
        min-height: 1;
    }
    Trend > .trend-label {
        width: 24;
        height: 100%;
        text-wrap: nowrap;
    }
    """

    PLOT_EVERY = 5
    """The plot is redrawn every this many new samples (history samples come once a second):
    a trend read from across the room, not a clock; the value beside it stays live."""

    def __init__(self, label: str, low: float, high: float, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._label = label
        self._low = low
        self._high = high
        self._text = ""
        self._version = -1

    def compose(self) -> ComposeResult:
        """The label and the plot."""
        yield Static(self._label, classes="trend-label", markup=False)
        yield Plot(self._low, self._high)

    def show(self, value_text: str, history: Iterable[float], version: int) -> None:
        """Show the latest value, and the history (oldest first) when ``version`` changed."""
        text = f"{self._label} {value_text}"
        if text != self._text:
            self._text = text
            self.query_one(".trend-label", Static).update(text, layout=False)
        if version != self._version and (
            self._version < 0 or version - self._version >= self.PLOT_EVERY
        ):
            self._version = version
            self.query_one(Plot).set_data(list(history))
