"""Finding treadmills (and heart-rate monitors): FTMS service data or service UUID in advertising.

A treadmill advertises the FTMS Service Data (FTMS §3.1: flags with "available", machine type
with the Treadmill bit); some only list the 0x1826 service UUID (ftms-notes §1, hassio-ftms #13),
so either one makes a candidate. Heart-rate monitors advertise the Heart Rate service 0x180D.

:func:`scan` lists what answered within a timeout; :func:`resolve_device` finds one device by
address or by advertised name (exact, case-insensitive), for ``--device ADDR|NAME``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from protocols import ProtocolError
from protocols.ftms import FTMS_SERVICE_UUID, FitnessMachineType, parse_service_data
from retro_treadmill.errors import DeviceError

if TYPE_CHECKING:
    from retro_treadmill.ble.adapter import Adapter

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(/P)?$|^[0-9A-Fa-f-]{36}$")
"""A Bluetooth address (``AA:BB:CC:DD:EE:FF``, ``/P`` for public on our bumble adapter) or a
CoreBluetooth UUID."""


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """One advertiser that looks like a treadmill or a heart-rate monitor.

    ``kind`` is ``"treadmill"`` (FTMS service data with the Treadmill bit, or the FTMS UUID
    without service data), ``"fitness-machine"`` (FTMS service data of another machine type)
    or ``"heart-rate"``. ``available`` is the FTMS "Fitness Machine Available" flag (None when
    the device sent no service data).
    """

    address: str
    name: str | None
    rssi: int | None
    kind: str
    available: bool | None
    machine_types: tuple[str, ...]
    device: BLEDevice

    def describe(self) -> str:
        """One line for ``retro-treadmill scan``."""
        name = self.name or "(no name)"
        rssi = f"{self.rssi} dBm" if self.rssi is not None else "? dBm"
        extra = ""
        if self.kind != "heart-rate":
            types = "+".join(self.machine_types) if self.machine_types else "type not advertised"
            avail = {True: "available", False: "in use", None: "availability unknown"}
            extra = f"  {types}, {avail[self.available]}"
        return f"{self.address}  {rssi:>8}  {self.kind:<16} {name}{extra}"


def classify(device: BLEDevice, advertisement: AdvertisementData) -> DiscoveredDevice | None:
    """A :class:`DiscoveredDevice` when the advertisement is of a treadmill, another fitness
    machine or a heart-rate monitor; ``None`` otherwise."""
    uuids = {u.lower() for u in advertisement.service_uuids}
    name = advertisement.local_name or device.name
    rssi = advertisement.rssi
    raw = advertisement.service_data.get(FTMS_SERVICE_UUID)
    if raw is not None:
        try:
            data = parse_service_data(bytes(raw))
        except ProtocolError:
            data = None
        if data is not None:
            types = tuple(
                (t.name or "").lower().replace("_", "-")
                for t in FitnessMachineType
                if t in data.machine_types
            )
            kind = "treadmill" if data.is_treadmill else "fitness-machine"
            return DiscoveredDevice(device.address, name, rssi, kind, data.available, types, device)
    if FTMS_SERVICE_UUID in uuids:
        return DiscoveredDevice(device.address, name, rssi, "treadmill", None, (), device)
    if HEART_RATE_SERVICE_UUID in uuids or HEART_RATE_SERVICE_UUID in advertisement.service_data:
        return DiscoveredDevice(device.address, name, rssi, "heart-rate", None, (), device)
    return None


async def scan(adapter: Adapter, timeout: float = 5.0) -> list[DiscoveredDevice]:  # noqa: ASYNC109
    """Listen for ``timeout`` seconds; treadmills first, then by signal strength."""
    found: dict[str, DiscoveredDevice] = {}

    def on_advertisement(device: BLEDevice, advertisement: AdvertisementData) -> None:
        entry = classify(device, advertisement)
        if entry is not None:
            found[device.address] = entry

    try:
        async with adapter.scanning(detection_callback=on_advertisement):
            await asyncio.sleep(timeout)
    except (BleakError, OSError) as exc:
        raise _unusable(adapter, exc) from exc
    order = {"treadmill": 0, "fitness-machine": 1, "heart-rate": 2}
    return sorted(
        found.values(),
        key=lambda d: (order.get(d.kind, 3), -(d.rssi if d.rssi is not None else -999)),
    )


def _unusable(adapter: Adapter, exc: BaseException) -> DeviceError:
    return DeviceError(
        f"cannot scan with the {adapter.description} Bluetooth adapter "
        f"({str(exc) or type(exc).__name__}). Is Bluetooth on, with an adapter present and "
        "bluetoothd running? Or choose another adapter: --adapter bumble:usb:0 for a USB "
        "dongle, --adapter bumble:tcp-client:HOST:PORT for `retro-treadmill simulate`"
    )


def looks_like_address(text: str) -> bool:
    """Whether ``text`` is a Bluetooth address (or a CoreBluetooth UUID) rather than a name."""
    return bool(_ADDRESS.match(text.strip()))


async def resolve_device(
    adapter: Adapter,
    address_or_name: str | None,
    timeout: float = 10.0,  # noqa: ASYNC109 - scan time, as bleak's
) -> BLEDevice:
    """The advertising device with this address or advertised name; with ``None``, the first
    FTMS treadmill heard. Raises :class:`DeviceError` saying what was looked for."""
    wanted = (address_or_name or "").strip()
    if wanted and looks_like_address(wanted):
        key = wanted.upper().removesuffix("/P")

        def match(device: BLEDevice, advertisement: AdvertisementData) -> bool:
            return device.address.upper().removesuffix("/P") == key

        what = f"address {wanted}"
    elif wanted:
        folded = wanted.casefold()

        def match(device: BLEDevice, advertisement: AdvertisementData) -> bool:
            name = advertisement.local_name or device.name or ""
            return name.casefold() == folded

        what = f"name {wanted!r}"
    else:

        def match(device: BLEDevice, advertisement: AdvertisementData) -> bool:
            entry = classify(device, advertisement)
            return entry is not None and entry.kind == "treadmill"

        what = "any FTMS treadmill"
    try:
        device = await adapter.find_device_by_filter(match, timeout=timeout)
    except (BleakError, OSError) as exc:
        raise _unusable(adapter, exc) from exc
    if device is None:
        raise DeviceError(
            f"no BLE device with {what} answered within {timeout:g} s; is the treadmill on and "
            "not connected to another app? `retro-treadmill scan` lists what is in range"
        )
    return device


__all__ = [
    "HEART_RATE_SERVICE_UUID",
    "DiscoveredDevice",
    "classify",
    "looks_like_address",
    "resolve_device",
    "scan",
]
