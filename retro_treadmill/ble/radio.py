"""A virtual BLE radio: bumble controllers on one in-process link.

:class:`VirtualRadio` is the "air" between the virtual treadmill and our BLE code. Every
participant gets its own bumble virtual controller on one bumble ``LocalLink``, so advertising,
connection set-up, LL termination, ACL data, ATT, CCCD writes, notifications and indications all
travel through real HCI and real controller/host state machines; nothing is mocked.

Three ways onto the link:

* :meth:`VirtualRadio.create_device` - a bumble :class:`~bumble.device.Device` with its own
  controller (a peripheral such as the virtual treadmill, or any central). The device is returned
  **not powered**: add GATT services, then ``await device.power_on()`` and start advertising.
  The virtual controller does not answer scan requests, so put the local name and service data in
  the advertising data itself (31 bytes legacy), and advertise every 20-100 ms: a central's
  connection completes on the peripheral's next advertisement.
* :meth:`VirtualRadio.create_host` - the same, for a central; used by
  :func:`retro_treadmill.ble.adapter.open_adapter` when it is handed a radio.
* :meth:`VirtualRadio.serve_hci_over_tcp` - one more controller on the link, served as HCI over
  TCP (H4 framing) on a loopback address, so that another process (ours with
  ``--adapter bumble:tcp-client:HOST:PORT`` or any bumble host with the transport
  ``tcp-client:HOST:PORT``) drives it like a USB dongle. One TCP client at a time; each TCP
  session gets a fresh controller, and when the client goes away its links end for the peers
  with reason 0x08 (connection timeout), as when a real central vanishes.

Link faults: :meth:`VirtualRadio.drop_links` ends every connection of a device as a supervision
timeout (HCI reason 0x08) seen by both sides; :meth:`VirtualRadio.remove_device` takes a device's
controller off the air (power loss).

Example::

    radio = VirtualRadio()
    treadmill = radio.create_device("Virtual Treadmill", "F0:F0:F0:F0:F0:01")
    treadmill.add_service(...)
    await treadmill.power_on()
    await treadmill.start_advertising(advertising_data=..., advertising_interval_min=50,
                                      advertising_interval_max=50, auto_restart=True)
    server = await radio.serve_hci_over_tcp("127.0.0.1", 9700)
    ...
    await radio.close()
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import socket
from typing import Any, Final

from bumble import hci, ll
from bumble.controller import Controller
from bumble.core import PhysicalTransport
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, PacketParser

from retro_treadmill.errors import RetroTreadmillError

__all__ = [
    "DEFAULT_LISTEN_HOST",
    "DEFAULT_LISTEN_PORT",
    "HCI_CONNECTION_TIMEOUT",
    "HciTcpServer",
    "RadioError",
    "VirtualRadio",
    "check_loopback_host",
    "free_loopback_port",
]

logger = logging.getLogger(__name__)

DEFAULT_LISTEN_HOST: Final = "127.0.0.1"
DEFAULT_LISTEN_PORT: Final = 9700

HCI_CONNECTION_TIMEOUT: Final = 0x08
"""HCI error code "Connection Timeout" (Core Vol 1, Part F, 2.8): the reason a link ends with
when the supervision timeout expires, i.e. the peer went out of range or lost power."""

_UNKNOWN_CONNECTION_IDENTIFIER: Final = 0x02
_LE_ENHANCED_CONNECTION_COMPLETE_MASK: Final = 1 << 9


class RadioError(RetroTreadmillError):
    """The virtual radio cannot do what was asked (bad listen address, port in use, closed)."""


def check_loopback_host(host: str) -> str:
    """Return ``host`` if it is a loopback address (127.0.0.0/8, ::1 or ``localhost``).

    The virtual radio is a test and demo tool with no authentication; it must never listen on
    a network interface. Raises :class:`RadioError` otherwise.
    """
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise RadioError(
            f"listen address {host!r} is not an IP address; use a loopback address such as "
            f"{DEFAULT_LISTEN_HOST} or ::1"
        ) from None
    if not address.is_loopback:
        raise RadioError(
            f"refusing to serve the virtual radio on {host}: only loopback addresses "
            f"(127.0.0.1, ::1) are allowed, because HCI over TCP has no authentication"
        )
    return str(address)


class _RadioController(Controller):
    """bumble's virtual controller with a working LE Create Connection Cancel.

    bumble 0.0.236 acknowledges the cancel but keeps the pending connection and never sends the
    LE Connection Complete event the spec requires (Core Vol 4, Part E, 7.8.13), so a host that
    times out a connection attempt waits forever and cannot connect again.
    """

    linux_host = False
    """Set for a controller the Linux kernel drives (BlueZ through ``/dev/vhci``)."""

    def send_hci_packet(self, packet: Any) -> None:
        """With ``linux_host``: a connection completes with LE Enhanced Connection Complete when
        the host unmasked it, as the spec requires (Core Vol 4, Part E, 7.7.65.10).

        bumble 0.0.236 always sends the legacy event. Linux 6.1 waits for the enhanced one,
        times out, cancels (refused: "Opcode 0x200e failed: -16") and keeps a broken link
        state: its next disconnect never reaches the controller, whose link stays up, and the
        next connection to that peripheral fails.
        """
        if (
            self.linux_host
            and isinstance(packet, hci.HCI_LE_Connection_Complete_Event)
            and self.le_event_mask & _LE_ENHANCED_CONNECTION_COMPLETE_MASK
        ):
            packet = hci.HCI_LE_Enhanced_Connection_Complete_Event(
                status=packet.status,
                connection_handle=packet.connection_handle,
                role=packet.role,
                peer_address_type=packet.peer_address_type,
                peer_address=packet.peer_address,
                local_resolvable_private_address=hci.Address.ANY,
                peer_resolvable_private_address=hci.Address.ANY,
                connection_interval=packet.connection_interval,
                peripheral_latency=packet.peripheral_latency,
                supervision_timeout=packet.supervision_timeout,
                central_clock_accuracy=packet.central_clock_accuracy,
            )
        super().send_hci_packet(packet)

    def on_hci_le_create_connection_cancel_command(self, command: Any) -> Any:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        loop = asyncio.get_running_loop()
        loop.call_soon(self._send_cancelled_connection_complete, pending.peer_address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _send_cancelled_connection_complete(self, peer_address: Any) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=_UNKNOWN_CONNECTION_IDENTIFIER,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer_address.address_type,
                peer_address=peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )


def _end_links(controller: Any, reason: int) -> int:
    """End every LE link of ``controller``: the peer hears LL_TERMINATE_IND(reason) and the
    controller's own host (if any) a Disconnection Complete with the same reason."""
    connections = list(controller.le_connections.values())
    for connection in connections:
        connection.send_ll_control_pdu(ll.TerminateInd(reason))
        controller.on_le_disconnected(connection, reason)
    return len(connections)


