"""The bleak backend over bumble, driven only through bleak's public API, against a real bumble
GATT server on the in-process virtual radio."""

from __future__ import annotations

import asyncio
import time

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import (
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from retro_treadmill.ble import adapter as adapter_module
from retro_treadmill.ble.adapter import Adapter, open_adapter
from retro_treadmill.ble.backend import CCCD_UUID, advertisement_data_from_bytes
from retro_treadmill.ble.discovery import scan
from retro_treadmill.ble.radio import VirtualRadio
from tests.ble.peripheral import (
    ADDRESS,
    CONTROL_UUID,
    ECHO_UUID,
    FTMS_UUID,
    NAME,
    NOTIFY_UUID,
    READ_UUID,
    SERVICE_DATA,
    TEST_SERVICE,
    TestPeripheral,
    advertising_data,
)

pytestmark = pytest.mark.timeout(20)


def _is_test_peripheral(_device: BLEDevice, adv: AdvertisementData) -> bool:
    return adv.service_data.get(FTMS_UUID) == SERVICE_DATA


async def _find(adapter: Adapter) -> BLEDevice:
    device = await adapter.find_device_by_filter(_is_test_peripheral, timeout=3)
    assert device is not None
    return device


def _connected(client: BleakClient) -> bool:
    # A function, so that mypy does not keep the narrowing of an earlier assert.
    return client.is_connected


class Inbox:
    """Collects (uuid, value) pairs from a notify callback; awaits the next one with a bound."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes, float]] = asyncio.Queue()

    def __call__(self, characteristic: object, value: bytearray) -> None:
        uuid = getattr(characteristic, "uuid", "")
        self.queue.put_nowait((uuid, bytes(value), time.perf_counter()))

    async def next(self) -> tuple[str, bytes, float]:
        async with asyncio.timeout(2):
            return await self.queue.get()


async def test_scan_reads_service_data_name_and_uuids(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    seen: asyncio.Future[tuple[BLEDevice, AdvertisementData]] = (
        asyncio.get_running_loop().create_future()
    )

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        if _is_test_peripheral(device, adv) and not seen.done():
            seen.set_result((device, adv))

    async with adapter.scanner(on_adv, service_uuids=[FTMS_UUID]):
        async with asyncio.timeout(3):
            device, adv = await seen
    assert device.address == ADDRESS
    assert device.name == NAME
    assert adv.local_name == NAME
    assert adv.service_uuids == [FTMS_UUID]
    assert adv.service_data == {FTMS_UUID: SERVICE_DATA}
    assert await adapter.find_device_by_name(NAME, timeout=3) is not None
    assert await adapter.find_device_by_address(ADDRESS.lower(), timeout=3) is not None


async def test_scanner_service_filter_excludes_other_services(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    found = await adapter.find_device_by_filter(
        lambda _d, _a: True, timeout=0.3, service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"]
    )
    assert found is None


async def test_bleak_classmethods_work_with_the_bound_backend(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    assert adapter.scanner_backend is not None
    device = await BleakScanner.find_device_by_filter(
        _is_test_peripheral, timeout=3, backend=adapter.scanner_backend
    )
    assert device is not None
    assert device.address == ADDRESS


async def test_connect_discovers_gatt_database_and_exchanges_mtu(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    async with adapter.client(await _find(adapter)) as client:
        assert client.is_connected
        assert client.mtu_size == 247
        service = client.services.get_service(TEST_SERVICE)
        assert service is not None
        props = {c.uuid: c.properties for c in service.characteristics}
        assert props == {
            READ_UUID: ["read"],
            NOTIFY_UUID: ["read", "notify"],
            CONTROL_UUID: ["write", "indicate"],
            ECHO_UUID: ["write-without-response", "write", "notify"],
        }
        control = client.services.get_characteristic(CONTROL_UUID)
        assert control is not None
        assert [d.uuid for d in control.descriptors] == [CCCD_UUID]
        assert control.max_write_without_response_size == 244
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
    assert not client.is_connected


async def test_indication_answers_a_write_with_response(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    inbox = Inbox()
    async with adapter.client(await _find(adapter)) as client:
        await client.start_notify(CONTROL_UUID, inbox)
        assert peripheral.subscriptions == [(CONTROL_UUID, False, True)]
        await client.write_gatt_char(CONTROL_UUID, b"\x00\x01", response=True)
        assert (await inbox.next())[:2] == (CONTROL_UUID, b"\x80\x00\x01")
        assert peripheral.writes == [(CONTROL_UUID, b"\x00\x01")]
        cccd = client.services.get_characteristic(CONTROL_UUID)
        assert cccd is not None
        descriptor = cccd.get_descriptor(CCCD_UUID)
        assert descriptor is not None
        assert await client.read_gatt_descriptor(descriptor) == bytearray(b"\x02\x00")


async def test_notifications_and_write_without_response(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    inbox = Inbox()
    async with adapter.client(await _find(adapter)) as client:
        await client.start_notify(NOTIFY_UUID, inbox)
        await client.start_notify(ECHO_UUID, inbox)
        assert (NOTIFY_UUID, True, False) in peripheral.subscriptions
        sent = time.perf_counter()
        await peripheral.notify(b"\x01\x02\x03")
        uuid, value, received = await inbox.next()
        assert (uuid, value) == (NOTIFY_UUID, b"\x01\x02\x03")
        assert received - sent < 0.1
        await client.write_gatt_char(ECHO_UUID, b"ping", response=False)
        assert (await inbox.next())[:2] == (ECHO_UUID, b"ping")
        assert peripheral.writes == [(ECHO_UUID, b"ping")]
        await client.stop_notify(NOTIFY_UUID)
        assert peripheral.subscriptions[-1] == (NOTIFY_UUID, False, False)


async def test_att_errors_carry_the_att_error_code(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    async with adapter.client(await _find(adapter)) as client:
        with pytest.raises(BleakGATTProtocolError) as not_configured:
            await client.write_gatt_char(CONTROL_UUID, b"\x00", response=True)
        assert not_configured.value.code == 0xFD
        await client.start_notify(CONTROL_UUID, Inbox())
        with pytest.raises(BleakGATTProtocolError) as in_progress:
            await client.write_gatt_char(CONTROL_UUID, b"\xfe", response=True)
        assert in_progress.value.code == 0xFE
        assert client.is_connected
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")


async def test_peer_disconnect_fires_callback_fast_and_reconnect_works(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    lost = asyncio.Event()
    client = adapter.client(await _find(adapter), disconnected_callback=lambda _c: lost.set())
    await client.connect()
    start = time.perf_counter()
    await peripheral.disconnect_all()
    async with asyncio.timeout(0.5):
        await lost.wait()
    assert time.perf_counter() - start < 0.5
    assert not client.is_connected
    with pytest.raises(BleakError):
        await client.read_gatt_char(READ_UUID)

    lost.clear()
    await client.connect()
    try:
        assert _connected(client)
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
    finally:
        await client.disconnect()


async def test_link_loss_mid_request_raises_bleak_error_not_cancelled(
    radio: VirtualRadio, adapter: Adapter, peripheral: TestPeripheral
) -> None:
    lost = asyncio.Event()
    async with adapter.client(
        await _find(adapter), disconnected_callback=lambda _c: lost.set()
    ) as client:
        await client.start_notify(CONTROL_UUID, Inbox())
        write = asyncio.create_task(client.write_gatt_char(CONTROL_UUID, b"\xaa", response=True))
        async with asyncio.timeout(2):
            await peripheral.stalled.wait()
        assert radio.drop_links(peripheral.device) == 1
        with pytest.raises(BleakError, match="disconnected"):
            async with asyncio.timeout(2):
                await write
        assert lost.is_set()
        backend = client._backend  # reason is backend detail, not bleak API
        assert getattr(backend, "disconnect_reason", None) == 0x08


async def test_connect_by_address_string_scans_for_it(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    async with adapter.client(ADDRESS, timeout=3) as client:
        assert client.is_connected
        assert client.name == NAME


async def test_connect_to_absent_address_raises_device_not_found(adapter: Adapter) -> None:
    client = adapter.client("F1:00:00:00:00:99", timeout=0.3)
    with pytest.raises(BleakDeviceNotFoundError):
        await client.connect()


async def test_two_clients_share_one_host(radio: VirtualRadio, adapter: Adapter) -> None:
    first = await TestPeripheral.start(radio, "F1:00:00:00:00:0A")
    second = await TestPeripheral.start(radio, "F1:00:00:00:00:0B")
    assert adapter.central is not None
    async with (
        adapter.client("F1:00:00:00:00:0A", timeout=3) as a,
        adapter.client("F1:00:00:00:00:0B", timeout=3) as b,
    ):
        inbox_a, inbox_b = Inbox(), Inbox()
        await a.start_notify(NOTIFY_UUID, inbox_a)
        await b.start_notify(NOTIFY_UUID, inbox_b)
        await first.notify(b"A")
        await second.notify(b"B")
        assert (await inbox_a.next())[1] == b"A"
        assert (await inbox_b.next())[1] == b"B"
        assert len(adapter.central.device.connections) == 2


async def test_plain_bleak_client_with_backend_keyword(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    assert adapter.client_backend is not None
    async with BleakClient(ADDRESS, backend=adapter.client_backend, timeout=3) as client:
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")


def test_advertisement_parser_reads_every_field_and_ignores_garbage() -> None:
    raw = advertising_data() + bytes([3, 0xFF, 0x59, 0x00]) + bytes([2, 0x0A, 0xF6]) + b"\x09"
    adv = advertisement_data_from_bytes(raw, -60)
    assert adv.local_name == NAME
    assert adv.service_data == {FTMS_UUID: SERVICE_DATA}
    assert adv.manufacturer_data == {0x0059: b""}
    assert adv.tx_power == -10
    assert adv.rssi == -60
    assert advertisement_data_from_bytes(b"\x05\x09ab", 0).local_name is None


async def test_connect_timeout_leaves_the_host_able_to_connect_again(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    device = await _find(adapter)
    await peripheral.device.stop_advertising()
    client = adapter.client(device, timeout=0.3)
    with pytest.raises(TimeoutError):
        await client.connect()
    assert not client.is_connected
    await peripheral.device.start_advertising(auto_restart=True)
    client = adapter.client(device, timeout=3)
    await client.connect()
    assert _connected(client)
    await client.disconnect()


async def test_service_filter_limits_discovery(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    async with adapter.client(await _find(adapter), services=[TEST_SERVICE]) as client:
        assert [s.uuid for s in client.services] == [TEST_SERVICE]


async def test_raising_callback_does_not_stall_indications(
    adapter: Adapter, peripheral: TestPeripheral
) -> None:
    calls: list[bytes] = []
    second = asyncio.Event()

    def explode(_c: object, value: bytearray) -> None:
        calls.append(bytes(value))
        if len(calls) == 2:
            second.set()
        raise RuntimeError("application bug")

    async with adapter.client(await _find(adapter)) as client:
        await client.start_notify(CONTROL_UUID, explode)
        await client.write_gatt_char(CONTROL_UUID, b"\x01", response=True)
        await client.write_gatt_char(CONTROL_UUID, b"\x02", response=True)
        async with asyncio.timeout(2):
            await second.wait()
    assert calls == [b"\x80\x01", b"\x80\x02"]


async def test_concurrent_connects_on_one_host_are_serialized(
    radio: VirtualRadio, adapter: Adapter
) -> None:
    await TestPeripheral.start(radio, "F1:00:00:00:00:0C")
    await TestPeripheral.start(radio, "F1:00:00:00:00:0D")
    a = adapter.client("F1:00:00:00:00:0C", timeout=3)
    b = adapter.client("F1:00:00:00:00:0D", timeout=3)
    await asyncio.gather(a.connect(), b.connect())
    try:
        assert _connected(a)
        assert _connected(b)
    finally:
        await asyncio.gather(a.disconnect(), b.disconnect())


async def test_closed_adapter_raises_bleak_error(radio: VirtualRadio) -> None:
    async with open_adapter(radio) as adapter:
        client = adapter.client(ADDRESS, timeout=1)
    with pytest.raises(BleakError, match="closed"):
        await client.connect()
    with pytest.raises(BleakError, match="closed"):
        async with adapter.scanner():
            pass


def _busy_scanner_starts(monkeypatch: pytest.MonkeyPatch, refusals: int) -> list[int]:
    """BleakScanner.start refuses ``refusals`` times as BlueZ does while its previous discovery
    is still winding down; returns a list that counts the refusals made."""
    real_start = BleakScanner.start
    made: list[int] = []

    async def start(self: BleakScanner) -> None:
        if len(made) < refusals:
            made.append(1)
            raise BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
        await real_start(self)

    monkeypatch.setattr(BleakScanner, "start", start)
    monkeypatch.setattr(adapter_module, "SCAN_BUSY_WAIT_S", 0.01)
    return made


async def test_scan_start_refused_as_in_progress_is_tried_again(
    adapter: Adapter, peripheral: TestPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen under BlueZ 5.66: a run's first scan failed with "Operation already in progress"
    (bluetoothd's earlier discovery stop was refused by the kernel) and the run gave up."""
    made = _busy_scanner_starts(monkeypatch, adapter_module.SCAN_BUSY_RETRIES)
    device = await adapter.find_device_by_name(NAME, timeout=5)
    assert device is not None
    assert len(made) == adapter_module.SCAN_BUSY_RETRIES
    listed = await scan(adapter, timeout=0.5)
    assert [d.name for d in listed] == [NAME]


async def test_scan_start_that_stays_in_progress_gives_up(
    adapter: Adapter, peripheral: TestPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    _busy_scanner_starts(monkeypatch, adapter_module.SCAN_BUSY_RETRIES + 1)
    with pytest.raises(BleakDBusError, match="InProgress"):
        await adapter.find_device_by_name(NAME, timeout=5)
