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
from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.model import (
    HeartRateView,
    SessionController,
    SessionSnapshot,
    SessionState,
)
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
        Binding(both_cases("p"), "pause", "Pause"),
        Binding(both_cases("r"), "resume", "Resume"),
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
        self._states: dict[str, object] = {}

    def compose_body(self) -> Iterable[Widget]:
        """The layout; sizes come from app.tcss (fr units, so it scales with the terminal)."""
        yield Static("", id="state-line", markup=False)
        yield Static("", id="warnings", markup=False)
        yield Static("", id="summary", markup=False)
        yield Static("", id="hr-banner", markup=False)
        with Horizontal(id="big-row"):
            with Vertical(id="speed-panel", classes="panel"):
                yield Static("SPEED", id="speed-title", classes="panel-title", markup=False)
                yield BigNumber(id="speed")
                yield Static("", id="speed-target", classes="panel-target", markup=False)
            with Vertical(id="incline-panel", classes="panel"):
                yield Static("INCLINE %", classes="panel-title", markup=False)
                yield BigNumber(id="incline")
                yield Static("", id="incline-target", classes="panel-target", markup=False)
            with Vertical(id="hr-panel", classes="panel"):
                yield Static("HEART bpm", classes="panel-title", markup=False)
                yield BigNumber(id="hr")
                yield Static("", id="hr-detail", classes="panel-target", markup=False)
        yield Static("", id="times", markup=False)
        yield Static("", id="prompt", classes="prompt", markup=False)
        yield ProgressBar(total=1.0, show_eta=False, id="progress")
        yield BigNumber("", id="banner")
        yield Static("", id="cue", markup=False)
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

    def _changed(self, key: str, state: object) -> bool:
        # Classes and visibility, like the texts, are set only when what decides them changed.
        if key in self._states and self._states[key] == state:
            return False
        self._states[key] = state
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
        new_second = self._set("times", times)
        hr = s.heart_rate
        if hr is None and s.heart_rate_bpm is not None:  # a value without the governor's view
            hr = HeartRateView(bpm=s.heart_rate_bpm, live=True)
        self._draw_heart_rate(hr)
        self._set("prompt", f"▶ {s.prompt}" if s.prompt else "")
        self._coach(s)
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
        # The session is over: its summary replaces the live panels (app.tcss, ``-ended``).
        if self._set("summary", s.summary):
            self.set_class(bool(s.summary), "-ended")
        if self._set("warnings", "".join(f"⚠ {w}\n" for w in s.warnings).rstrip()):
            self.set_class(bool(s.warnings), "-warned")

    def _coach(self, s: SessionSnapshot) -> None:
        """The straddle start in block letters (WAIT on the side rails, then STEP ON once the
        belt is confirmed at the start speed) in place of the plots; the posture cue line."""
        banner = "STEP ON" if s.step_on else "WAIT" if s.straddle else ""
        ended = bool(s.summary)
        if self._changed("banner", (banner, s.step_on, ended)):
            big = self._widget("banner")
            assert isinstance(big, BigNumber)
            big.value = banner
            big.set_class(s.step_on, "-step-on")
            big.display = bool(banner) and not ended
            # Inline display wins over app.tcss: the summary (``-ended``) hides the plots too.
            self._widget("trends").display = not banner and not ended
        if self._changed("cue-shown", bool(s.cue) and not banner and not ended):
            self._widget("cue").display = bool(self._states["cue-shown"])
        self._set("cue", s.cue.upper())

    def _draw_heart_rate(self, hr: HeartRateView | None) -> None:
        """The heart-rate panel (value, zone colour, trend, source) and the lost-signal banner."""
        # The trend reads the plot's samples: it can change only with them (once a second).
        if not self._changed("hr", (hr, self.history.version)):
            return
        live = hr is not None and hr.live and hr.bpm is not None
        figure = self._widget("hr")
        assert isinstance(figure, BigNumber)
        figure.value = str(hr.bpm) if live and hr else "--"  # a reactive: repaints on a change
        zone = heart_rate_zone(hr)
        if self._changed("hr-zone", zone):
            panel = self._widget("hr-panel")
            for name in ("ok", "hold", "high", "lost", "none"):
                panel.set_class(zone == name, f"-zone-{name}")
        self._set("hr-detail", heart_rate_detail(hr, self.history.heart_rate_bpm))
        banner = heart_rate_banner(hr)
        if self._set("hr-banner", banner):
            self._widget("hr-banner").set_class(bool(banner), "-shown")

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
        if s.state is SessionState.RUNNING and s.heart_rate is not None and s.heart_rate.slowed:
            if s.heart_rate.lost or not s.heart_rate.live:
                self.notice("The ramp continues once the heart rate is back.")
            else:
                self.controller.resume()  # the slowed ramp may go on
        elif s.state is not SessionState.PAUSED:
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
        # "stopped" only when telemetry shows it; otherwise the last known speed.
        line = (
            f"!! {label}: belt stopped"
            if s.standstill
            else f"!! {label}: belt NOT confirmed stopped"
        )
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


def heart_rate_zone(hr: HeartRateView | None) -> str:
    """The panel's colour class: ``lost``, ``high`` (above the stop limit), ``hold`` (at or
    above the hold, or within 10 bpm of the stop limit), ``ok``, or ``none`` (no value)."""
    if hr is None:
        return "none"
    if hr.lost:
        return "lost"
    if hr.bpm is None or not hr.live:
        return "none"
    if hr.max_bpm is not None and hr.bpm > hr.max_bpm:
        return "high"
    near_stop = hr.max_bpm is not None and hr.bpm >= hr.max_bpm - 10
    if (hr.hold_bpm is not None and hr.bpm >= hr.hold_bpm) or near_stop:
        return "hold"
    return "ok"


def heart_rate_detail(hr: HeartRateView | None, recent: Iterable[float]) -> str:
    """Under the figure: the trend over the last samples and the source."""
    if hr is None:
        return "no heart rate"
    values = list(recent)[-10:]
    trend = ""
    if len(values) >= 2:
        change = values[-1] - values[0]
        trend = "↑ " if change >= 3 else "↓ " if change <= -3 else "→ "
    source = hr.source or "no source"
    if hr.lost:
        return f"LOST · {source}"
    return f"{trend}{source}"


def heart_rate_banner(hr: HeartRateView | None) -> str:
    """The banner over the panels while the heart rate is lost (or the ramp waits)."""
    if hr is None:
        return ""
    if hr.lost:
        # The countdowns first: an 80-column terminal cuts the end of the line.
        parts = ["HEART RATE LOST"]
        if hr.slow_in_s is not None:
            parts.append(f"minimum speed in {hr.slow_in_s:.0f} s")
        if hr.stop_in_s is not None:
            parts.append(f"STOP in {hr.stop_in_s:.0f} s")
        parts += ["no increases", hr.lost_reason]
        return " · ".join(parts)
    if hr.slowed:
        return "Belt slowed after the heart rate was lost · R continues the profile"
    return ""


def keys_line(s: SessionSnapshot) -> str:
    """The keys that do something in this state."""
    hr = s.heart_rate
    if s.state is SessionState.RUNNING and hr is not None and hr.slowed and not hr.lost:
        return "R continue the ramp · P pause · - speed · Q quit"
    if s.state is SessionState.RUNNING:
        return "P pause · +/- speed · ] [ incline · Q quit"
    if s.state is SessionState.PAUSED:
        return "R resume · Q quit" if s.standstill else "waiting for standstill · Q quit"
    return "Q quit"
