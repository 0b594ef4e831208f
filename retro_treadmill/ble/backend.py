"""bleak backend over bumble: ``BleakClient``/``BleakScanner`` driving a bumble host.

Production code is written against bleak's public API only; this module lets the same code run
over a bumble host (a virtual radio, HCI over TCP to ``retro-treadmill simulate``, or a USB/serial
dongle bumble drives directly)::

    client_cls, scanner_cls = bind_backends(central)      # or use adapter.open_adapter(...)
    async with BleakScanner(backend=scanner_cls) as scanner: ...
    async with BleakClient(address, backend=client_cls) as client:
        await client.start_notify(uuid, callback)
        await client.write_gatt_char(uuid, data, response=True)

:class:`BumbleBleakClient` and :class:`BumbleBleakScanner` need a
:class:`~retro_treadmill.ble.central.BumbleCentral`: either bound with :func:`bind_backends` (what
:func:`retro_treadmill.ble.adapter.open_adapter` does) or passed as ``bumble_central=`` keyword
through ``BleakClient(...)``/``BleakScanner(...)``.

Behaviour, matching bleak's platform backends where they agree:

* ``connect()`` accepts a ``BLEDevice`` from our scanner or an address string
  (``AA:BB:CC:DD:EE:FF``; ``/P`` suffix for a public address). An address not seen yet is
  scanned for (up to the client's timeout; ``BleakDeviceNotFoundError`` if it does not
  advertise), as BlueZ does. After the link is up it exchanges the ATT MTU (``mtu=`` keyword,
  default 247) and discovers services, characteristics and descriptors.
* ATT error responses raise ``bleak.exc.BleakGATTProtocolError`` whose ``.code`` is the ATT
  error code (e.g. 0xFE, 0xFD); a link lost during a request raises ``BleakError``.
* ``start_notify`` writes the CCCD for real (notifications when the characteristic has
  ``notify``, otherwise indications) and delivers both notifications and indications of that
  characteristic to the callback, as BlueZ and CoreBluetooth do (some treadmills notify on an
  indicate-only characteristic). Indications are confirmed by bumble after the callback ran.
* ``disconnected_callback`` is called on every disconnection, ours or the peer's (as BlueZ,
  CoreBluetooth and WinRT do in practice), including transport loss; it runs as soon as the
  Disconnection Complete event arrives.
* After a transport loss (``simulate`` restarted, dongle re-plugged) every client is reported
  disconnected; the next ``connect()`` or scan start opens the transport again, so a client
  that reconnects with backoff recovers once the radio is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci

from retro_treadmill.ble.central import AdapterError, BumbleCentral, address_key, parse_address

__all__ = [
    "CCCD_UUID",
    "DEFAULT_MTU",
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "advertisement_data_from_bytes",
    "bind_backends",
]

logger = logging.getLogger(__name__)

DEFAULT_MTU = 247
"""ATT MTU requested after connecting (what Android and recent BlueZ ask for)."""

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
_CCCD_NOTIFY = b"\x01\x00"
_CCCD_INDICATE = b"\x02\x00"
_CCCD_OFF = b"\x00\x00"

_T = TypeVar("_T")


# ---------------------------------------------------------------------------- helpers
def _uuid_str(bumble_uuid: Any) -> str:
    """bleak's normalized 128-bit lower-case UUID string for a bumble ``core.UUID``."""
    little_endian = bytes(bumble_uuid.to_bytes(force_128=True))
    return str(uuid_module.UUID(bytes=little_endian[::-1]))


def _uuid_from_le(data: bytes) -> str:
    if len(data) == 2:
        return normalize_uuid_str(f"{int.from_bytes(data, 'little'):04x}")
    if len(data) == 4:
        return normalize_uuid_str(f"{int.from_bytes(data, 'little'):08x}")
    return str(uuid_module.UUID(bytes=data[::-1]))


_UUID_LISTS = {0x02: 2, 0x03: 2, 0x04: 4, 0x05: 4, 0x06: 16, 0x07: 16}
_SERVICE_DATA = {0x16: 2, 0x20: 4, 0x21: 16}


