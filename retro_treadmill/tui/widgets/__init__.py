"""Widgets of the retro-treadmill UI."""

from retro_treadmill.tui.widgets.bignumber import BigNumber, render_big
from retro_treadmill.tui.widgets.checkitem import CheckItem
from retro_treadmill.tui.widgets.plot import Plot, plot_lines
from retro_treadmill.tui.widgets.stopbar import StopBar
from retro_treadmill.tui.widgets.trend import Trend

__all__ = ["BigNumber", "CheckItem", "Plot", "StopBar", "Trend", "plot_lines", "render_big"]
