"""``retro-treadmill monitor``: a Textual dashboard of every treadmill under an MQTT prefix.

One row per treadmill in a table with column headers: liveness (online / stale / offline from
availability, the last will and the age of the last telemetry), session state, speed, incline,
heart rate, distance (each figure with its unit), the latest alarm and the profile. Rows are sorted
by state: alarms first, then stale treadmills that should be moving, stopping, moving, waiting;
finished and offline rows last, greyed, and removable with ``x``. The highlighted row (arrows,
``j``/``k``, or a click) takes ``s`` or Enter: STOP, published on ``command/stop`` (QoS 1) with this
monitor as the sender.

The MQTT connection runs in a worker and reconnects by itself. Messages only mark that something
changed; the table is brought up to date at most 20 times a second (and twice a second so that
staleness shows even when nothing arrives). Each row is a one-line widget of its own (a slot: the
i-th row of the sort order) repainted only when its text or look changed, so 50 treadmills at
2 Hz repaint a handful of lines, not the whole table.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import ClassVar

import aiomqtt
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from retro_treadmill.telemetry.fleet import (
    Fleet,
    Liveness,
    TreadmillRow,
    by_state,
    is_done,
    needs_attention,
)
from retro_treadmill.telemetry.schema import Topics, command_payload
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.units import SpeedUnit, format_speed

_LIVENESS_TEXT = {
    Liveness.ONLINE: "ONLINE",
    Liveness.STALE: "STALE",
    Liveness.OFFLINE: "OFFLINE",
    Liveness.UNKNOWN: "?",
}

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("treadmill", "Treadmill", 12),
    ("liveness", "Link", 8),
    ("state", "State", 9),
    ("speed", "Speed", 9),
    ("incline", "Incline", 7),
    ("heart_rate", "Heart rate", 10),
    ("distance", "Distance", 8),
    ("alarm", "Alarm", 24),
    ("profile", "Profile", 12),
)
"""(key, header, width) of the table's columns; each figure carries its unit."""

FLUSH_S = 0.05
"""A message is shown at most this long after it arrived (changes are applied together)."""


def _value(value: float | int | None, fmt: str, unit: str) -> str:
    return f"-- {unit}" if value is None else f"{value:{fmt}} {unit}"


def row_cells(row: TreadmillRow, units: SpeedUnit) -> tuple[str, ...]:
    """The text of each column (:data:`COLUMNS`) for ``row``."""
    view = row.view
    liveness = _LIVENESS_TEXT[row.liveness]
    if row.liveness is Liveness.STALE and row.telemetry_age_s is not None:
        liveness += f" {row.telemetry_age_s:.0f}s"
    return (
        view.treadmill_id,
        liveness,
        (view.state or "--").upper(),
        format_speed(view.speed_kmh, units, 2),
        _value(view.incline_pct, ".1f", "%"),
        _value(view.heart_rate_bpm, "d", "bpm"),
        _value(view.distance_m, ".0f", "m"),
        view.alarm or "",
        view.profile or "",
    )


def _look(row: TreadmillRow) -> tuple[object, ...]:
    """What the styling of a row depends on."""
    return (row.liveness, is_done(row), needs_attention(row), row.view.alarm is None)


