"""The session screen: big speed and incline, times, segment and prompt, plots, statuses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.tui import format as fmt
from retro_treadmill.tui.history import History
from retro_treadmill.tui.model import SessionController, SessionSnapshot, SessionState
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.tui.widgets.bignumber import BigNumber
from retro_treadmill.tui.widgets.trend import Trend
from retro_treadmill.units import SpeedUnit, mph_to_kmh, unit_label

INCLINE_STEP_PCT = 0.5
"""One incline key press asks for this change, percent (DESIGN: <= 0.5 % per 5 s)."""


def speed_step_kmh(units: SpeedUnit) -> float:
    """One speed key press asks for 0.1 of the display unit, in km/h."""
    return mph_to_kmh(0.1) if units == "mph" else 0.1


class SessionScreen(RetroScreen):
    """The live session. Every key is an intent to the controller; what shows is its snapshot."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("plus,equals_sign", "speed(1)", "Speed +"),
        Binding("minus,underscore", "speed(-1)", "Speed -"),
        Binding("right_square_bracket", "incline(1)", "Incline +"),
        Binding("left_square_bracket", "incline(-1)", "Incline -"),
    ]

    def __init__(
        self,
        controller: SessionController,
        history: History,
        speed_top_kmh: float = DEFAULT_LIMITS.max_speed_kmh,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.history = history
        self.speed_top_kmh = speed_top_kmh
        self._texts: dict[str, str] = {}
        self._widgets: dict[str, Widget] = {}

    def compose_body(self) -> Iterable[Widget]:
        """The layout; sizes come from app.tcss (fr units, so it scales with the terminal)."""
        yield Static("", id="state-line", markup=False)
        with Horizontal(id="big-row"):
            with Vertical(id="speed-panel", classes="panel"):
                yield Static("SPEED", id="speed-title", classes="panel-title", markup=False)
                yield BigNumber(id="speed")
                yield Static("", id="speed-target", classes="panel-target", markup=False)
            with Vertical(id="incline-panel", classes="panel"):
                yield Static("INCLINE %", classes="panel-title", markup=False)
                yield BigNumber(id="incline")
                yield Static("", id="incline-target", classes="panel-target", markup=False)
        yield Static("", id="times", markup=False)
        yield Static("", id="prompt", classes="prompt", markup=False)
        yield ProgressBar(total=1.0, show_eta=False, id="progress")
        with Vertical(id="trends"):
            yield Trend("Speed", 0.0, self.speed_top_kmh, id="trend-speed")
            yield Trend("Incline", 0.0, 5.0, id="trend-incline")
            yield Trend("Heart", 40.0, 140.0, id="trend-hr")
        yield Static("", id="notice", markup=False)
        yield Static("", id="keys", classes="keys", markup=False)

    def _set(self, widget_id: str, text: str) -> bool:
        # Redraw a line only when its text changed: at 10 Hz most lines do not. Every line but the
        # prompt has a fixed height, so a change repaints it without a new layout of the screen.
        # Returns whether it changed.
        if self._texts.get(widget_id) == text:
            return False
        self._texts[widget_id] = text
        widget = self._widget(widget_id)
        assert isinstance(widget, Static)
        widget.update(text, layout=widget_id == "prompt")
        return True

    def _widget(self, widget_id: str) -> Widget:
        # Looked up once: draw() runs for every snapshot (10 Hz), a DOM query each time is waste.
        widget = self._widgets.get(widget_id)
        if widget is None:
            widget = self._widgets[widget_id] = self.query_one(f"#{widget_id}")
        return widget

    def draw(self, snapshot: SessionSnapshot) -> None:
        """Update the widgets from ``snapshot``; only what changed is repainted (snapshots come at
        10 Hz, most of them change nothing a person can see)."""
        s = snapshot
        units = s.units
        self._set("state-line", state_line(s))
        self._set("speed-title", f"SPEED {unit_label(units)}")
        speed = self._widget("speed")
        incline = self._widget("incline")
        assert isinstance(speed, BigNumber)
        assert isinstance(incline, BigNumber)
        speed.value = fmt.speed_number(s.speed_kmh, units)  # a reactive: repaints on a change
        incline.value = fmt.incline_number(s.incline_pct)
        self._set("speed-target", f"target {fmt.speed_text(s.target_speed_kmh, units)}")
        self._set("incline-target", f"target {fmt.incline_number(s.target_incline_pct)} %")
        times = (
            f"Elapsed {fmt.duration(s.elapsed_s)}   Remaining {fmt.duration(s.remaining_s)}   "
            f"Distance {fmt.distance(s.distance_m, units)}"
        )
        if s.heart_rate_bpm is not None:
            times += f"   Heart rate {fmt.heart_rate(s.heart_rate_bpm)}"
        new_second = self._set("times", times)
        self._set("prompt", f"▶ {s.prompt}" if s.prompt else "")
        progress = self._widget("progress")
        assert isinstance(progress, ProgressBar)
        shown = progress_step(s.profile_progress)
        # The bar moves with the time line (once a second, in the same frame as the clock and
        # the plots), not on a frame of its own.
        if progress.progress != shown and (new_second or shown in (0.0, 1.0)):
            progress.update(progress=shown)
        h = self.history
        trends = [self._widget(f"trend-{name}") for name in ("speed", "incline", "hr")]
        for trend, text, values in zip(
            trends,
            (
                fmt.speed_text(s.speed_kmh, units),
                f"{fmt.incline_number(s.incline_pct)} %",
                fmt.heart_rate(s.heart_rate_bpm),
            ),
            (h.speed_kmh, h.incline_pct, h.heart_rate_bpm),
            strict=True,
        ):
            assert isinstance(trend, Trend)
            trend.show(text, values, h.version)  # the plot only when a sample was added (1 s)
        self._set("keys", keys_line(s))

    def notice(self, text: str, *, refusal: bool = False) -> None:
        """Show a one-line notice (a refusal, a service message, a hint)."""
        self._set("notice", text)

    def action_pause(self) -> None:
        """Pause (only while running)."""
        if self.snapshot.state is SessionState.RUNNING:
            self.controller.pause()
        else:
            self.notice("Pause works while the session is running.")

    def action_resume(self) -> None:
        """Resume: only from pause, and only when telemetry shows the belt standing still."""
        s = self.snapshot
        if s.state is not SessionState.PAUSED:
            self.notice("Nothing to resume.")
        elif not s.standstill:
            self.notice("Resume is possible once the belt has stopped.")
        else:
            self.controller.resume()

    def action_speed(self, direction: int) -> None:
        """Ask for one speed step up or down (the governor decides)."""
        if self.snapshot.state is SessionState.RUNNING:
            self.controller.adjust_speed(direction * speed_step_kmh(self.snapshot.units))
        else:
            self.notice("Speed changes work while the session is running.")

    def action_incline(self, direction: int) -> None:
        """Ask for one incline step up or down (the governor decides)."""
        if self.snapshot.state is SessionState.RUNNING:
            self.controller.adjust_incline(direction * INCLINE_STEP_PCT)
        else:
            self.notice("Incline changes work while the session is running.")


PROGRESS_STEPS = 200
"""The profile's progress is shown in steps of 0.5 %: about a half cell of the bar on a wide
terminal, finer than its percentage text. The bar repaints when it visibly moves, not at every
snapshot (10 Hz), and the same snapshot draws the same bar whatever the screen did before."""


def progress_step(progress: float) -> float:
    """``progress`` (clipped to 0..1) rounded to a :data:`PROGRESS_STEPS` step."""
    return round(min(1.0, max(0.0, progress)) * PROGRESS_STEPS) / PROGRESS_STEPS


def state_line(s: SessionSnapshot) -> str:
    """The state in words, with the segment."""
    label = fmt.STATE_LABEL[s.state]
    if s.state is SessionState.PAUSED:
        detail = "belt stopped: R to resume" if s.standstill else "belt slowing down"
        line = f"‖ {label}: {detail}"
    elif s.state is SessionState.STOPPING:
        line = f"■ {label}: waiting for the belt to stop"
    elif s.state is SessionState.FINISHED:
        line = f"■ {label}: belt stopped. Q to quit"
    elif s.state is SessionState.ALARM:
        line = f"!! {label}: belt stopped"
    else:
        line = f"● {label}"
    if s.segment_index is not None and s.segment_count:
        segment = f"Segment {s.segment_index + 1}/{s.segment_count}"
        if s.segment_name:
            segment += f" {s.segment_name}"
        if s.direction:
            segment += f" ({s.direction})"
        line += f"   {segment}"
    if s.profile_name:
        line += f"   {s.profile_name}"
    return line


def keys_line(s: SessionSnapshot) -> str:
    """The keys that do something in this state."""
    if s.state is SessionState.RUNNING:
        return "P pause · +/- speed · ] [ incline · Q quit"
    if s.state is SessionState.PAUSED:
        return "R resume · Q quit" if s.standstill else "waiting for standstill · Q quit"
    return "Q quit"