def advertisement_data_from_bytes(
    data: bytes, rssi: int, platform_data: Any = None
) -> AdvertisementData:
    """bleak ``AdvertisementData`` from raw advertising (+ scan response) bytes.

    Reads AD structures (Core Supplement Part A, 1): UUID lists, shortened/complete local name,
    TX power, service data (16/32/128-bit UUID) and manufacturer data. Malformed trailing bytes
    are ignored, as controllers and OS stacks do.
    """
    local_name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0 or offset + 1 + length > len(data):
            break
        ad_type = data[offset + 1]
        value = bytes(data[offset + 2 : offset + 1 + length])
        offset += 1 + length
        if ad_type in _UUID_LISTS:
            size = _UUID_LISTS[ad_type]
            for start in range(0, len(value) - size + 1, size):
                uuid = _uuid_from_le(value[start : start + size])
                if uuid not in uuids:
                    uuids.append(uuid)
        elif ad_type in (0x08, 0x09):
            name = value.decode("utf-8", errors="replace")
            if ad_type == 0x09 or local_name is None:
                local_name = name
        elif ad_type == 0x0A and len(value) == 1:
            tx_power = int.from_bytes(value, "little", signed=True)
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            service_data[_uuid_from_le(value[:size])] = value[size:]
        elif ad_type == 0xFF and len(value) >= 2:
            manufacturer[int.from_bytes(value[:2], "little")] = value[2:]
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(platform_data,) if platform_data is not None else (),
    )


def _property_names(properties: int) -> list[CharacteristicPropertyName]:
    """bleak's property names, in bit order (Core Vol 3, Part G, 3.3.1.1)."""
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if properties & bit]


def _central_from(cls_central: BumbleCentral | None, kwargs: dict[str, Any]) -> BumbleCentral:
    central = kwargs.pop("bumble_central", None) or cls_central
    if not isinstance(central, BumbleCentral):
        raise BleakError(
            "the bumble backend needs a host: use retro_treadmill.ble.adapter.open_adapter() "
            "or pass bumble_central=BumbleCentral(...)"
        )
    return central