def _line(cells: list[Text]) -> Text:
    """The cells laid out in the columns' widths, one space apart."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for (_, _, width), cell in zip(COLUMNS, cells, strict=True):
        cell = cell.copy()
        cell.truncate(width, overflow="ellipsis", pad=True)
        line.append_text(cell)
        line.append(" ")
    return line


def header_line() -> Text:
    """The column headers, aligned with the rows."""
    return _line([Text(header, style="bold") for _, header, _ in COLUMNS])


class FleetRow(Widget):
    """One line of the table: the treadmill in this slot of the sort order."""

    DEFAULT_CSS = """
    FleetRow {
        height: 1;
        width: 1fr;
    }
    """

    class Clicked(Message):
        """The row was clicked (it becomes the highlighted one)."""

        def __init__(self, slot: int) -> None:
            super().__init__()
            self.slot = slot

    def __init__(self, slot: int) -> None:
        super().__init__(classes="fleet-row")
        self.slot = slot
        self.line = Text()

    def show(self, line: Text) -> None:
        """Show ``line`` (the caller only calls this when it changed)."""
        self.line = line
        self.refresh()

    def render(self) -> Text:
        return self.line

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked(self.slot))


def _styled(row: TreadmillRow, cells: tuple[str, ...]) -> list[Text]:
    """The cells as rich text: alarms red, stale yellow, finished/offline greyed."""
    base = "dim" if is_done(row) else ""
    out = [Text(cell, style=base) for cell in cells]
    if row.liveness is Liveness.ONLINE:
        out[1].stylize("green")
    elif row.liveness is Liveness.STALE:
        out[1].stylize("bold reverse yellow")
    elif row.liveness is Liveness.OFFLINE:
        out[1].stylize("bold")
    if needs_attention(row) and (row.view.alarm or row.view.state == "alarm"):
        out[2].stylize("bold red")
        out[7].stylize("bold red")
    return out


class MonitorApp(App[None]):
    """Watch every treadmill under ``settings.prefix``; STOP any of them.

    ``settings`` gives the broker, login, TLS and prefix (its ``treadmill_id`` is unused).
    ``sender`` names this monitor in the stop commands it sends (and so in the treadmill's log).
    """

    CSS_PATH = "monitor.tcss"
    TITLE = "retro-treadmill monitor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop_selected", "STOP highlighted", priority=True),
        Binding("enter", "stop_selected", "STOP", show=False, priority=True),
        Binding("x", "remove_selected", "Remove finished/offline"),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("home", "cursor(-1000000)", "First", show=False),
        Binding("end", "cursor(1000000)", "Last", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        settings: MqttSettings,
        *,
        units: SpeedUnit = "mph",
        sender: str | None = None,
        stale_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.units: SpeedUnit = units
        self.sender = sender or f"monitor@{socket.gethostname()}"
        self.fleet = Fleet(settings.prefix, stale_after_s=stale_after_s)
        self._clock = clock
        self._client: aiomqtt.Client | None = None
        self._shown: dict[str, tuple[tuple[str, ...], tuple[object, ...] | None]] = {}
        """What each row shows now (cell texts, styling), by treadmill id."""
        self._order: list[str] = []
        """Treadmill ids in the table's order (slot i shows ``_order[i]``)."""
        self._slot_of: dict[str, int] = {}
        self._slots: list[FleetRow] = []
        self._drawn: dict[int, tuple[object, ...]] = {}
        """What each slot shows: (treadmill id, cell texts, look)."""
        self._cursor = 0
        """The highlighted slot."""
        self._flush_timer: Timer | None = None
        self.stops_sent: list[str] = []
        """Treadmill ids a STOP was published to, in order."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"connecting to {self.settings.redacted_url} ...", id="mqtt-status")
        yield Static(header_line(), id="columns")
        yield Static("no treadmill seen yet", id="empty")
        yield VerticalScroll(id="fleet", can_focus=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.settings.redacted_url
        self.run_worker(self._mqtt(), name="mqtt", exclusive=True)
        self.set_interval(0.5, self.refresh_fleet)

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls:
            return None
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.cert_file is not None and s.key_file is not None:
            context.load_cert_chain(str(s.cert_file), str(s.key_file))
        return context

    async def _mqtt(self) -> None:
        s = self.settings
        status = self.query_one("#mqtt-status", Static)
        delay = s.reconnect_min_s
        while True:
            try:
                async with aiomqtt.Client(
                    s.host,
                    s.port,
                    username=s.username,
                    password=s.password,
                    tls_context=self._tls(),
                    timeout=s.connect_timeout_s,
                    keepalive=s.keepalive_s,
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                ) as client:
                    for topic in self.fleet.subscriptions:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    delay = s.reconnect_min_s
                    status.update(f"connected to {s.redacted_url}")
                    async for message in client.messages:
                        payload = message.payload
                        raw = payload if isinstance(payload, bytes) else str(payload).encode()
                        if self.fleet.ingest(message.topic.value, raw, self._clock()):
                            self._schedule_flush()
            except (aiomqtt.MqttError, ssl.SSLError, OSError) as exc:
                self._client = None
                status.update(f"MQTT {s.redacted_url}: {exc}; retrying in {delay:.1f} s")
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)

    def _schedule_flush(self) -> None:
        """Show new messages soon, together (one table update for a burst of messages)."""
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_S, self._flushed)

    def _flushed(self) -> None:
        self._flush_timer = None
        self.refresh_fleet()

    def refresh_fleet(self) -> None:
        """Bring the table up to date: rows in state order; a slot repaints only when the
        treadmill it shows, its text or its look changed."""
        rows = by_state(self.fleet.rows(self._clock()))
        selected = self.selected_treadmill()
        for empty in self.query("#empty"):
            empty.display = not rows
        box = self.query_one("#fleet", VerticalScroll)
        while len(self._slots) < len(rows):
            slot = FleetRow(len(self._slots))
            self._slots.append(slot)
            box.mount(slot)
        while len(self._slots) > len(rows):
            self._slots.pop().remove()
            self._drawn.pop(len(self._slots), None)
        order = [row.view.treadmill_id for row in rows]
        if order != self._order:
            self._order = order
            self._shown = {k: v for k, v in self._shown.items() if k in order}
            self._slot_of = {treadmill_id: i for i, treadmill_id in enumerate(order)}
            if selected in order:
                self._cursor = order.index(selected)
            self._cursor = min(self._cursor, max(0, len(order) - 1))
        for row in rows:
            self.show_row(row)
        self._mark_cursor()

    def show_row(self, row: TreadmillRow) -> None:
        """Repaint ``row``'s slot if its text, its look or the treadmill in the slot changed."""
        treadmill_id = row.view.treadmill_id
        slot = self._slot_of.get(treadmill_id)
        if slot is None or slot >= len(self._slots):
            return
        cells = row_cells(row, self.units)
        look = _look(row)
        key = (treadmill_id, cells, look)
        self._shown[treadmill_id] = (cells, look)
        if self._drawn.get(slot) == key:
            return
        self._drawn[slot] = key
        self._slots[slot].show(_line(_styled(row, cells)))

    def _mark_cursor(self) -> None:
        for index, slot in enumerate(self._slots):
            slot.set_class(index == self._cursor, "-cursor")

    def selected_treadmill(self) -> str | None:
        """The id of the highlighted row, if any."""
        if not 0 <= self._cursor < len(self._order):
            return None
        return self._order[self._cursor]

    def row_line(self, treadmill_id: str) -> Text | None:
        """The rendered line of ``treadmill_id``'s row (``None``: no such row)."""
        slot = self._slot_of.get(treadmill_id)
        return None if slot is None else self._slots[slot].line

    def row_text(self, treadmill_id: str) -> dict[str, str]:
        """What the row of ``treadmill_id`` shows, by column key (empty when there is none)."""
        cells, _ = self._shown.get(treadmill_id, ((), None))
        if not cells:
            return {}
        return {key: cells[i] for i, (key, _, _) in enumerate(COLUMNS)}

    def action_cursor(self, step: int) -> None:
        """Move the highlight ``step`` rows (up/down, k/j; Home/End jump to the ends)."""
        if not self._order:
            return
        self._cursor = max(0, min(len(self._order) - 1, self._cursor + step))
        self._mark_cursor()
        self._slots[self._cursor].scroll_visible(animate=False)

    async def action_stop_selected(self) -> None:
        """STOP the highlighted treadmill (``s``, Enter)."""
        treadmill_id = self.selected_treadmill()
        if treadmill_id is None:
            self.notify("No treadmill highlighted: nothing to stop.", severity="warning")
            return
        await self.send_stop(treadmill_id)

    def action_remove_selected(self) -> None:
        """Remove the highlighted row if its treadmill is finished or offline (``x``)."""
        treadmill_id = self.selected_treadmill()
        if treadmill_id is None:
            return
        row = next(
            (r for r in self.fleet.rows(self._clock()) if r.view.treadmill_id == treadmill_id),
            None,
        )
        if row is None or not is_done(row):
            self.notify(f"{treadmill_id} is not finished or offline: it stays.", severity="warning")
            return
        self.fleet.remove(treadmill_id)
        self.refresh_fleet()

    def on_fleet_row_clicked(self, event: FleetRow.Clicked) -> None:
        """A click highlights the row (STOP is a key: s or Enter)."""
        self._cursor = event.slot
        self._mark_cursor()

    async def send_stop(self, treadmill_id: str) -> bool:
        """Publish a STOP to ``treadmill_id``; ``False`` (and a visible error) if not connected."""
        client = self._client
        topic = Topics(f"{self.settings.prefix}/{treadmill_id}").command("stop")
        if client is None:
            self.notify(
                f"NOT CONNECTED: STOP for {treadmill_id} was NOT sent. Use the treadmill's key.",
                severity="error",
                timeout=10,
            )
            return False
        payload = command_payload("STOP pressed in the monitor", self.sender)
        try:
            await client.publish(topic, payload, qos=1)
        except aiomqtt.MqttError as exc:
            self.notify(f"STOP for {treadmill_id} failed: {exc}", severity="error", timeout=10)
            return False
        self.stops_sent.append(treadmill_id)
        liveness = next(
            (
                r.liveness
                for r in self.fleet.rows(self._clock())
                if r.view.treadmill_id == treadmill_id
            ),
            Liveness.UNKNOWN,
        )
        if liveness is Liveness.ONLINE:
            self.notify(f"STOP sent to {treadmill_id}", severity="warning")
        else:
            # The broker accepted it, but a treadmill that is offline (or silent) may never read it.
            self.notify(
                f"STOP published, but {treadmill_id} is {liveness.value.upper()}: it may not "
                "receive it. Use the treadmill's safety key.",
                severity="error",
                timeout=15,
            )
        return True

    async def on_unmount(self) -> None:
        with contextlib.suppress(Exception):
            self.workers.cancel_all()


__all__ = ["COLUMNS", "FleetRow", "MonitorApp", "header_line", "row_cells"]