def _silence(controller: Any) -> None:
    """Stop everything a controller would still put on the air by itself."""
    controller.le_legacy_advertiser.stop()
    for advertising_set in controller.advertising_sets.values():
        advertising_set.stop()
    controller.le_scan_enable = False
    controller.pending_le_connection = None


class _HciSession(asyncio.Protocol):
    """One TCP client driving one fresh controller on the link."""

    def __init__(self, server: HciTcpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._controller: Any = None
        self._parser: Any = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if len(self._server.sessions) >= self._server.max_clients:
            logger.warning(
                "HCI over TCP: refusing a client: %d already connected", len(self._server.sessions)
            )
            transport.close()
            return
        self._transport = transport
        self._server.attach(self)
        self._controller = self._server.radio.new_controller(
            f"{self._server.name}#{self._server.session_count}", host_sink=self
        )
        self._server.session_count += 1
        self._parser = PacketParser(self._controller)
        logger.info("HCI over TCP: client connected from %s", transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            return
        try:
            self._parser.feed_data(data)
        except Exception:
            logger.exception("HCI over TCP: invalid HCI stream; closing the connection")
            if self._transport is not None:
                self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.end()

    # bumble TransportSink: packets from the controller to the remote host
    def on_packet(self, packet: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(packet)

    def end(self) -> None:
        """Retire this session's controller; its peers see a connection timeout."""
        controller, self._controller = self._controller, None
        self._parser = None
        if controller is not None:
            controller.host = None
            self._server.radio.retire_controller(controller, HCI_CONNECTION_TIMEOUT)
            logger.info("HCI over TCP: client gone; its links ended with a connection timeout")
        self._server.detach(self)
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class HciTcpServer:
    """A controller on a :class:`VirtualRadio` served as HCI over TCP (H4 packet framing).

    Reach it with the bumble transport ``tcp-client:HOST:PORT``. Created by
    :meth:`VirtualRadio.serve_hci_over_tcp`. Up to ``max_clients`` remote hosts may be attached
    at once, each driving its own fresh controller; more are refused (their connection closed).
    """

    def __init__(self, radio: VirtualRadio, name: str, max_clients: int = 1) -> None:
        self.radio = radio
        self.name = name
        self.max_clients = max_clients
        self.sessions: list[_HciSession] = []
        """The attached remote hosts' sessions, oldest first."""
        self._idle = asyncio.Event()
        self._idle.set()
        self.session_count = 0
        self._server: asyncio.Server | None = None
        self._host = ""
        self._port = 0

    async def _start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _HciSession(self), host=host, port=port, reuse_address=True
            )
        except OSError as error:
            raise RadioError(
                f"cannot listen for HCI over TCP on {host}:{port}: {error.strerror or error}; "
                "choose another port with --listen HOST:PORT"
            ) from error
        sockname = self._server.sockets[0].getsockname()
        self._host, self._port = str(sockname[0]), int(sockname[1])

    @property
    def host(self) -> str:
        """The loopback address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The TCP port the server listens on (the real one when 0 was asked for)."""
        return self._port

    @property
    def transport_spec(self) -> str:
        """The bumble transport that reaches this server, e.g. ``tcp-client:127.0.0.1:9700``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"tcp-client:{host}:{self._port}"

    def attach(self, session: _HciSession) -> None:
        """Count ``session`` as attached (called by the session)."""
        self.sessions.append(session)
        self._idle.clear()

    def detach(self, session: _HciSession) -> None:
        """Forget ``session`` (called by the session as it ends); idempotent."""
        if session in self.sessions:
            self.sessions.remove(session)
        if not self.sessions:
            self._idle.set()

    @property
    def client_connected(self) -> bool:
        """Whether a remote host is attached right now."""
        return bool(self.sessions)

    async def wait_idle(self) -> None:
        """Return once no remote host is attached (a new one may then attach)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop listening and end the current client's session (its links time out)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for session in list(self.sessions):
            session.end()


class _RadioLink(LocalLink):
    """bumble's ``LocalLink`` that sends LE data from the address the link was made with.

    bumble 0.0.236 sends every LE ACL packet from the sender controller's random address, even
    on a connection it opened with its public address (LE Create Connection with Own Address
    Type public, as BlueZ does). The peer keeps that connection under the public address, so it
    drops all the data ("no connection for ...") and GATT never starts.
    """

    def send_acl_data(
        self, sender_controller: Any, destination_address: Any, transport: Any, data: bytes
    ) -> None:
        connection = sender_controller.le_connections.get(destination_address)
        if transport != PhysicalTransport.LE or connection is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        receiver = self.find_le_controller(destination_address)
        if receiver is not None:
            source = connection.self_address
            asyncio.get_running_loop().call_soon(receiver.on_link_acl_data, source, transport, data)


class VirtualRadio:
    """An in-process virtual BLE radio (one bumble ``LocalLink``). See the module docstring.

    Must be created and used inside a running asyncio event loop (bumble's controllers bind to
    it). Close it with :meth:`close` (or ``async with VirtualRadio() as radio``).
    """

    def __init__(self, *, public_address_hosts: bool = False) -> None:
        """``public_address_hosts``: send each LE link's data from the address the link was
        made with, for hosts that connect with their public address, as BlueZ does (see
        ``_RadioLink``). Off by default: bumble's own hosts use their random address, and
        ``tests/ftms/test_stop_preemption.py`` measured a different write ordering with it on
        (not understood yet)."""
        link_factory: Any = _RadioLink if public_address_hosts else LocalLink
        self._link: Any = link_factory()
        self._devices: list[Any] = []
        self._servers: list[HciTcpServer] = []
        self._names = itertools.count(1)
        self._closed = False

    async def __aenter__(self) -> VirtualRadio:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RadioError("the virtual radio is closed")

    def new_controller(self, name: str, host_sink: Any = None, *, linux_host: bool = False) -> Any:
        """Put a new virtual controller on the link (low level; prefer :meth:`create_device`).

        ``linux_host``: the Linux kernel drives it (``/dev/vhci``); see ``_RadioController``.
        """
        self._check_open()
        controller = _RadioController(name, link=self._link)
        controller.linux_host = linux_host
        if host_sink is not None:
            controller.host = host_sink
        return controller

    def retire_controller(self, controller: Any, reason: int = HCI_CONNECTION_TIMEOUT) -> None:
        """End a controller's links with ``reason``, silence it and take it off the link."""
        _end_links(controller, reason)
        _silence(controller)
        if controller in self._link.controllers:
            self._link.remove_controller(controller)

    def create_device(self, name: str, address: str | None = None) -> Device:
        """A bumble ``Device`` with its own controller on this radio, **not yet powered on**.

        ``address`` is the device's static random address ("F0:12:34:56:78:9A"; the two top
        bits must be set); a fresh one is generated when omitted. Add GATT services, then
        ``await device.power_on()``.
        """
        controller = self.new_controller(name or f"device-{next(self._names)}")
        host = Host(controller_source=controller, controller_sink=AsyncPipeSink(controller))
        bd_address = (
            hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
            if address
            else hci.Address.generate_static_address()
        )
        device = Device(name=name, address=bd_address, host=host)
        device.le_enabled = True
        self._devices.append(device)
        return device

    async def create_host(self, name: str = "retro-treadmill") -> Device:
        """A powered-on central :class:`~bumble.device.Device` on this radio (for our backend)."""
        device = self.create_device(name)
        await device.power_on()
        return device

    def drop_links(self, device: Device, reason: int = HCI_CONNECTION_TIMEOUT) -> int:
        """End every connection of ``device`` as if the radio link was lost.

        Both sides get a Disconnection Complete with ``reason`` (default 0x08, connection
        timeout). Returns the number of links ended.
        """
        return _end_links(self._controller_of(device), reason)

    def remove_device(self, device: Device) -> None:
        """Take a device off the air (power loss): its links time out for the peers."""
        controller = self._controller_of(device)
        controller.host = None
        self.retire_controller(controller, HCI_CONNECTION_TIMEOUT)
        if device in self._devices:
            self._devices.remove(device)

    def holds(self, device: Device) -> bool:
        """Whether ``device``'s controller is on this radio (not removed, radio not closed)."""
        return self._controller_of_or_none(device) is not None

    def _controller_of(self, device: Device) -> Any:
        controller = getattr(device.host, "hci_sink", None)
        controller = getattr(controller, "sink", controller)
        if controller not in self._link.controllers:
            raise RadioError(f"device {device.name!r} is not on this radio")
        return controller

    async def serve_hci_over_tcp(
        self,
        host: str = DEFAULT_LISTEN_HOST,
        port: int = DEFAULT_LISTEN_PORT,
        *,
        max_clients: int = 1,
    ) -> HciTcpServer:
        """Serve one more controller on this link as HCI over TCP on ``host:port``.

        Each remote host that connects gets a fresh controller of its own; up to
        ``max_clients`` at once (``simulate --count N`` serves N, one per treadmill).

        ``host`` must be a loopback address (see :func:`check_loopback_host`); ``port`` 0 picks a
        free port (read it from :attr:`HciTcpServer.port`). Raises :class:`RadioError` when the
        address is not loopback or the port is taken.
        """
        self._check_open()
        host = check_loopback_host(host)
        if not 0 <= port <= 65535:
            raise RadioError(f"TCP port {port} is out of range 0-65535")
        if max_clients < 1:
            raise RadioError(f"max_clients must be at least 1, got {max_clients}")
        server = HciTcpServer(self, f"hci-tcp-{next(self._names)}", max_clients)
        await server._start(host, port)
        self._servers.append(server)
        logger.info("virtual radio: HCI over TCP on %s", server.transport_spec)
        return server

    async def close(self) -> None:
        """Stop the TCP servers, end every link and power the devices off. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            await server.close()
        self._servers.clear()
        for device in self._devices:
            controller = self._controller_of_or_none(device)
            if controller is not None:
                _end_links(controller, HCI_CONNECTION_TIMEOUT)
                _silence(controller)
        # Let the hosts process the disconnections before the link goes away.
        await asyncio.sleep(0)
        for controller in list(self._link.controllers):
            self._link.remove_controller(controller)
        self._devices.clear()

    def _controller_of_or_none(self, device: Device) -> Any:
        try:
            return self._controller_of(device)
        except RadioError:
            return None


def free_loopback_port(host: str = DEFAULT_LISTEN_HOST) -> int:
    """A TCP port that is free on ``host`` right now (for tests and ``--listen HOST:0``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
