"""Text for the screens: numbers in display units, times, statuses (words, not colour alone)."""

from __future__ import annotations

import math

from retro_treadmill.tui.model import (
    ControlStatus,
    HeartRateView,
    LinkStatus,
    MqttStatus,
    SessionState,
)
from retro_treadmill.units import SpeedUnit, from_kmh, kmh_to_mph, unit_label

DASH = "--"


def speed_number(kmh: float | None, units: SpeedUnit) -> str:
    """A speed as a bare number in ``units`` with one decimal ("1.2"), ``"--"`` when unknown."""
    if kmh is None:
        return DASH
    return f"{max(0.0, from_kmh(kmh, units)):.1f}"


def speed_text(kmh: float | None, units: SpeedUnit) -> str:
    """A speed with its unit ("1.2 mph")."""
    return f"{speed_number(kmh, units)} {unit_label(units)}"


def incline_number(pct: float | None) -> str:
    """An inclination as a bare number ("2.5"), ``"--"`` when unknown."""
    return DASH if pct is None else f"{pct:.1f}"


def duration(seconds: float | None) -> str:
    """``"M:SS"`` or ``"H:MM:SS"``; ``"--:--"`` when unknown."""
    if seconds is None or math.isnan(seconds):
        return "--:--"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def distance(metres: float | None, units: SpeedUnit) -> str:
    """Distance in miles (two decimals) for mph, metres or kilometres for km/h."""
    if metres is None:
        return DASH
    if units == "mph":
        # metres -> km, then the one km<->mile factor in retro_treadmill.units
        return f"{kmh_to_mph(metres / 1000.0):.2f} mi"
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000.0:.2f} km"


def heart_rate(bpm: int | None) -> str:
    """``"98 bpm"`` or ``"--"``."""
    return DASH if bpm is None else f"{bpm} bpm"


STATE_LABEL: dict[SessionState, str] = {
    SessionState.IDLE: "IDLE",
    SessionState.PREFLIGHT: "PREFLIGHT",
    SessionState.COUNTDOWN: "COUNTDOWN",
    SessionState.RUNNING: "RUNNING",
    SessionState.PAUSED: "PAUSED",
    SessionState.STOPPING: "STOPPING",
    SessionState.FINISHED: "FINISHED",
    SessionState.ALARM: "ALARM",
}


def link_text(link: LinkStatus) -> str:
    """Link status in words, with a mark that does not rely on colour."""
    mark = "✓" if link is LinkStatus.CONNECTED else "✗"
    return f"Link {mark} {link.value}"


def control_text(control: ControlStatus) -> str:
    """Control-point ownership in words."""
    mark = "✓" if control is ControlStatus.GRANTED else "✗"
    return f"Control {mark} {control.value}"


def mqtt_text(mqtt: MqttStatus | None) -> str:
    """MQTT publisher status in words ("MQTT off" when not configured)."""
    if mqtt is None:
        return "MQTT off"
    mark = "✓" if mqtt is MqttStatus.CONNECTED else "✗"
    return f"MQTT {mark} {mqtt.value}"


def preflight_heart_rate(hr: HeartRateView | None) -> str:
    """The preflight's heart-rate line: the live value and its source, or why a start with a
    heart-rate limit will be refused."""
    if hr is None:
        return ""
    limited = hr.max_bpm is not None or hr.hold_bpm is not None
    if hr.live and hr.bpm is not None:
        return f"Heart rate {hr.bpm} bpm ({hr.source})"
    if limited:
        return "Heart rate: none live. A heart-rate limit is set: Start waits for a live value."
    return "Heart rate: none"


__all__ = [
    "DASH",
    "STATE_LABEL",
    "control_text",
    "distance",
    "duration",
    "heart_rate",
    "incline_number",
    "link_text",
    "mqtt_text",
    "preflight_heart_rate",
    "speed_number",
    "speed_text",
]
