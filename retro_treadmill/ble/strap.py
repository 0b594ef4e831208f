"""The heart-rate strap client: a Bluetooth LE heart-rate monitor (Heart Rate Service 0x180D,
Measurement 0x2A37) on the same adapter as the treadmill (two connections, one central).

:class:`StrapClient` finds the strap by address or advertised name, subscribes to 0x2A37 and hands
each parsed measurement to ``on_sample``; a lost link goes to ``on_lost`` at once, and the client
reconnects on its own (a scan, then the connection), backing off from 1 s to 5 s between tries.
It only reports: the safety governor decides what a lost or returning heart rate means, and a
strap coming back never moves the belt.

End it with :meth:`StrapClient.stop` and await :meth:`run`, not by cancelling the task: the
strap shares the treadmill's central, and an HCI command cancelled half-way (a scan being
started) leaves the host's command queue out of step, which could delay the treadmill's Stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bleak.backends.characteristic import BleakGATTCharacteristic

from protocols import ProtocolError
from protocols.heart_rate import HeartRateMeasurement, parse_heart_rate_measurement
from retro_treadmill.ble.adapter import Adapter
from retro_treadmill.ble.discovery import resolve_device

logger = logging.getLogger(__name__)

MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
RETRY_MIN_S = 1.0
RETRY_MAX_S = 5.0


class StrapClient:
    """Connects and keeps connected one heart-rate strap (see the module docstring).

    ``on_sample(measurement)`` for every readable notification, ``on_connected(name)`` once
    subscribed, ``on_lost(why)`` when a connected strap's link drops. ``sleep`` is the wall-clock
    sleep used between tries (tests pass a faster one).
    """

    def __init__(
        self,
        adapter: Adapter,
        target: str,
        *,
        on_sample: Callable[[HeartRateMeasurement], None],
        on_lost: Callable[[str], None],
        on_connected: Callable[[str], None] = lambda _name: None,
        scan_timeout_s: float = 2.0,
    ) -> None:
        self.adapter = adapter
        self.target = target
        self._on_sample = on_sample
        self._on_lost = on_lost
        self._on_connected = on_connected
        self._scan_timeout_s = scan_timeout_s
        self.connected = False
        self.name = target
        self.connects = 0
        """Successful connections so far (the first and every reconnect)."""
        self.unreadable = 0
        """Notifications that were not a readable Heart Rate Measurement (ignored)."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to disconnect and return (at the next step, within a scan time)."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, listen and reconnect until :meth:`stop`."""
        delay = RETRY_MIN_S
        while not self._stopping.is_set():
            try:
                await self._connect_once()
                delay = RETRY_MIN_S
            except Exception as exc:  # a scan or connect that failed: try again
                logger.info("heart-rate strap %s: %s", self.target, exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                delay = min(RETRY_MAX_S, delay * 2)

    async def _connect_once(self) -> None:
        device = await resolve_device(self.adapter, self.target, timeout=self._scan_timeout_s)
        if self._stopping.is_set():
            return
        lost = asyncio.Event()
        client = self.adapter.client(device, disconnected_callback=lambda _c: lost.set())
        await client.connect()
        try:
            await client.start_notify(MEASUREMENT_UUID, self._notified)
            self.name = device.name or self.target
            self.connected = True
            self.connects += 1
            self._on_connected(self.name)
            stopping = asyncio.ensure_future(self._stopping.wait())
            dropped = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({stopping, dropped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                dropped.cancel()
        finally:
            was = self.connected and not self._stopping.is_set()  # stopping: nothing was lost
            self.connected = False
            if was:
                self._on_lost(f"the heart-rate strap {self.name} disconnected")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    def _notified(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            measurement = parse_heart_rate_measurement(data)
        except ProtocolError:
            self.unreadable += 1
            return
        self._on_sample(measurement)


__all__ = ["MEASUREMENT_UUID", "StrapClient"]
