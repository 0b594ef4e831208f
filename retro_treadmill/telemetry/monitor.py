"""``retro-treadmill monitor``: a Textual dashboard of every treadmill under an MQTT prefix.

One card per treadmill: liveness (online / stale / offline from availability, the last will and the
age of the last telemetry), session state, speed, incline, heart rate, distance, the latest alarm,
and a STOP button that publishes ``command/stop`` (QoS 1) with this monitor as the sender. The MQTT
connection runs in a worker and reconnects by itself; the display is refreshed twice a second so
that staleness shows even when nothing arrives.
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
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Static

from retro_treadmill.telemetry.fleet import Fleet, Liveness, TreadmillRow
from retro_treadmill.telemetry.schema import Topics, command_payload
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.units import SpeedUnit, format_speed

_LIVENESS_TEXT = {
    Liveness.ONLINE: "ONLINE",
    Liveness.STALE: "STALE",
    Liveness.OFFLINE: "OFFLINE",
    Liveness.UNKNOWN: "?",
}


def _value(value: float | int | None, fmt: str, unit: str) -> str:
    return f"-- {unit}" if value is None else f"{value:{fmt}} {unit}"


class TreadmillCard(Horizontal):
    """One treadmill: its numbers, its liveness and its STOP button."""

    def __init__(self, treadmill_id: str) -> None:
        super().__init__(id=f"tm-{treadmill_id}", classes="card")
        self.treadmill_id = treadmill_id
        # Made here, not queried: show() may run before the card's children are mounted.
        self._liveness = Static("", classes="liveness")
        self._state = Static("", classes="state")
        self._numbers = Static("", classes="numbers")
        self._alarm = Static("", classes="alarm")

    def compose(self) -> ComposeResult:
        yield Static(self.treadmill_id, classes="name")
        yield self._liveness
        yield self._state
        yield self._numbers
        yield self._alarm
        yield Button("STOP", id=f"stop-{self.treadmill_id}", variant="error", classes="stop")

    def show(self, row: TreadmillRow, units: SpeedUnit) -> None:
        """Render ``row``; the card's CSS class follows the liveness (online/stale/offline)."""
        view = row.view
        for liveness in Liveness:
            self.set_class(row.liveness is liveness, f"-{liveness.value}")
        age = "" if row.telemetry_age_s is None else f" {row.telemetry_age_s:.0f}s"
        liveness_text = _LIVENESS_TEXT[row.liveness]
        self._liveness.update(liveness_text + (age if row.liveness is Liveness.STALE else ""))
        state = (view.state or "--").upper()
        if view.profile:
            state += f"  {view.profile}"
        self._state.update(state)
        numbers = "  ".join(
            [
                format_speed(view.speed_kmh, units, 2),
                _value(view.incline_pct, ".1f", "%"),
                _value(view.heart_rate_bpm, "d", "bpm"),
                _value(view.distance_m, ".0f", "m"),
            ]
        )
        self._numbers.update(numbers)
        self._alarm.update(view.alarm or "")


class MonitorApp(App[None]):
    """Watch every treadmill under ``settings.prefix``; STOP any of them.

    ``settings`` gives the broker, login, TLS and prefix (its ``treadmill_id`` is unused).
    ``sender`` names this monitor in the stop commands it sends (and so in the treadmill's log).
    """

    CSS_PATH = "monitor.tcss"
    TITLE = "retro-treadmill monitor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

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
        self.stops_sent: list[str] = []
        """Treadmill ids a STOP was published to, in order."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"connecting to {self.settings.redacted_url} ...", id="mqtt-status")
        yield VerticalScroll(Static("no treadmill seen yet", id="empty"), id="fleet")
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
                            self.refresh_fleet()
            except (aiomqtt.MqttError, ssl.SSLError, OSError) as exc:
                self._client = None
                status.update(f"MQTT {s.redacted_url}: {exc}; retrying in {delay:.1f} s")
            await asyncio.sleep(delay)
            delay = min(s.reconnect_max_s, delay * 2)

    def refresh_fleet(self) -> None:
        """Create cards for new treadmills and re-render every card (liveness ages with time)."""
        fleet_box = self.query_one("#fleet", VerticalScroll)
        rows = self.fleet.rows(self._clock())
        if rows:
            for empty in self.query("#empty"):
                empty.remove()
        for row in rows:
            cards = self.query(f"#tm-{row.view.treadmill_id}")
            if cards:
                card = cards.first(TreadmillCard)
                card.show(row, self.units)
            else:
                card = TreadmillCard(row.view.treadmill_id)
                card.show(row, self.units)
                fleet_box.mount(card)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        """A card's STOP: publish ``command/stop`` to that treadmill."""
        button_id = event.button.id or ""
        if button_id.startswith("stop-"):
            await self.send_stop(button_id.removeprefix("stop-"))

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


__all__ = ["MonitorApp", "TreadmillCard"]
