"""The one-line header: device, link, control point and MQTT status."""

from __future__ import annotations

from textual.widgets import Static

from retro_treadmill.tui.format import control_text, link_text, mqtt_text
from retro_treadmill.tui.model import ControlStatus, LinkStatus, SessionSnapshot


class StatusLine(Static):
    """``DEVICE │ Link ✓ connected │ Control ✓ granted │ MQTT off``.

    A problem gets the ``-bad`` class (colour) and a ✗ mark (monochrome).
    """

    DEFAULT_CSS = """
    StatusLine {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    StatusLine.-bad {
        background: $error;
        text-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__("retro-treadmill", markup=False, id="status-line")
        self._text = ""

    def show(self, snapshot: SessionSnapshot, stale_s: float | None = None) -> None:
        """Update from a snapshot (only redraws when the text changes).

        ``stale_s``: seconds since the last snapshot when the display is stale (the values shown
        may no longer be true); the line then says so first.
        """
        parts = [snapshot.device_name or "retro-treadmill"]
        if stale_s is not None:
            parts.insert(0, f"⚠ NO UPDATE FOR {stale_s:.0f} s")
        parts.append(link_text(snapshot.link))
        parts.append(control_text(snapshot.control))
        parts.append(mqtt_text(snapshot.mqtt))
        text = " │ ".join(parts)
        bad = (
            stale_s is not None
            or snapshot.link in (LinkStatus.LOST, LinkStatus.RECONNECTING)
            or snapshot.control is ControlStatus.LOST
        )
        self.set_class(bad, "-bad")
        if text != self._text:
            self._text = text
            self.update(text, layout=False)
