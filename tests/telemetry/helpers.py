"""A subscriber that records what a broker delivers, for assertions in the MQTT tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from textual.pilot import Pilot

from retro_treadmill.telemetry.monitor import MonitorApp
from retro_treadmill.telemetry.settings import MqttSettings
from tests.mosquitto import MosquittoBroker


@dataclass(frozen=True)
class Received:
    """One message as the subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


@dataclass
class Recorder:
    """Every message received, in order, with a way to wait for one that matches."""

    messages: list[Received] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def add(self, message: Received) -> None:
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Received], bool], within: float = 5.0, *, start: int = 0
    ) -> Received:
        """The first message from index ``start`` on that satisfies ``predicate``."""
        async with asyncio.timeout(within), self._changed:
            while True:
                for message in self.messages[start:]:
                    if predicate(message):
                        return message
                await self._changed.wait()

    async def wait_count(
        self, predicate: Callable[[Received], bool], count: int, within: float = 5.0
    ) -> list[Received]:
        """Wait until ``count`` messages satisfy ``predicate``; return them."""
        async with asyncio.timeout(within), self._changed:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                await self._changed.wait()

    def on(self, topic: str) -> list[Received]:
        """Messages on ``topic`` so far."""
        return [m for m in self.messages if m.topic == topic]


def client_for(broker: MosquittoBroker, **kwargs: Any) -> aiomqtt.Client:
    """An aiomqtt client for ``broker`` (loopback)."""
    return aiomqtt.Client(broker.host, broker.port, timeout=5, **kwargs)


@contextlib.asynccontextmanager
async def recording(client: aiomqtt.Client, *topics: str, qos: int = 1) -> AsyncIterator[Recorder]:
    """Connect ``client``, subscribe to ``topics`` and record messages until the block ends."""
    recorder = Recorder()
    async with client:
        for topic in topics:
            await client.subscribe(topic, qos=qos)

        async def pump() -> None:
            with contextlib.suppress(aiomqtt.MqttError):
                async for message in client.messages:
                    payload = message.payload
                    raw = payload if isinstance(payload, bytes) else str(payload).encode()
                    await recorder.add(Received(message.topic.value, raw, bool(message.retain)))

        task = asyncio.create_task(pump(), name="test-subscriber")
        try:
            yield recorder
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def fast_settings(broker: MosquittoBroker, treadmill_id: str = "tm1", **kw: Any) -> MqttSettings:
    """Settings for ``broker`` with short timeouts and backoff (tests take seconds, not minutes)."""
    options: dict[str, Any] = {
        "connect_timeout_s": 2.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.3,
        "keepalive_s": 5,
    }
    options.update(kw)
    scheme = "mqtts" if options.get("ca_file") else "mqtt"
    return MqttSettings.from_url(
        f"{scheme}://{broker.host}:{broker.port}/retro-treadmill",
        treadmill_id=treadmill_id,
        **options,
    )


async def until(pilot: Pilot[None], condition: Callable[[], bool], within: float = 10.0) -> None:
    """Let the monitor app run until ``condition()`` holds (at most ``within`` wall seconds)."""
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.05)


def card_text(app: MonitorApp, treadmill_id: str, part: str) -> str:
    """What one treadmill's row shows in ``part``: a column key of the monitor's table
    (``liveness``, ``state``, ``alarm`` ...) or ``numbers`` (speed, incline, heart rate and
    distance); "" while there is no such row."""
    row = app.row_text(treadmill_id)
    if not row:
        return ""
    if part == "numbers":
        return "  ".join(row[key] for key in ("speed", "incline", "heart_rate", "distance"))
    return row[part]


async def press_stop(pilot: Pilot[None], app: MonitorApp, treadmill_id: str) -> None:
    """Highlight ``treadmill_id``'s row with the arrow keys and press ``s`` (STOP)."""
    await pilot.press("home")
    for _ in range(len(app._order)):
        if app.selected_treadmill() == treadmill_id:
            break
        await pilot.press("down")
    assert app.selected_treadmill() == treadmill_id
    await pilot.press("s")
