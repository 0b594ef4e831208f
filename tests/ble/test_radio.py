"""The virtual radio's HCI over TCP: loopback only, another process drives it like a dongle,
and link ends behave like a real radio's (connection timeout when a host vanishes)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bleak.exc import BleakError
from bumble import hci
from bumble.device import Device, Peer
from bumble.host import Host
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from retro_treadmill.ble.adapter import AdapterError, open_adapter, parse_adapter_spec
from retro_treadmill.ble.radio import (
    RadioError,
    VirtualRadio,
    check_loopback_host,
    free_loopback_port,
)
from tests.ble.peripheral import (
    ADDRESS,
    CONTROL_UUID,
    FTMS_UUID,
    NAME,
    READ_UUID,
    SERVICE_DATA,
    TestPeripheral,
    advertising_data,
)

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    check_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org", ""])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(RadioError, match="loopback"):
        check_loopback_host(host)


async def test_serving_on_a_network_interface_is_refused(radio: VirtualRadio) -> None:
    with pytest.raises(RadioError, match="only loopback"):
        await radio.serve_hci_over_tcp("0.0.0.0", 0)


async def test_port_in_use_is_a_clear_error(radio: VirtualRadio) -> None:
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0)
    with pytest.raises(RadioError, match=f"127.0.0.1:{server.port}.*--listen"):
        await radio.serve_hci_over_tcp("127.0.0.1", server.port)


def test_adapter_spec_parsing() -> None:
    assert parse_adapter_spec("system") is None
    assert parse_adapter_spec("bumble:tcp-client:127.0.0.1:9700") == "tcp-client:127.0.0.1:9700"
    assert parse_adapter_spec("bumble:usb:0") == "usb:0"
    for bad in ("bumble:", "hci0", "tcp-client:127.0.0.1:9700"):
        with pytest.raises(AdapterError, match="bumble:TRANSPORT"):
            parse_adapter_spec(bad)


async def test_system_adapter_uses_the_platform_backend() -> None:
    async with open_adapter("system") as adapter:
        assert adapter.central is None
        assert adapter.client_backend is None
        assert adapter.scanner_backend is None
    with pytest.raises(AdapterError, match="--snoop needs a bumble adapter"):
        async with open_adapter("system", snoop="capture.btsnoop"):
            pass


async def test_nothing_listening_gives_a_hint_to_start_simulate() -> None:
    port = free_loopback_port()
    with pytest.raises(AdapterError, match="retro-treadmill simulate"):
        async with open_adapter(f"bumble:tcp-client:127.0.0.1:{port}"):
            pass


async def test_tcp_client_scans_connects_and_gets_indications(
    radio: VirtualRadio, peripheral: TestPeripheral
) -> None:
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0)
    async with open_adapter(f"bumble:{server.transport_spec}") as adapter:
        assert server.client_connected
        device = await adapter.find_device_by_filter(
            lambda _d, ad: ad.service_data.get(FTMS_UUID) == SERVICE_DATA, timeout=3
        )
        assert device is not None
        received: asyncio.Queue[bytes] = asyncio.Queue()
        async with adapter.client(device) as client:
            await client.start_notify(CONTROL_UUID, lambda _c, v: received.put_nowait(bytes(v)))
            await client.write_gatt_char(CONTROL_UUID, b"\x07", response=True)
            async with asyncio.timeout(2):
                assert await received.get() == b"\x80\x07"
    assert peripheral.writes == [(CONTROL_UUID, b"\x07")]


async def test_second_tcp_client_is_refused_while_one_is_attached(radio: VirtualRadio) -> None:
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0)
    async with open_adapter(f"bumble:{server.transport_spec}"):
        with pytest.raises(AdapterError, match="transport closed"):
            async with open_adapter(f"bumble:{server.transport_spec}"):
                pass
    # Once the first host is gone, a new one gets a fresh controller.
    async with asyncio.timeout(2):
        await server.wait_idle()
    async with open_adapter(f"bumble:{server.transport_spec}"):
        assert server.client_connected


async def test_up_to_max_clients_hosts_attach_at_once_each_with_its_own_controller(
    radio: VirtualRadio, peripheral: TestPeripheral
) -> None:
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0, max_clients=2)
    spec = f"bumble:{server.transport_spec}"
    async with open_adapter(spec) as one, open_adapter(spec) as two:
        assert len(server.sessions) == 2
        with pytest.raises(AdapterError, match="transport closed"):
            async with open_adapter(spec):
                pass
        # Both hosts reach the peripheral, each over its own controller.
        for adapter in (one, two):
            device = await adapter.find_device_by_name(NAME, timeout=5)
            assert device is not None
            async with adapter.client(device) as client:
                await client.start_notify(CONTROL_UUID, lambda _c, _v: None)
                await client.write_gatt_char(CONTROL_UUID, b"\x07", response=True)
    assert peripheral.writes == [(CONTROL_UUID, b"\x07"), (CONTROL_UUID, b"\x07")]
    async with asyncio.timeout(2):
        await server.wait_idle()


async def test_vanished_tcp_host_ends_links_with_connection_timeout(
    radio: VirtualRadio, peripheral: TestPeripheral
) -> None:
    """Another program's bumble host attaches, connects, then dies without disconnecting: the
    peripheral sees the link end with HCI reason 0x08, as after a supervision timeout."""
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0)
    reasons: asyncio.Queue[int] = asyncio.Queue()
    peripheral.device.on(
        "connection",
        lambda connection: connection.on("disconnection", reasons.put_nowait),
    )
    transport = await open_transport(server.transport_spec)
    host = Device.with_hci(
        "other-program", hci.Address("C0:00:00:00:00:01"), transport.source, transport.sink
    )
    await host.power_on()
    await host.connect(hci.Address("F1:00:00:00:00:01"), timeout=3)
    await transport.close()
    async with asyncio.timeout(2):
        assert await reasons.get() == 0x08


async def test_radio_drop_links_reports_timeout_to_both_sides(
    radio: VirtualRadio, peripheral: TestPeripheral
) -> None:
    reasons: asyncio.Queue[int] = asyncio.Queue()
    peripheral.device.on(
        "connection",
        lambda connection: connection.on("disconnection", reasons.put_nowait),
    )
    lost = asyncio.Event()
    async with open_adapter(radio) as adapter:
        client = adapter.client("F1:00:00:00:00:01", lambda _c: lost.set(), timeout=3)
        await client.connect()
        assert radio.drop_links(peripheral.device) == 1
        async with asyncio.timeout(0.5):
            await lost.wait()
            assert await reasons.get() == 0x08
        # The peripheral advertises again and can be reached once more.
        await client.connect()
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
        await client.disconnect()


@pytest.mark.parametrize(("linux_host", "subevent"), [(True, 0x0A), (False, 0x01)])
async def test_linux_host_controller_completes_connections_with_the_enhanced_event(
    linux_host: bool, subevent: int
) -> None:
    """Linux 6.1 unmasks LE Enhanced Connection Complete (subevent 0x0A) and waits for it; bumble
    sent only the legacy one (0x01), so the kernel cancelled a connection that had completed and
    later "disconnected" it without telling the controller: the next session could not connect.
    """
    async with VirtualRadio(public_address_hosts=True) as radio:
        await TestPeripheral.start(radio)
        controller = radio.new_controller("linux", linux_host=linux_host)
        controller.public_address = "F2:00:00:00:00:02"
        host = Host(controller_source=controller, controller_sink=AsyncPipeSink(controller))
        to_host = controller.host
        seen: list[int] = []

        class Spy:
            def on_packet(self, packet: bytes) -> None:
                if packet[:2] == b"\x04\x3e":  # HCI event, LE Meta
                    seen.append(packet[3])
                to_host.on_packet(packet)

        controller.host = Spy()
        central = Device(name="linux", host=host)
        await central.power_on()  # bumble's host unmasks the enhanced event, as Linux does
        connection = await central.connect(
            hci.Address(ADDRESS, hci.Address.RANDOM_DEVICE_ADDRESS),
            own_address_type=hci.OwnAddressType.PUBLIC,
            timeout=3,
        )
        assert subevent in seen
        assert ({0x01, 0x0A} - {subevent}).isdisjoint(seen)
        await connection.disconnect()


async def test_central_on_its_public_address_gets_gatt_answers() -> None:
    """BlueZ opens LE links with its controller's public address (Own Address Type public).

    bumble's LocalLink sent the central's data from its random address instead, so the
    peripheral dropped every ATT request ("no connection for ...") and BlueZ never connected.
    """
    async with VirtualRadio(public_address_hosts=True) as radio:
        await TestPeripheral.start(radio)
        await _read_over_a_public_address_link(radio)


async def _read_over_a_public_address_link(radio: VirtualRadio) -> None:
    controller = radio.new_controller("public-central")
    controller.public_address = "F2:00:00:00:00:01"
    host = Host(controller_source=controller, controller_sink=AsyncPipeSink(controller))
    central = Device(name="public-central", host=host)
    await central.power_on()
    connection = await central.connect(
        hci.Address(ADDRESS, hci.Address.RANDOM_DEVICE_ADDRESS),
        own_address_type=hci.OwnAddressType.PUBLIC,
        timeout=3,
    )
    peer = Peer(connection)
    async with asyncio.timeout(3):
        await peer.discover_services()
        characteristics = await peer.discover_characteristics(uuids=[READ_UUID])
        assert characteristics, "no answer to the GATT discovery"
        assert await characteristics[0].read_value() == b"retro"
    await connection.disconnect()


@pytest.fixture
async def peripheral_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.ble.peripheral",
        "--port",
        "0",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        assert line.startswith("READY "), line
        yield process, int(line.split()[1])
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_peripheral_in_another_process(
    peripheral_process: tuple[asyncio.subprocess.Process, int],
) -> None:
    process, port = peripheral_process
    lost = asyncio.Event()
    async with open_adapter(f"bumble:tcp-client:127.0.0.1:{port}") as adapter:
        start = time.perf_counter()
        device = await adapter.find_device_by_name(NAME, timeout=5)
        assert device is not None
        async with adapter.client(device, lambda _c: lost.set()) as client:
            connect_time = time.perf_counter() - start
            assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
            received: asyncio.Queue[bytes] = asyncio.Queue()
            await client.start_notify(CONTROL_UUID, lambda _c, v: received.put_nowait(bytes(v)))
            await client.write_gatt_char(CONTROL_UUID, b"\x01", response=True)
            async with asyncio.timeout(2):
                assert await received.get() == b"\x80\x01"
            assert connect_time < 3
            # The serving process dies: the client hears about it at once.
            process.kill()
            async with asyncio.timeout(0.5):
                await lost.wait()
            assert not client.is_connected
            # reported as a link that timed out, not bumble's flush reason 0 ("success")
            assert getattr(client._backend, "disconnect_reason", None) == 0x08


async def test_snoop_file_opens_in_tshark_with_att_traffic(
    radio: VirtualRadio, peripheral: TestPeripheral, tmp_path: Path
) -> None:
    capture = tmp_path / "session.btsnoop"
    async with (
        open_adapter(radio, snoop=str(capture)) as adapter,
        adapter.client("F1:00:00:00:00:01", timeout=3) as client,
    ):
        await client.start_notify(CONTROL_UUID, lambda _c, _v: None)
        await client.write_gatt_char(CONTROL_UUID, b"\x05", response=True)
    data = capture.read_bytes()
    assert data.startswith(b"btsnoop\x00")
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    result = await asyncio.to_thread(
        subprocess.run,
        [tshark, "-r", str(capture), "-Y", "btatt.opcode == 0x12 || btatt.opcode == 0x1d"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("Write Request" in line for line in lines), result.stdout
    assert any("Handle Value Indication" in line for line in lines), result.stdout


async def test_drives_a_peripheral_behind_another_programs_virtual_controllers() -> None:
    """bumble's own `controllers` app (two virtual controllers on one link, each served as
    tcp-server): a plain bumble peripheral on one, our adapter on the other."""
    ports = [free_loopback_port(), free_loopback_port()]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bumble.apps.controllers",
        *(f"tcp-server:127.0.0.1:{port}" for port in ports),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        transport = None
        async with asyncio.timeout(10):
            while transport is None:
                try:
                    transport = await open_transport(f"tcp-client:127.0.0.1:{ports[0]}")
                except OSError:
                    await asyncio.sleep(0.05)  # the app is still starting
        peripheral = TestPeripheral(
            Device.with_hci(
                NAME, hci.Address("F1:00:00:00:00:02"), transport.source, transport.sink
            )
        )
        await peripheral.device.power_on()
        await peripheral.device.start_advertising(
            advertising_data=advertising_data(),
            advertising_interval_min=50,
            advertising_interval_max=50,
        )
        async with (
            open_adapter(f"bumble:tcp-client:127.0.0.1:{ports[1]}") as adapter,
            adapter.client("F1:00:00:00:00:02", timeout=5) as client,
        ):
            assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
        await transport.close()
    finally:
        process.kill()
        await process.wait()


async def test_adapter_reattaches_when_the_served_radio_comes_back(
    radio: VirtualRadio, peripheral: TestPeripheral
) -> None:
    """The simulate process restarts: the link loss is reported, and the next connection
    attempt opens the transport again instead of failing forever."""
    server = await radio.serve_hci_over_tcp("127.0.0.1", 0)
    port = server.port
    lost = asyncio.Event()
    async with open_adapter(f"bumble:tcp-client:127.0.0.1:{port}") as adapter:
        client = adapter.client("F1:00:00:00:00:01", lambda _c: lost.set(), timeout=3)
        await client.connect()
        await server.close()
        async with asyncio.timeout(0.5):
            await lost.wait()
        assert not client.is_connected
        with pytest.raises(BleakError, match="cannot open bumble transport"):
            await client.connect()
        await radio.serve_hci_over_tcp("127.0.0.1", port)
        await client.connect()
        assert await client.read_gatt_char(READ_UUID) == bytearray(b"retro")
        await client.disconnect()
        assert await adapter.find_device_by_name(NAME, timeout=3) is not None
