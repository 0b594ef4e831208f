"""A bar plot of a history against a fixed baseline (unlike a sparkline, heights are absolute)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def plot_lines(
    values: Sequence[float], width: int, height: int, low: float, high: float
) -> list[str]:
    """``values`` (oldest first) as ``height`` rows of vertical bars, one column per value.

    When there are more values than columns, each column shows the mean of its share (the newest
    column is always the newest value's bucket). Values are clipped to ``low..high``.
    """
    if width <= 0 or height <= 0:
        return []
    columns = _buckets(values, width)
    span = high - low if high > low else 1.0
    eighths = [round(max(0.0, min(1.0, (v - low) / span)) * height * 8) for v in columns]
    lines = []
    for row in range(height):
        floor = (height - 1 - row) * 8
        line = "".join(_EIGHTHS[max(0, min(8, e - floor))] for e in eighths)
        lines.append(line.ljust(width))
    return lines


def _buckets(values: Sequence[float], width: int) -> list[float]:
    if len(values) <= width:
        return list(values)
    result = []
    n = len(values)
    for column in range(width):
        start = column * n // width
        end = (column + 1) * n // width
        chunk = values[start:end]
        result.append(sum(chunk) / len(chunk))
    return result


class Plot(Widget):
    """Bars from ``low`` up to ``max(high, largest value)``; block glyphs read in monochrome."""

    DEFAULT_CSS = """
    Plot {
        width: 1fr;
        height: 100%;
        color: $primary;
    }
    """

    def __init__(self, low: float, high: float, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.low = low
        self.high = high
        self.data: list[float] = []

    def set_data(self, values: Sequence[float]) -> None:
        """Replace the history and redraw."""
        self.data = list(values)
        self.refresh()

    def render(self) -> Text:
        """The bars for the current size."""
        size = self.content_region.size
        high = max([self.high, *self.data])
        return Text("\n".join(plot_lines(self.data, size.width, size.height, self.low, high)))