# ---------------------------------------------------------------------------- scanner
class BumbleBleakScanner(BaseBleakScanner):
    """bleak scanner backend over a :class:`BumbleCentral` (see the module docstring)."""

    bound_central: ClassVar[BumbleCentral | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._central = _central_from(self.bound_central, kwargs)
        self._active = scanning_mode != "passive"
        self._token = object()

    async def start(self) -> None:
        """Start scanning; clears :attr:`seen_devices`. ``BleakError`` if the adapter is lost."""
        self.seen_devices = {}
        try:
            await self._central.start_scan(self._token, self._on_advertisement, self._active)
        except AdapterError as error:
            raise BleakError(str(error)) from error
        except core.BaseBumbleError as error:
            raise BleakError(f"cannot start scanning: {error}") from error

    async def stop(self) -> None:
        """Stop scanning."""
        await self._central.stop_scan(self._token)

    def _on_advertisement(self, advertisement: Any) -> None:
        address = advertisement.address
        key = address_key(address)
        adv = advertisement_data_from_bytes(
            bytes(advertisement.data_bytes), int(advertisement.rssi), advertisement
        )
        self._central.remember(address, adv.local_name)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        name = adv.local_name or self._central.known_name(key)
        device = self.create_or_update_device(key, key, name, address, adv)
        self.call_detection_callbacks(device, adv)


# ---------------------------------------------------------------------------- client
class BumbleBleakClient(BaseBleakClient):
    """bleak client backend over a :class:`BumbleCentral` (see the module docstring).

    Extra keyword arguments (through ``BleakClient(...)``): ``bumble_central`` (when not bound),
    ``mtu`` (ATT MTU to request, default :data:`DEFAULT_MTU`; 23 skips the exchange).
    """

    bound_central: ClassVar[BumbleCentral | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 30.0,
        services: set[str] | None = None,
        mtu: int = DEFAULT_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._central = _central_from(self.bound_central, kwargs)
        self._device_hint = (
            address_or_ble_device if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._service_filter = services
        self._requested_mtu = mtu
        self._connection: Any = None
        self._connected = False
        self._notify_callbacks: dict[int, Callable[[bytes], None]] = {}
        self._remove_lost: Callable[[], None] | None = None
        self._disconnect_reason: int | None = None
        self._name: str | None = self._device_hint.name if self._device_hint else None

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        """The peer's advertised name, else its address."""
        return self._name or self._central.known_name(self.address.upper()) or self.address

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 before the exchange)."""
        if self._connection is None:
            return 23
        return int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        """Whether the LE link is up."""
        return self._connected

    @property
    def disconnect_reason(self) -> int | None:
        """HCI reason of the last disconnection (0x08 timeout, 0x13 remote user, 0x16 local)."""
        return self._disconnect_reason

    # ------------------------------------------------------------------ connection
    async def _resolve_address(self) -> Any:
        hint = self._device_hint
        if hint is not None and isinstance(hint.details, hci.Address):
            return hint.details
        key = self.address.upper()
        try:
            typed = parse_address(key)
        except ValueError as error:
            raise BleakDeviceNotFoundError(self.address, str(error)) from None
        if key.endswith("/P"):
            return typed
        known = self._central.known_address(key)
        if known is not None:
            return known
        return await self._scan_for(key)

    async def _scan_for(self, key: str) -> Any:
        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        token = object()

        def listener(advertisement: Any) -> None:
            if address_key(advertisement.address) == key and not found.done():
                adv = advertisement_data_from_bytes(bytes(advertisement.data_bytes), 0)
                self._central.remember(advertisement.address, adv.local_name)
                found.set_result(advertisement.address)

        await self._central.start_scan(token, listener, True)
        try:
            async with asyncio.timeout(self._timeout):
                return await found
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                self.address, f"device {self.address} was not found (not advertising?)"
            ) from None
        finally:
            await self._central.stop_scan(token)

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the MTU and discover the GATT database.

        Raises ``TimeoutError`` when the peer does not answer within the client's timeout,
        ``BleakDeviceNotFoundError`` when an address string is not advertising, ``BleakError``
        for anything else (adapter lost, controller refused).
        """
        if self._connected:
            return
        try:
            await self._central.ensure_usable()
            peer = await self._resolve_address()
            # One LE connection attempt at a time per controller (HCI allows only one).
            async with self._central.connect_lock:
                async with asyncio.timeout(self._timeout + 2.0):
                    connection = await self._central.device.connect(peer, timeout=self._timeout)
        except (TimeoutError, core.TimeoutError) as error:
            raise TimeoutError(f"connecting to {self.address} timed out") from error
        except AdapterError as error:
            raise BleakError(str(error)) from error
        except core.BaseBumbleError as error:
            raise BleakError(f"connecting to {self.address} failed: {error}") from error
        self._connection = connection
        self._connected = True
        self._disconnect_reason = None
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._remove_lost = self._central.on_lost(self._on_transport_lost)
        try:
            if self._requested_mtu > att.ATT_DEFAULT_MTU:
                with contextlib.suppress(BleakGATTProtocolError):
                    await self._gatt(lambda c: c.request_mtu(self._requested_mtu))
            self.services = await self._discover()
            if pair:
                await self.pair()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.disconnect()
            raise

    def _mark_disconnected(self, reason: int) -> None:
        if not self._connected:
            return
        self._connected = False
        self._disconnect_reason = reason
        self._notify_callbacks.clear()
        if self._remove_lost is not None:
            self._remove_lost()
            self._remove_lost = None
        callback = self._disconnected_callback
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.exception("error in disconnected_callback")

    def _on_disconnection(self, reason: int) -> None:
        # bumble reports every link of a lost transport with reason 0 ("success"); to the
        # application the link timed out, as when a dongle is pulled (HCI 0x08).
        reason = int(reason) or hci.HCI_CONNECTION_TIMEOUT_ERROR
        logger.info("%s disconnected, reason 0x%02X", self.address, reason)
        self._mark_disconnected(reason)

    def _on_transport_lost(self) -> None:
        self._mark_disconnected(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    async def disconnect(self) -> None:
        """Disconnect (HCI reason 0x13); returns once the link is down. No-op if not connected."""
        connection = self._connection
        if not self._connected or connection is None:
            return
        if self._central.lost:
            self._mark_disconnected(hci.HCI_CONNECTION_TIMEOUT_ERROR)
            return
        try:
            async with asyncio.timeout(10):
                await connection.disconnect()
        except (core.BaseBumbleError, hci.HCI_Error, TimeoutError) as error:
            logger.warning("disconnect from %s: %s", self.address, error)
        self._mark_disconnected(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (bumble SMP, Just Works by default). Untested against real devices."""
        connection = self._require_connection()
        try:
            await connection.pair()
        except core.BaseBumbleError as error:
            raise BleakError(f"pairing with {self.address} failed: {error}") from error

    async def unpair(self) -> None:
        """Forget the bond with the peer in bumble's key store (if any)."""
        keystore = self._central.device.keystore
        if keystore is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(self.address.upper())

    # ------------------------------------------------------------------ GATT plumbing
    def _require_connection(self) -> Any:
        if not self._connected or self._connection is None:
            raise BleakError(f"Not connected to {self.address}")
        return self._connection

    async def _gatt(self, operation: Callable[[Any], Awaitable[_T]]) -> _T:
        """Run one GATT client operation, translating bumble errors into bleak's."""
        connection = self._require_connection()
        return await self._run(operation(connection.gatt_client))

    async def _run(self, awaitable: Awaitable[_T]) -> _T:
        try:
            return await awaitable
        except att.ATT_Error as error:
            raise BleakGATTProtocolError(int(error.error_code)) from error
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # bumble cancels the pending response when the link drops.
            raise BleakError(f"{self.address} disconnected during a GATT request") from None
        except core.TimeoutError as error:
            raise TimeoutError(f"GATT request to {self.address} timed out") from error
        except core.BaseBumbleError as error:
            raise BleakError(f"GATT request to {self.address} failed: {error}") from error

    async def _discover(self) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        wanted = (
            [core.UUID(u) for u in sorted(self._service_filter)] if self._service_filter else []
        )
        client = self._require_connection().gatt_client
        services = await self._run(client.discover_services(wanted))
        for service in services:
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            characteristics = await self._run(client.discover_characteristics([], service))
            for characteristic in characteristics:
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid_str(characteristic.uuid),
                    _property_names(int(characteristic.properties)),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                descriptors = await self._run(client.discover_descriptors(characteristic))
                for descriptor in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    # ------------------------------------------------------------------ I/O
    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (long values with Read Blob)."""
        return await self._read(characteristic.handle, use_cached)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        return await self._read(descriptor.handle, use_cached)

    async def _read(self, handle: int, use_cached: bool) -> bytearray:
        if use_cached:
            cached = self._require_connection().gatt_client.cached_values.get(handle)
            if cached is not None:
                return bytearray(cached[1])
        value = await self._gatt(lambda c: c.read_value(handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write Request (``response=True``) or Write Command (``response=False``)."""
        await self._write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor with a Write Request."""
        await self._write(descriptor.handle, bytes(data), True)

    async def _write(self, handle: int, payload: bytes, response: bool) -> None:
        async def operation(client: Any) -> None:
            await client.write_value(handle, payload, with_response=response)

        await self._gatt(operation)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD (notify preferred over indicate) and route values to ``callback``."""
        connection = self._require_connection()
        handle = characteristic.handle
        if handle in self._notify_callbacks:
            raise BleakError(f"notifications on {characteristic.uuid} are already started")
        cccd = characteristic.get_descriptor(CCCD_UUID)
        if cccd is None:
            raise BleakError(f"characteristic {characteristic.uuid} has no CCCD")
        if "notify" in characteristic.properties:
            bits = _CCCD_NOTIFY
        elif "indicate" in characteristic.properties:
            bits = _CCCD_INDICATE
        else:
            raise BleakError(f"characteristic {characteristic.uuid} cannot notify or indicate")

        def deliver(value: bytes) -> None:
            # An exception must not reach bumble: it would skip the indication confirmation
            # and stall the peer's ATT bearer.
            try:
                callback(bytearray(value))
            except Exception:
                logger.exception("error in notification callback for %s", characteristic.uuid)

        client = connection.gatt_client
        client.notification_subscribers.setdefault(handle, set()).add(deliver)
        client.indication_subscribers.setdefault(handle, set()).add(deliver)
        self._notify_callbacks[handle] = deliver
        try:
            await self._write(cccd.handle, bits, True)
        except BaseException:
            self._unsubscribe(client, handle)
            raise

    def _unsubscribe(self, client: Any, handle: int) -> None:
        deliver = self._notify_callbacks.pop(handle, None)
        if deliver is None:
            return
        for table in (client.notification_subscribers, client.indication_subscribers):
            subscribers = table.get(handle)
            if subscribers is not None:
                subscribers.discard(deliver)
                if not subscribers:
                    del table[handle]

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Stop routing values to the callback and write 0x0000 to the CCCD."""
        connection = self._require_connection()
        self._unsubscribe(connection.gatt_client, characteristic.handle)
        cccd = characteristic.get_descriptor(CCCD_UUID)
        if cccd is not None:
            await self._write(cccd.handle, _CCCD_OFF, True)


def bind_backends(
    central: BumbleCentral,
) -> tuple[type[BumbleBleakClient], type[BumbleBleakScanner]]:
    """Client and scanner backend classes bound to ``central``, for ``backend=``."""

    class BoundClient(BumbleBleakClient):
        bound_central = central

    class BoundScanner(BumbleBleakScanner):
        bound_central = central

    BoundClient.__name__ = BoundClient.__qualname__ = "BumbleBleakClient"
    BoundScanner.__name__ = BoundScanner.__qualname__ = "BumbleBleakScanner"
    return BoundClient, BoundScanner
