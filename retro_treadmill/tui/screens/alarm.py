"""The full-screen alarm. Nothing restarts from here: acknowledging only clears the alarm."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.model import Alarm, AlarmKind, SessionController
from retro_treadmill.tui.widgets.stopbar import StopBar

HEADLINE: dict[AlarmKind, str] = {
    AlarmKind.LINK_LOSS: "LINK TO THE TREADMILL LOST",
    AlarmKind.UNIT_MISMATCH: "UNIT MISMATCH: SPEED IN THE WRONG UNIT",
    AlarmKind.OVERSPEED: "OVERSPEED",
    AlarmKind.STOP_NOT_CONFIRMED: "PULL THE SAFETY KEY",
    AlarmKind.SAFETY_KEY: "SAFETY KEY PULLED",
    AlarmKind.CONTROL_LOST: "CONTROL OF THE TREADMILL LOST",
    AlarmKind.TELEMETRY_TIMEOUT: "NO DATA FROM THE TREADMILL",
    AlarmKind.SETPOINT_NOT_REACHED: "TREADMILL IGNORES COMMANDS",
    AlarmKind.UNEXPECTED_MOTION: "BELT MOVING UNEXPECTEDLY",
    AlarmKind.HEART_RATE: "HEART RATE LIMIT",
    AlarmKind.HEART_RATE_LOST: "HEART RATE LOST",
    AlarmKind.INTERNAL_ERROR: "INTERNAL ERROR",
}

ACTION: dict[AlarmKind, str] = {
    AlarmKind.STOP_NOT_CONFIRMED: (
        "The belt did not stop after Stop. Pull the safety key on the treadmill NOW."
    ),
    AlarmKind.SAFETY_KEY: (
        "The treadmill stopped on its safety key. Re-arm it before a new session."
    ),
    AlarmKind.CONTROL_LOST: "Someone or something else took control. The session is halted.",
    AlarmKind.LINK_LOSS: "Stop is sent first on reconnect. Nothing resumes by itself.",
}


class AlarmScreen(ModalScreen[None]):
    """Full screen: the headline, the service's message, what to do, and the STOP bar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(both_cases("a", "enter"), "acknowledge", "Acknowledge"),
        # A modal screen hides the app's own bindings; quitting (which stops) stays possible.
        Binding(both_cases("q"), "app.quit", "Quit"),
    ]

    def __init__(
        self, alarm: Alarm, controller: SessionController, bell_interval_s: float = 5.0
    ) -> None:
        super().__init__(id="alarm-screen")
        self.alarm = alarm
        self.controller = controller
        self.bell_interval_s = bell_interval_s
        self._ready = False
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        """Headline, message, action, acknowledge hint, STOP bar."""
        with Vertical(id="alarm-box"):
            yield Static("", id="alarm-headline", markup=False)
            yield Static("", id="alarm-message", markup=False)
            yield Static("", id="alarm-action", markup=False)
            yield Static("", id="alarm-keys", markup=False)
        yield StopBar()

    def on_mount(self) -> None:
        """Draw the alarm; ring again every ``bell_interval_s`` while it is up."""
        self._ready = True
        self.show(self.alarm)
        if self.bell_interval_s > 0:
            self.set_interval(self.bell_interval_s, self.app.bell)

    def show(self, alarm: Alarm) -> None:
        """Show ``alarm`` (a new one replaces the old one in place)."""
        self.alarm = alarm
        if not self._ready:
            return
        texts = {
            "alarm-headline": f"!! ALARM !!\n{HEADLINE.get(alarm.kind, alarm.kind.value.upper())}",
            "alarm-message": alarm.message,
            "alarm-action": ACTION.get(
                alarm.kind, "The belt has been stopped. Nothing resumes by itself."
            ),
            "alarm-keys": (
                "A or Enter: acknowledge · STOP: space, S, Esc · Q quit"
                if alarm.acknowledgeable
                else "STOP: space, S, Esc · acknowledge is possible once the belt has stopped"
            ),
        }
        for widget_id, text in texts.items():
            # Only a changed text is laid out again: show() runs for every snapshot while the
            # alarm is up, and a new layout repaints the whole screen.
            if self._texts.get(widget_id) != text:
                self._texts[widget_id] = text
                self.query_one(f"#{widget_id}", Static).update(text)

    def action_acknowledge(self) -> None:
        """The operator has seen it; the alarm closes when the service clears it."""
        if self.alarm.acknowledgeable:
            self.controller.acknowledge_alarm()
