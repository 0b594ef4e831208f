"""The virtual heart-rate strap as a real BLE peripheral: a Heart Rate Service on a bumble device.

Python API::

    strap = VirtualStrap.on_radio(radio, kind="dropout@30s", clock=clock,
                                  belt=lambda: (sim.belt_speed_kmh, sim.incline_pct))
    await strap.start()        # advertises as "RetroSim HR", notifies 2A37 once a (sim) second
    ...
    await strap.close()

Wire behaviour: Heart Rate Service 0x180D with Heart Rate Measurement 0x2A37 (notify, encoded by
:mod:`protocols.heart_rate`) and Body Sensor Location 0x2A38 (read: chest); advertising with the
flags, the 0x180D service UUID and the local name. What it sends follows
:class:`~retro_treadmill.sim.heart.StrapCore` (the walker's heart with a lag and the kind:
steady, rising, dropout, no-contact, disconnect, zero-bursts). ``belt`` tells it the belt's speed
(km/h) and incline (%), usually the virtual treadmill's.

Faults (``--fault hr.KIND...``, the fault syntax of :mod:`retro_treadmill.sim.faults`):
``drop-link`` (links drop as in a radio dropout; the strap advertises again and a client
reconnects), ``drop-notifications[:for=]`` (silence) and ``reboot[:after=]`` (gone for a while,
then back).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bumble import gatt
from bumble.core import AdvertisingData
from bumble.device import Connection, Device

from protocols.heart_rate import build_heart_rate_measurement
from retro_treadmill.clock import Clock, MonotonicClock
from retro_treadmill.sim.faults import Fault, FaultKind, parse_fault
from retro_treadmill.sim.heart import StrapCore, StrapKind, parse_strap_kind

if TYPE_CHECKING:
    from retro_treadmill.ble.radio import VirtualRadio

logger = logging.getLogger(__name__)

STRAP_NAME = "RetroSim HR"
STRAP_ADDRESS = "F0:F1:F2:F3:F4:F6"
HR_FAULT_PREFIX = "hr."
"""``--fault hr.drop-link@20s``: a fault for the strap rather than the treadmill."""
SAMPLE_INTERVAL_S = 1.0

UUID_HEART_RATE = "180D"
UUID_MEASUREMENT = "2A37"
UUID_BODY_SENSOR_LOCATION = "2A38"
_CHEST = b"\x01"

Belt = Callable[[], tuple[float, float]]


def split_faults(specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """The treadmill's faults and the strap's (``hr.`` prefix removed)."""
    treadmill, strap = [], []
    for spec in specs:
        if spec.startswith(HR_FAULT_PREFIX):
            strap.append(spec[len(HR_FAULT_PREFIX) :])
        else:
            treadmill.append(spec)
    return treadmill, strap


_STRAP_FAULTS = frozenset({FaultKind.DROP_LINK, FaultKind.DROP_NOTIFICATIONS, FaultKind.REBOOT})


def parse_strap_fault(spec: str) -> Fault:
    """A strap fault (without the ``hr.`` prefix); ConfigError for one a strap cannot do."""
    from retro_treadmill.errors import ConfigError

    fault = parse_fault(spec)
    if fault.kind not in _STRAP_FAULTS:
        raise ConfigError(
            f"--fault hr.{spec}: the strap knows drop-link, drop-notifications and reboot",
            field="fault",
        )
    return fault


class VirtualStrap:
    """A heart-rate strap on a bumble ``Device`` (see the module docstring)."""

    def __init__(
        self,
        device: Device,
        *,
        kind: StrapKind | str = "steady",
        clock: Clock | None = None,
        belt: Belt | None = None,
        name: str = STRAP_NAME,
        faults: Iterable[Fault | str] = (),
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.device = device
        self.kind = parse_strap_kind(kind) if isinstance(kind, str) else kind
        self.clock: Clock = clock or MonotonicClock()
        self.belt: Belt = belt or (lambda: (0.0, 0.0))
        self.name = name
        self.core = StrapCore(self.kind)
        self._t0 = self.clock.now()
        self._log = log or (lambda message: logger.info("%s", message))
        self._scheduled = sorted(
            (parse_strap_fault(f) if isinstance(f, str) else f for f in faults),
            key=lambda f: f.at,
        )
        self._silent_until = -1.0
        self._away = False
        self._closing = False
        self._connections: dict[int, Connection] = {}
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.radio: VirtualRadio | None = None
        self.sent: list[tuple[float, bytes]] = []
        """(sim time, value) of every measurement notified."""
        self._measurement = gatt.Characteristic(
            UUID_MEASUREMENT,
            gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0),
            b"",
        )
        location = gatt.Characteristic(
            UUID_BODY_SENSOR_LOCATION,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.Permissions.READABLE,
            _CHEST,
        )
        device.add_services([gatt.Service(UUID_HEART_RATE, [self._measurement, location])])
        device.on(device.EVENT_CONNECTION, self._on_connection)

    @classmethod
    def on_radio(
        cls, radio: VirtualRadio, address: str = STRAP_ADDRESS, **kwargs: Any
    ) -> VirtualStrap:
        """A strap with its own virtual controller on ``radio``."""
        device = radio.create_device(kwargs.get("name", STRAP_NAME), address)
        strap = cls(device, **kwargs)
        strap.radio = radio
        return strap

    @property
    def elapsed(self) -> float:
        """Sim seconds since :meth:`start`."""
        return self.clock.now() - self._t0

    @property
    def connections(self) -> list[str]:
        """Peer addresses connected now."""
        return [str(c.peer_address) for c in self._connections.values()]

    def advertising_data(self) -> bytes:
        """Flags, the Heart Rate service UUID and the local name."""
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                        bytes.fromhex("0D18"),
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )

    async def start(self) -> None:
        """Power on, advertise and notify once a second until :meth:`close`."""
        self.device.name = self.name
        await self.device.power_on()
        self._t0 = self.clock.now()
        await self._advertise()
        self._runner = asyncio.create_task(self._run(), name="virtual-strap")
        self._log(
            f"virtual heart-rate strap {self.name!r} ({self.kind}) advertising as "
            f"{self.device.random_address}"
        )

    async def close(self) -> None:
        """Stop the loop, drop the links and power off (each HCI step bounded to 1 s)."""
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        # Let an HCI command in flight (advertising) finish: cancelling it mid-way leaves
        # bumble's pending response behind, which its answer then trips over.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        if self.radio is None or self.radio.holds(self.device):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.device.stop_advertising(), 1.0)
            for connection in list(self._connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.device.power_off(), 1.0)

    async def __aenter__(self) -> VirtualStrap:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _advertise(self) -> None:
        if self._away or self._closing:
            return
        with contextlib.suppress(Exception):
            await self.device.start_advertising(
                advertising_data=self.advertising_data(),
                scan_response_data=bytes(
                    AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
                ),
                auto_restart=False,
                advertising_interval_min=50.0,
                advertising_interval_max=50.0,
            )

    def _on_connection(self, connection: Connection) -> None:
        self._connections[connection.handle] = connection
        self.core.connected(self.elapsed)
        self._log(f"strap connected: {connection.peer_address}")

        def gone(reason: int) -> None:
            self._connections.pop(connection.handle, None)
            self._log(f"strap disconnected: {connection.peer_address} (reason 0x{reason:02X})")
            self._spawn(self._advertise())

        connection.on(connection.EVENT_DISCONNECTION, gone)

    def _spawn(self, coro: Any) -> None:
        if self._closing:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop_links(self) -> None:
        if self.radio is not None:
            if self.radio.holds(self.device):
                self.radio.drop_links(self.device)
            return
        for connection in list(self._connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def inject(self, fault: Fault) -> None:
        """Apply a strap fault now."""
        now = self.elapsed
        self._log(f"strap fault at {now:.1f} s: {fault}")
        if fault.kind is FaultKind.DROP_LINK:
            await self._drop_links()
        elif fault.kind is FaultKind.DROP_NOTIFICATIONS:
            self._silent_until = now + (fault.duration_s or float("inf"))
        elif fault.kind is FaultKind.REBOOT:
            self._away = True
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
            await self._drop_links()
            await self.clock.sleep(fault.delay_s if fault.delay_s is not None else 2.0)
            self._away = False
            await self._advertise()

    async def _run(self) -> None:
        next_sample = 0.0
        while True:
            now = self.elapsed
            while self._scheduled and self._scheduled[0].at <= now:
                fault = self._scheduled.pop(0)
                self._spawn(self.inject(dataclasses.replace(fault)))
            if now >= next_sample:
                next_sample = max(next_sample + SAMPLE_INTERVAL_S, now)
                await self._sample(now)
            await self.clock.sleep(max(0.0, min(0.25, next_sample - self.elapsed)))

    async def _sample(self, now: float) -> None:
        speed, incline = self.belt()
        sample = self.core.sample(now, speed, incline)
        if sample.disconnect:
            self._log(f"strap at {now:.1f} s: disconnects and stops advertising ({self.kind})")
            self._away = True
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
            await self._drop_links()
            return
        if sample.measurement is None or now < self._silent_until or not self._connections:
            return
        value = build_heart_rate_measurement(sample.measurement)
        self.sent.append((now, value))
        with contextlib.suppress(Exception):
            await self.device.notify_subscribers(self._measurement, value)


__all__ = [
    "HR_FAULT_PREFIX",
    "STRAP_ADDRESS",
    "STRAP_NAME",
    "VirtualStrap",
    "parse_strap_fault",
    "split_faults",
]
