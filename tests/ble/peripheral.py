"""A small bumble GATT server for the BLE backend tests, in-process or as its own process.

Service ``TEST_SERVICE`` holds:

* ``READ_UUID``: read -> ``b"retro"``.
* ``NOTIFY_UUID``: read + notify; :meth:`TestPeripheral.notify` sends a value.
* ``CONTROL_UUID``: write + indicate, an FTMS-like control point: a write is answered by an
  indication ``0x80 + written bytes``; ATT error 0xFD when indications are not enabled, 0xFE when
  the first byte is 0xFE (as FTMS does for a procedure already in progress); no response at all
  when the first byte is 0xAA.
* ``ECHO_UUID``: write, write without response and notify: every write is notified back.

It advertises (legacy PDU, 50 ms) a 16-bit service UUID list and service data for 0x1826 and the
local name ``NAME``, like an FTMS treadmill.

Run as a process (prints ``READY <port>`` once the HCI over TCP server listens)::

    python -m tests.ble.peripheral --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from bumble import att
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service

from retro_treadmill.ble.radio import VirtualRadio

NAME = "RT-Test"
ADDRESS = "F1:00:00:00:00:01"
FTMS_16 = 0x1826
FTMS_UUID = "00001826-0000-1000-8000-00805f9b34fb"
SERVICE_DATA = b"\x01\x01\x00"
TEST_SERVICE = "7e570000-7e57-4e57-8e57-7e5700000000"
READ_UUID = "7e570001-7e57-4e57-8e57-7e5700000000"
NOTIFY_UUID = "7e570002-7e57-4e57-8e57-7e5700000000"
CONTROL_UUID = "7e570003-7e57-4e57-8e57-7e5700000000"
ECHO_UUID = "7e570004-7e57-4e57-8e57-7e5700000000"


def advertising_data(name: str = NAME) -> bytes:
    """Flags, 16-bit UUID list (0x1826), 0x1826 service data and the complete local name."""
    flags = bytes([2, 0x01, 0x06])
    uuids = bytes([3, 0x03]) + FTMS_16.to_bytes(2, "little")
    service_data = bytes([3 + len(SERVICE_DATA), 0x16]) + FTMS_16.to_bytes(2, "little")
    service_data += SERVICE_DATA
    encoded = name.encode()
    return flags + uuids + service_data + bytes([1 + len(encoded), 0x09]) + encoded


class TestPeripheral:
    """The GATT server above on a bumble ``Device``; records what clients did."""

    __test__ = False  # not a pytest test class

    def __init__(self, device: Device) -> None:
        self.device = device
        self.writes: list[tuple[str, bytes]] = []
        self.subscriptions: list[tuple[str, bool, bool]] = []
        self._indications_on: dict[int, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stalled = asyncio.Event()
        self.read_char = Characteristic(
            READ_UUID, Characteristic.Properties.READ, Characteristic.READABLE, b"retro"
        )
        self.notify_char = Characteristic(
            NOTIFY_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            b"\x00",
        )
        self.control_char: Characteristic[Any] = Characteristic(
            CONTROL_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.INDICATE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_control_write),
        )
        self.echo_char: Characteristic[Any] = Characteristic(
            ECHO_UUID,
            Characteristic.Properties.WRITE
            | Characteristic.Properties.WRITE_WITHOUT_RESPONSE
            | Characteristic.Properties.NOTIFY,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_echo_write),
        )
        for char in (self.notify_char, self.control_char, self.echo_char):
            char.on(char.EVENT_SUBSCRIPTION, self._subscription_handler(char))
        device.add_service(
            Service(
                TEST_SERVICE,
                [self.read_char, self.notify_char, self.control_char, self.echo_char],
            )
        )

    @classmethod
    async def start(cls, radio: VirtualRadio, address: str = ADDRESS) -> TestPeripheral:
        """Create, power on and start advertising on ``radio``."""
        peripheral = cls(radio.create_device(NAME, address))
        await peripheral.device.power_on()
        await peripheral.device.start_advertising(
            advertising_data=advertising_data(),
            advertising_interval_min=50,
            advertising_interval_max=50,
            auto_restart=True,
        )
        return peripheral

    def _subscription_handler(self, char: Characteristic[Any]) -> Any:
        def handler(bearer: Any, notify: bool, indicate: bool) -> None:
            self.subscriptions.append((str(char.uuid).lower(), notify, indicate))
            self._indications_on[char.handle] = indicate

        return handler

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_control_write(self, connection: Connection, value: bytes) -> None:
        if not self._indications_on.get(self.control_char.handle):
            raise att.ATT_Error(0xFD)
        if value[:1] == b"\xfe":
            raise att.ATT_Error(0xFE)
        if value[:1] == b"\xaa":
            # Never answered: lets a test lose the link while a request is in flight.
            self.stalled.set()
            await asyncio.Event().wait()
        self.writes.append((CONTROL_UUID, bytes(value)))
        self._spawn(self.device.indicate_subscriber(connection, self.control_char, b"\x80" + value))

    def _on_echo_write(self, connection: Connection, value: bytes) -> None:
        self.writes.append((ECHO_UUID, bytes(value)))
        self._spawn(self.device.notify_subscriber(connection, self.echo_char, bytes(value)))

    async def notify(self, value: bytes) -> None:
        """Notify ``value`` on ``NOTIFY_UUID`` to every subscriber."""
        await self.device.notify_subscribers(self.notify_char, value)

    async def disconnect_all(self) -> None:
        """Peripheral-initiated disconnection (HCI reason 0x13) of every client."""
        for connection in list(self.device.connections.values()):
            await connection.disconnect()


async def _serve(port: int) -> None:
    async with VirtualRadio() as radio:
        await TestPeripheral.start(radio)
        server = await radio.serve_hci_over_tcp("127.0.0.1", port)
        print(f"READY {server.port}", flush=True)
        # Serve until the parent closes our stdin.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    """Serve the test peripheral over HCI over TCP on 127.0.0.1:PORT until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
