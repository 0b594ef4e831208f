"""``retro-treadmill monitor``: a Textual dashboard of every treadmill under an MQTT prefix.

One row per treadmill in a table with column headers: liveness (online / stale / offline from
availability, the last will and the age of the last telemetry), session state, speed, incline,
heart rate, distance (each figure with its unit), the latest alarm and the profile. Rows are sorted
by state: alarms first, then stale treadmills that should be moving, stopping, moving, waiting;
finished and offline rows last, greyed, and removable with ``x``. The highlighted row (arrows,
``j``/``k``, or a click) takes ``s`` or Enter: STOP, published on ``command/stop`` (QoS 1) with this
monitor as the sender.

The MQTT connection runs in a worker and reconnects by itself. Messages only mark their treadmill
changed; the table is brought up to date at most 10 times a second, changing only the cells whose
text changed, and twice a second so that staleness shows even when nothing arrives.
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
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static

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

FLUSH_S = 0.1
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
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
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
        """Treadmill ids in the table's order."""
        self._flush_timer: Timer | None = None
        self.stops_sent: list[str] = []
        """Treadmill ids a STOP was published to, in order."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"connecting to {self.settings.redacted_url} ...", id="mqtt-status")
        yield Static("no treadmill seen yet", id="empty")
        table: DataTable[Text] = DataTable(id="fleet", cursor_type="row", zebra_stripes=False)
        for key, header, width in COLUMNS:
            table.add_column(header, key=key, width=width)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.settings.redacted_url
        self.query_one("#fleet", DataTable).focus()
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

    @property
    def table(self) -> DataTable[Text]:
        """The fleet table."""
        table: DataTable[Text] = self.query_one("#fleet", DataTable)
        return table

    def refresh_fleet(self) -> None:
        """Bring the table up to date: rows in state order (rebuilt only when the order
        changes), and within rows only the cells whose text changed."""
        rows = by_state(self.fleet.rows(self._clock()))
        order = [row.view.treadmill_id for row in rows]
        table = self.table
        for empty in self.query("#empty"):
            empty.display = not rows
        if order != self._order:
            selected = self.selected_treadmill()
            table.clear()
            self._shown.clear()
            for row in rows:
                cells = row_cells(row, self.units)
                table.add_row(*_styled(row, cells), key=row.view.treadmill_id)
                self._shown[row.view.treadmill_id] = (cells, _look(row))
            self._order = order
            if selected in order:
                table.move_cursor(row=order.index(selected), animate=False)
            for row in rows:
                self.show_row(row)
            return
        for row in rows:
            self.show_row(row)

    def show_row(self, row: TreadmillRow) -> None:
        """Update the cells of ``row`` whose text (or whose row's styling) changed."""
        treadmill_id = row.view.treadmill_id
        cells = row_cells(row, self.units)
        look = _look(row)
        before, before_look = self._shown.get(treadmill_id, ((), None))
        if cells == before and look == before_look:
            return
        styled = _styled(row, cells)
        table = self.table
        for index, (key, _, _) in enumerate(COLUMNS):
            if look != before_look or before[index] != cells[index]:
                table.update_cell(treadmill_id, key, styled[index])
        self._shown[treadmill_id] = (cells, look)

    def selected_treadmill(self) -> str | None:
        """The id of the highlighted row, if any."""
        table = self.table
        if not self._order or not 0 <= table.cursor_row < len(self._order):
            return None
        return self._order[table.cursor_row]

    def row_text(self, treadmill_id: str) -> dict[str, str]:
        """What the row of ``treadmill_id`` shows, by column key (empty when there is none)."""
        cells, _ = self._shown.get(treadmill_id, ((), None))
        if not cells:
            return {}
        return {key: cells[i] for i, (key, _, _) in enumerate(COLUMNS)}

    def action_cursor(self, step: int) -> None:
        table = self.table
        table.move_cursor(row=max(0, table.cursor_row + step), animate=False)

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

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A click on the highlighted row does nothing more than highlight it (STOP is a key)."""
        event.stop()

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


__all__ = ["COLUMNS", "MonitorApp", "row_cells"]
