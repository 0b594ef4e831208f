"""One bumble host acting as the BLE central for every bleak client and scanner of an adapter.

:class:`BumbleCentral` owns a powered-on bumble :class:`~bumble.device.Device` reached through a
bumble transport (``tcp-client:...``, ``usb:0``, ``serial:...``) or placed directly on a
:class:`~retro_treadmill.ble.radio.VirtualRadio`. The bleak backend classes in
:mod:`retro_treadmill.ble.backend` share it: several ``BleakClient`` objects use one host (one
controller, several connections), and several ``BleakScanner`` objects share one scan.

It also remembers the address type of every advertiser it has seen (bleak addresses are plain
strings; LE needs public vs random), and reports transport loss (a dongle unplugged, the
``simulate`` process gone) to whoever registered with :meth:`BumbleCentral.on_lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, BinaryIO

from bumble import hci
from bumble.device import Device
from bumble.snoop import BtSnooper
from bumble.transport import open_transport

from retro_treadmill.ble.radio import VirtualRadio
from retro_treadmill.errors import RetroTreadmillError

__all__ = ["AdapterError", "AdvertisementListener", "BumbleCentral", "parse_address"]

logger = logging.getLogger(__name__)

AdvertisementListener = Callable[[Any], None]
"""Receives each bumble ``Advertisement`` while scanning."""

_HOST_NAME = "retro-treadmill"


class AdapterError(RetroTreadmillError):
    """A Bluetooth adapter (real dongle or virtual radio) cannot be opened or was lost."""


def parse_address(text: str) -> Any:
    """A bumble ``hci.Address`` from ``AA:BB:CC:DD:EE:FF`` (random type) or ``.../P`` (public).

    Raises :class:`ValueError` for anything else.
    """
    raw = text.strip()
    address_type = hci.Address.RANDOM_DEVICE_ADDRESS
    if raw.upper().endswith("/P"):
        raw, address_type = raw[:-2], hci.Address.PUBLIC_DEVICE_ADDRESS
    parts = raw.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"{text!r} is not a Bluetooth address like AA:BB:CC:DD:EE:FF")
    try:
        int(raw.replace(":", ""), 16)
    except ValueError:
        raise ValueError(f"{text!r} is not a Bluetooth address like AA:BB:CC:DD:EE:FF") from None
    return hci.Address(raw, address_type)


def address_key(address: Any) -> str:
    """The bleak-style address string (upper case, no type suffix) of a bumble address."""
    return str(address.to_string(False))


class BumbleCentral:
    """A powered-on bumble host shared by the bleak backend objects of one adapter.

    Create it with :meth:`open_transport` or :meth:`on_radio`; close it with :meth:`close`.
    """

    def __init__(self, device: Any = None, description: str = "") -> None:
        self.device: Any = device
        self.description = description or "bumble"
        self._spec: str | None = None
        self._transport: Any = None
        self._listeners: dict[object, AdvertisementListener] = {}
        self._scan_lock = asyncio.Lock()
        self._revive_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()
        """Held while an LE connection is being created (the controller allows one at a time)."""
        self._scanning = False
        self._active_scan = True
        self._known: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._lost_callbacks: dict[object, Callable[[], None]] = {}
        self._lost = False
        self._closed = False
        self._snoop_file: BinaryIO | None = None
        self._snooper: BtSnooper | None = None
        self._radio: VirtualRadio | None = None
        if device is not None:
            device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)

    # ------------------------------------------------------------------ creation
    @classmethod
    async def open_transport(cls, spec: str, *, snoop: str | None = None) -> BumbleCentral:
        """Open bumble transport ``spec`` (e.g. ``tcp-client:127.0.0.1:9700``, ``usb:0``) and
        power on a host on it. Raises :class:`AdapterError` with a hint when it cannot.

        When the transport is lost later (the serving process restarted, the dongle was
        re-plugged), the next scan or connection opens it again (:meth:`ensure_usable`).
        """
        central = cls(description=f"bumble:{spec}")
        central._spec = spec
        central._open_snoop_file(snoop)
        try:
            await central._attach()
        except BaseException:
            await central.close()
            raise
        return central

    async def _attach(self) -> None:
        """Open the transport, put a fresh host on it and power it on."""
        spec = self._spec
        assert spec is not None
        try:
            transport = await open_transport(spec)
        except (OSError, ValueError, RuntimeError, ImportError) as error:
            hint = ""
            if spec.startswith("tcp-client:"):
                hint = (
                    " - is a virtual treadmill serving it? Start one with "
                    "`retro-treadmill simulate --listen HOST:PORT`"
                )
            raise AdapterError(f"cannot open bumble transport {spec!r}: {error}{hint}") from error
        device = Device.with_hci(
            _HOST_NAME, hci.Address.generate_static_address(), transport.source, transport.sink
        )
        if self._snooper is not None:
            device.host.snooper = self._snooper
        terminated = getattr(transport.source, "terminated", None)
        if not isinstance(terminated, asyncio.Future):
            terminated = asyncio.get_running_loop().create_future()
        power_on = asyncio.ensure_future(device.power_on())
        try:
            done, _ = await asyncio.wait(
                {power_on, terminated}, timeout=10, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not power_on.done():
                power_on.cancel()
                with contextlib.suppress(BaseException):
                    await power_on
        if not (power_on in done and power_on.exception() is None):
            if terminated in done:
                reason = "the transport closed (is another host already attached to it?)"
            elif power_on in done:
                reason = str(power_on.exception())
            else:
                reason = "no answer to HCI Reset within 10 s"
            with contextlib.suppress(Exception):
                await transport.close()
            raise AdapterError(
                f"cannot start the controller behind bumble transport {spec!r}: {reason}"
            )
        self.device = device
        self._transport = transport
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        terminated.add_done_callback(lambda _f: self._on_transport_lost(transport))

    async def ensure_usable(self) -> None:
        """Raise :class:`AdapterError` unless the host can be used; after a transport loss,
        first try to open the transport again (and resume a running scan)."""
        if self._closed:
            raise AdapterError(f"adapter {self.description} is closed")
        if not self._lost:
            return
        if self._spec is None:
            raise AdapterError(f"adapter {self.description}: the controller transport was lost")
        async with self._revive_lock:
            # Another task may have re-attached while this one waited for the lock.
            if self._lost:
                await self._reattach()

    async def _reattach(self) -> None:
        old, self._transport = self._transport, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        await self._attach()
        logger.info("bumble adapter %s: transport open again", self.description)
        self._lost = False
        async with self._scan_lock:
            self._scanning = False
            if self._listeners:
                await self.device.start_scanning(active=self._active_scan, filter_duplicates=False)
                self._scanning = True

    @classmethod
    async def on_radio(cls, radio: VirtualRadio, *, snoop: str | None = None) -> BumbleCentral:
        """Power on a host with its own controller on an in-process :class:`VirtualRadio`."""
        device = radio.create_device(_HOST_NAME)
        central = cls(device, description="bumble:virtual-radio")
        central._radio = radio
        central._open_snoop_file(snoop)
        if central._snooper is not None:
            device.host.snooper = central._snooper
        await device.power_on()
        return central

    def _open_snoop_file(self, path: str | None) -> None:
        if path is None:
            return
        try:
            self._snoop_file = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as error:
            raise AdapterError(f"cannot write the btsnoop capture {path!r}: {error}") from error
        self._snooper = BtSnooper(self._snoop_file)

    # ------------------------------------------------------------------ state
    @property
    def lost(self) -> bool:
        """Whether the transport to the controller was lost (every link is gone)."""
        return self._lost

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def on_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once when the transport is lost; returns an unregister function."""
        token = object()
        self._lost_callbacks[token] = callback

        def remove() -> None:
            self._lost_callbacks.pop(token, None)

        return remove

    def _on_transport_lost(self, transport: Any) -> None:
        if transport is not self._transport or self._lost or self._closed:
            return
        self._lost = True
        logger.warning("bumble adapter %s: transport lost", self.description)
        for callback in list(self._lost_callbacks.values()):
            try:
                callback()
            except Exception:
                logger.exception("error in transport-lost callback")

    # ------------------------------------------------------------------ addresses
    def remember(self, address: Any, name: str | None) -> None:
        """Record an advertiser's typed address (and name) for later connection by string."""
        key = address_key(address)
        self._known[key] = address
        if name:
            self._names[key] = name

    def known_address(self, key: str) -> Any | None:
        """The typed address seen for ``key`` (``AA:BB:...``), or ``None``."""
        return self._known.get(key.upper())

    def known_name(self, key: str) -> str | None:
        """The last advertised local name of ``key``, or ``None``."""
        return self._names.get(key.upper())

    # ------------------------------------------------------------------ scanning
    async def start_scan(
        self, token: object, listener: AdvertisementListener, active: bool
    ) -> None:
        """Deliver advertisements to ``listener`` until :meth:`stop_scan` with ``token``."""
        await self.ensure_usable()
        async with self._scan_lock:
            self._listeners[token] = listener
            self._active_scan = active
            if not self._scanning:
                await self.device.start_scanning(active=active, filter_duplicates=False)
                self._scanning = True

    async def stop_scan(self, token: object) -> None:
        """Stop delivering to the listener registered with ``token``; stop the radio scan when
        nobody listens any more."""
        async with self._scan_lock:
            self._listeners.pop(token, None)
            if self._scanning and not self._listeners:
                self._scanning = False
                if not (self._lost or self._closed):
                    await self.device.stop_scanning()

    def _on_advertisement(self, advertisement: Any) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(advertisement)
            except Exception:
                logger.exception("error in advertisement listener")

    # ------------------------------------------------------------------ closing
    async def close(self) -> None:
        """Disconnect every link, release the controller and close the transport."""
        if self._closed:
            return
        self._closed = True
        self._listeners.clear()
        if not self._lost and self.device is not None:
            for connection in list(self.device.connections.values()):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await connection.disconnect()
        if self._radio is not None and not self._radio.closed:
            with contextlib.suppress(Exception):
                self._radio.remove_device(self.device)
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()
        if self._snoop_file is not None:
            self._snoop_file.close()
            self._snoop_file = None
