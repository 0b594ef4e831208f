"""The one entry point the application uses to reach Bluetooth LE: :func:`open_adapter`.

``--adapter`` values (``spec``):

* ``system`` - plain bleak on the platform's own stack (BlueZ, CoreBluetooth, WinRT).
* ``bumble:TRANSPORT`` - our bleak backend over a bumble host on a bumble transport, e.g.
  ``bumble:tcp-client:127.0.0.1:9700`` (the virtual treadmill of ``retro-treadmill simulate``, or
  any program serving a bumble virtual controller over TCP), ``bumble:usb:0`` or
  ``bumble:serial:/dev/ttyACM0`` (a real HCI dongle driven by bumble; untested here).
* a :class:`~retro_treadmill.ble.radio.VirtualRadio` object - in-process virtual radio (tests,
  ``run --simulate``).

Usage::

    async with open_adapter("bumble:tcp-client:127.0.0.1:9700") as adapter:
        device = await adapter.find_device_by_filter(is_treadmill, timeout=5)
        async with adapter.client(device, disconnected_callback=on_lost) as client:
            ...

All clients and scanners of one adapter share one bumble host. Leaving the context disconnects
every link and closes the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    AdvertisementDataFilter,
    BaseBleakScanner,
)
from bleak.exc import BleakDBusError

from retro_treadmill.ble.backend import bind_backends
from retro_treadmill.ble.central import AdapterError, BumbleCentral
from retro_treadmill.ble.radio import VirtualRadio

__all__ = ["SYSTEM", "Adapter", "AdapterError", "open_adapter", "parse_adapter_spec"]

SYSTEM = "system"
SCAN_BUSY_RETRIES = 3
"""How often a scan start that BlueZ refuses as in progress is tried again."""
SCAN_BUSY_WAIT_S = 1.0
_BLUEZ_IN_PROGRESS = "org.bluez.Error.InProgress"
_BUMBLE_PREFIX = "bumble:"


def parse_adapter_spec(spec: str) -> str | None:
    """Validate an ``--adapter`` value; returns the bumble transport, or ``None`` for system.

    Raises :class:`AdapterError` saying what is accepted.
    """
    text = spec.strip()
    if text == SYSTEM:
        return None
    if text.startswith(_BUMBLE_PREFIX) and len(text) > len(_BUMBLE_PREFIX):
        return text[len(_BUMBLE_PREFIX) :]
    raise AdapterError(
        f"unknown adapter {spec!r}: use 'system' or 'bumble:TRANSPORT' "
        "(e.g. bumble:tcp-client:127.0.0.1:9700, bumble:usb:0, bumble:serial:/dev/ttyACM0)"
    )


@dataclass(frozen=True)
class Adapter:
    """An open Bluetooth adapter: factories for bleak scanners and clients.

    ``client_backend``/``scanner_backend`` are the classes to pass as bleak's ``backend=`` (both
    ``None`` for the system adapter), for code that calls bleak's class methods itself.
    """

    description: str
    central: BumbleCentral | None
    client_backend: type[BaseBleakClient] | None
    scanner_backend: type[BaseBleakScanner] | None

    def scanner(
        self,
        detection_callback: AdvertisementDataCallback | None = None,
        service_uuids: list[str] | None = None,
        scanning_mode: Literal["active", "passive"] = "active",
    ) -> BleakScanner:
        """A ``BleakScanner`` on this adapter."""
        return BleakScanner(
            detection_callback,
            service_uuids,
            scanning_mode,
            backend=self.scanner_backend,
        )

    def client(
        self,
        address_or_device: BLEDevice | str,
        disconnected_callback: Callable[[BleakClient], None] | None = None,
        services: Iterable[str] | None = None,
        *,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> BleakClient:
        """A ``BleakClient`` on this adapter (not yet connected).

        ``kwargs`` go to the backend; the bumble backend takes ``mtu=`` (default 247).
        """
        return BleakClient(
            address_or_device,
            disconnected_callback,
            services,
            timeout=timeout,
            backend=self.client_backend,
            **kwargs,
        )

    @contextlib.asynccontextmanager
    async def scanning(
        self,
        detection_callback: AdvertisementDataCallback | None = None,
        service_uuids: list[str] | None = None,
    ) -> AsyncIterator[BleakScanner]:
        """A started scanner for the ``async with`` body (stopped on the way out).

        BlueZ answers a discovery start with ``org.bluez.Error.InProgress`` while its previous
        discovery is still winding down (its kernel-side stop was refused, or another program
        is starting one); that passes, so the start is retried ``SCAN_BUSY_RETRIES`` times,
        ``SCAN_BUSY_WAIT_S`` apart, before the error is raised.
        """
        scanner = self.scanner(detection_callback, service_uuids)
        for attempt in range(SCAN_BUSY_RETRIES + 1):
            try:
                await scanner.start()
                break
            except BleakDBusError as exc:
                if exc.dbus_error != _BLUEZ_IN_PROGRESS or attempt == SCAN_BUSY_RETRIES:
                    raise
            await asyncio.sleep(SCAN_BUSY_WAIT_S)
        try:
            yield scanner
        finally:
            await scanner.stop()

    async def discover(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - same signature as bleak
        service_uuids: list[str] | None = None,
    ) -> dict[str, tuple[BLEDevice, AdvertisementData]]:
        """Scan for ``timeout`` seconds; devices and their latest advertising data by address."""
        async with self.scanning(service_uuids=service_uuids) as scanner:
            await asyncio.sleep(timeout)
        return scanner.discovered_devices_and_advertisement_data

    async def find_device_by_filter(
        self,
        filterfunc: AdvertisementDataFilter,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as bleak
        service_uuids: list[str] | None = None,
    ) -> BLEDevice | None:
        """The first advertiser for which ``filterfunc`` is true, or ``None`` after timeout."""
        async with self.scanning(service_uuids=service_uuids) as scanner:
            try:
                async with asyncio.timeout(timeout):
                    async for device, advertisement in scanner.advertisement_data():
                        if filterfunc(device, advertisement):
                            return device
            except TimeoutError:
                return None
        return None

    async def find_device_by_address(
        self,
        address: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as bleak
    ) -> BLEDevice | None:
        """The advertiser with this address, or ``None`` after timeout."""
        wanted = address.upper().removesuffix("/P")
        return await self.find_device_by_filter(lambda d, _ad: d.address.upper() == wanted, timeout)

    async def find_device_by_name(
        self,
        name: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as bleak
    ) -> BLEDevice | None:
        """The advertiser whose local name is ``name``, or ``None`` after timeout."""
        return await self.find_device_by_filter(lambda _d, ad: ad.local_name == name, timeout)


@contextlib.asynccontextmanager
async def open_adapter(
    spec: str | VirtualRadio, *, snoop: str | None = None
) -> AsyncIterator[Adapter]:
    """Open the adapter named by ``spec`` (see the module docstring) for the ``async with`` body.

    ``snoop``: path of a btsnoop file recording this host's HCI traffic (bumble adapters only;
    Wireshark and tshark open it). Raises :class:`AdapterError` when the adapter cannot be opened.
    """
    if isinstance(spec, VirtualRadio):
        central = await BumbleCentral.on_radio(spec, snoop=snoop)
    else:
        transport = parse_adapter_spec(spec)
        if transport is None:
            if snoop is not None:
                raise AdapterError(
                    "--snoop needs a bumble adapter; the system stack has its own capture tools "
                    "(btmon on Linux)"
                )
            yield Adapter(SYSTEM, None, None, None)
            return
        central = await BumbleCentral.open_transport(transport, snoop=snoop)
    try:
        client_backend, scanner_backend = bind_backends(central)
        yield Adapter(central.description, central, client_backend, scanner_backend)
    finally:
        await central.close()
