"""The virtual treadmill as a real BLE peripheral: an FTMS GATT server on a bumble ``Device``.

Python API (everything a test or script needs)::

    from retro_treadmill.ble.radio import VirtualRadio
    from retro_treadmill.sim import VirtualTreadmill

    async with VirtualRadio() as radio:
        sim = VirtualTreadmill.on_radio(radio, personality="spec", clock=ScaledClock(20),
                                        faults=["drop-link@30s"], seed=1)
        await sim.start()                 # GATT services, advertising, tick/telemetry loop
        ...                               # clients connect (bleak through our bumble backend)
        await sim.wait_for(lambda s: s.belt_speed_kmh > 2.0, timeout=10)   # sim seconds
        sim.writes[-1].perf_counter       # wall-clock arrival of the last 2AD9 write
        sim.schedule("take-control@40s")  # a fault at a sim time (spec string or Fault)
        await sim.inject("safety-key")    # a fault now
        await sim.close()

Fault helpers (each also reachable as a spec string, see :mod:`retro_treadmill.sim.faults`):
``drop_link()``, ``console_speed(delta_kmh)``, ``console_stop()``, ``pull_safety_key()``,
``insert_safety_key()``, ``take_control()``, ``reboot(downtime_s)`` (returns when advertising
again). ``wait_for_write(opcode)`` waits for a control-point write.

``device`` is a bumble ``Device`` whose host is attached to a controller, not yet powered on;
:meth:`VirtualTreadmill.on_radio` makes one on a :class:`~retro_treadmill.ble.radio.VirtualRadio`
(the usual way: ``VirtualTreadmill.on_radio(radio, personality="spec", clock=clock)``).

``advertising_interval_ms`` (default 50) sets how often it advertises; a host that pays for
every advertisement (BlueZ under emulation, ``tests/bluez/``) gets a slower one.

Observable state: ``belt_speed_kmh``, ``target_speed_kmh``, ``incline_pct``,
``target_incline_pct``, ``state`` (RunState), ``running``, ``controller`` (peer address string,
``"console"`` or ``None``), ``connections`` (peer addresses), ``writes``
(:class:`ControlPointWrite`), ``sent`` (:class:`SentValue`, every value put on the air),
``elapsed`` (sim seconds since start), ``failed`` (an ``asyncio.Event`` set when the tick/telemetry
loop died of an error, which is logged; ``failure`` holds it). ``wait_for`` timeouts are in the sim
clock's seconds. :meth:`close` is bounded (1 s per HCI step, none for a treadmill taken off the
radio) and ends every task the treadmill started.

Wire behaviour: FTMS service 0x1826 with 2ACC (read), 2ACD (notify), 2AD3 (read, notify), 2AD4,
2AD5 (read), 2AD9 (write, indicate; notify for personalities that answer so), 2ADA (notify);
Device Information; advertising with the FTMS Service Data (flags: available; type: treadmill,
FTMS §3.1) and the local name. Control point per FTMS §4.16: ATT error 0xFD when the client has
not enabled 2AD9 indications, 0xFE while a procedure is in progress (from the write until the
response goes out), result codes 0x02-0x05, control revoked on Reset and disconnect, 0xFF
Control Permission Lost to the old holder when another client takes control.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from bumble import att, gatt, hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.snoop import BtSnooper

from retro_treadmill.clock import Clock, MonotonicClock
from retro_treadmill.sim import _wire
from retro_treadmill.sim.core import CONSOLE, ClientId, Outcome, Send, Target, TreadmillCore
from retro_treadmill.sim.faults import Fault, FaultKind, parse_fault
from retro_treadmill.sim.personalities import Personality, get_personality
from retro_treadmill.sim.physics import RunState

if TYPE_CHECKING:
    from retro_treadmill.ble.radio import VirtualRadio

logger = logging.getLogger(__name__)

# 16-bit SIG numbers as bumble's GATT server takes them (FTMS Table 4.1).
UUID_FTMS = "1826"
UUID_FEATURE = "2ACC"
UUID_TREADMILL_DATA = "2ACD"
UUID_TRAINING_STATUS = "2AD3"
UUID_SPEED_RANGE = "2AD4"
UUID_INCLINATION_RANGE = "2AD5"
UUID_CONTROL_POINT = "2AD9"
UUID_MACHINE_STATUS = "2ADA"

ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
ATT_UNLIKELY_ERROR = 0x0E

DEFAULT_ADDRESS = "F0:F1:F2:F3:F4:F5"
"""Static random address of the virtual treadmill on the virtual radio."""
DEFAULT_NAME = "RetroSim FTMS"
"""Short enough to fit the 31-byte advertising data beside the FTMS service data."""


@dataclass(frozen=True)
class ControlPointWrite:
    """One write to 2AD9 as it arrived: ``perf_counter`` is ``time.perf_counter()`` on arrival.

    ``result`` is the FTMS result code answered (``None`` when refused with the ATT error
    ``att_error`` or not answered at all because of a fault).
    """

    perf_counter: float
    sim_time: float
    client: str
    data: bytes
    opcode: int | None
    result: int | None = None
    att_error: int | None = None


@dataclass(frozen=True)
class SentValue:
    """A value the treadmill put on the air (after fault filtering): for wire assertions."""

    perf_counter: float
    sim_time: float
    target: Target
    value: bytes
    to: str | None
    via: str


@dataclass
class _ActiveFaults:
    drop_notifications_until: float | None = None
    drop_only: str | None = None
    delay_notifications_s: float = 0.0
    delay_notifications_until: float | None = None
    delay_only: str | None = None
    response_delay_s: float = 0.0
    response_delay_count: int | None = None
    lose_responses: int = 0
    forced: list[Fault] = field(default_factory=list)


def _address(connection: Connection) -> str:
    return str(connection.peer_address)


class VirtualTreadmill:
    """An FTMS treadmill on a bumble ``Device`` (see the module docstring for the API)."""

    def __init__(
        self,
        device: Device,
        *,
        personality: Personality | str = "spec",
        clock: Clock | None = None,
        name: str = DEFAULT_NAME,
        faults: Iterable[Fault | str] = (),
        seed: int = 0,
        snoop: BinaryIO | None = None,
        log: Callable[[str], None] | None = None,
        advertising_interval_ms: float = 50.0,
    ) -> None:
        self.device = device
        self.advertising_interval_ms = advertising_interval_ms
        self.personality = (
            get_personality(personality) if isinstance(personality, str) else personality
        )
        self.clock: Clock = clock or MonotonicClock()
        self.name = name
        self.rng = random.Random(seed)
        self._t0 = self.clock.now()
        self.core = TreadmillCore(self.personality, 0.0)
        self.writes: list[ControlPointWrite] = []
        self.sent: list[SentValue] = []
        self._log = log or (lambda message: logger.info("%s", message))
        self._scheduled: list[Fault] = []
        for f in faults:
            self.schedule(f)
        self._faults = _ActiveFaults()
        self._connections: dict[ClientId, Connection] = {}
        self._pending: Connection | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._advertising_paused = False
        self._closing = False
        self.failed = asyncio.Event()
        """Set when the tick/telemetry loop died of an error (logged; see :attr:`failure`)."""
        self.failure: BaseException | None = None
        self._snoop = snoop
        self.radio: VirtualRadio | None = None
        self._build_gatt()
        device.on(device.EVENT_CONNECTION, self._on_connection)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def on_radio(
        cls, radio: VirtualRadio, address: str = DEFAULT_ADDRESS, **kwargs: Any
    ) -> VirtualTreadmill:
        """A treadmill with its own virtual controller on ``radio`` (H2's ``VirtualRadio``).

        Link drops (fault ``drop-link``) then end the links as a radio dropout does (HCI reason
        0x08 on both sides, no LL terminate exchange).
        """
        device = radio.create_device(kwargs.get("name", DEFAULT_NAME), address)
        sim = cls(device, **kwargs)
        sim.radio = radio
        return sim

    def _characteristic(
        self,
        uuid: str,
        props: gatt.Characteristic.Properties,
        read: Callable[[Connection], bytes] | None = None,
        write: Callable[[Connection, bytes], Awaitable[None]] | None = None,
        encrypted_writes: bool = False,
    ) -> gatt.Characteristic[bytes]:
        permissions = (gatt.Characteristic.READABLE if read else 0) | (
            gatt.Characteristic.WRITEABLE if write else 0
        )
        if encrypted_writes:
            permissions |= gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION
        value: gatt.CharacteristicValue[bytes] | bytes = (
            gatt.CharacteristicValue(read=read, write=write) if (read or write) else b""
        )
        return gatt.Characteristic(uuid, props, gatt.Characteristic.Permissions(permissions), value)

    def _build_gatt(self) -> None:
        p = self.personality
        m = p.motor
        P = gatt.Characteristic.Properties
        write_props = {
            "write": P.WRITE,
            "write-without-response": P.WRITE_WITHOUT_RESPONSE,
            "both": P.WRITE | P.WRITE_WITHOUT_RESPONSE,
        }[p.control_point_write]
        cp_props = write_props | (P.INDICATE if p.response_via == "indicate" else P.NOTIFY)
        self._feature = self._characteristic(
            UUID_FEATURE,
            P.READ,
            read=lambda _c: _wire.features(p.fitness_machine_features, p.target_setting_features),
        )
        self._treadmill_data = self._characteristic(UUID_TREADMILL_DATA, P.NOTIFY)
        self._training = self._characteristic(
            UUID_TRAINING_STATUS,
            P.READ | P.NOTIFY,
            read=self._read_training_status,
        )
        self._speed_range = self._characteristic(
            UUID_SPEED_RANGE,
            P.READ,
            read=lambda _c: _wire.speed_range(
                m.min_speed_kmh, m.max_speed_kmh, m.speed_increment_kmh
            ),
        )
        self._incline_range = self._characteristic(
            UUID_INCLINATION_RANGE,
            P.READ,
            read=lambda _c: _wire.inclination_range(
                m.min_incline_pct, m.max_incline_pct, m.incline_increment_pct
            ),
        )
        self._control_point = self._characteristic(
            UUID_CONTROL_POINT,
            cp_props,
            write=self._on_control_point_write,
            encrypted_writes=p.require_encryption,
        )
        self._status = self._characteristic(UUID_MACHINE_STATUS, P.NOTIFY)
        self._by_target: dict[Target, gatt.Characteristic[bytes]] = {
            "2ACD": self._treadmill_data,
            "2AD3": self._training,
            "2ADA": self._status,
            "2AD9": self._control_point,
        }
        characteristics = [
            self._feature,
            self._treadmill_data,
            self._training,
            self._speed_range,
            self._incline_range,
            self._control_point,
            self._status,
        ]
        if not p.incline_range_characteristic:
            characteristics.remove(self._incline_range)
        ftms = gatt.Service(UUID_FTMS, characteristics)
        dis = DeviceInformationService(
            manufacturer_name=p.manufacturer,
            model_number=p.model,
            serial_number="SIM-0001",
            firmware_revision="1.0",
            software_revision=f"personality {p.name}",
        )
        self.device.add_services([ftms, dis])

    def _read_training_status(self, _connection: Connection) -> bytes:
        if not self.personality.training_status_readable:
            raise att.ATT_Error(ATT_UNLIKELY_ERROR)
        return _wire.training_status(self.core.training_status)

    def advertising_data(self) -> bytes:
        """Flags, the FTMS service UUID and Service Data (FTMS §3.1) and the local name."""
        service_data = bytes.fromhex("2618") + _wire.service_data(self.personality.ftms_available)
        name = self.name.encode()
        entries: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes.fromhex("2618")),
            (AdvertisingData.SERVICE_DATA_16_BIT_UUID, service_data),
        ]
        used = sum(2 + len(v) for _, v in entries)
        room = 31 - used - 2
        if len(name) <= room:
            entries.append((AdvertisingData.COMPLETE_LOCAL_NAME, name))
        else:
            entries.append((AdvertisingData.SHORTENED_LOCAL_NAME, name[:room]))
        return bytes(AdvertisingData(entries))

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, advertise, and run the tick/telemetry loop until :meth:`close`."""
        if self._snoop is not None:
            self.device.host.snooper = BtSnooper(self._snoop)
        self.device.name = self.name
        await self.device.power_on()
        self._t0 = self.clock.now()
        self.core = TreadmillCore(self.personality, 0.0)
        await self._advertise()
        self._runner = asyncio.create_task(self._run_reporting(), name="virtual-treadmill")
        self._log(
            f"virtual treadmill {self.name!r} ({self.personality.name}) advertising as "
            f"{self.device.random_address}"
        )

    async def close(self) -> None:
        """Stop the loop, drop the links and power off; every task it started has ended.

        Each HCI step is bounded (1 s): a controller that no longer answers (taken off the
        radio, transport gone) must not hold close() for bumble's 10 s command timeout.
        """
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        on_air = self.radio is None or self.radio.holds(self.device)
        if on_air:
            # Let HCI commands in flight (advertising again after a link drop) get their answer:
            # cancelling one lets its answer reach bumble's cancelled command future first, and
            # bumble then logs InvalidStateError with a traceback after the run's last line.
            await self._settle_tasks(1.0)
        await self._cancel_tasks()
        if on_air:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.device.stop_advertising(), 1.0)
            for connection in list(self._connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.device.power_off(), 1.0)
        await self._cancel_tasks()

    async def _settle_tasks(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the tasks already started (none start once closing)."""
        tasks = [task for task in self._tasks if not task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> VirtualTreadmill:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _advertise(self) -> None:
        await self.device.start_advertising(
            advertising_data=self.advertising_data(),
            scan_response_data=bytes(
                AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
            ),
            auto_restart=False,
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        if self._closing:
            coro.close()  # closed: nothing goes on the air any more
            return

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("virtual treadmill task %s: %r", name, exc)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- observable state -----------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Sim seconds since :meth:`start`."""
        return self.clock.now() - self._t0

    @property
    def belt_speed_kmh(self) -> float:
        """The belt's speed now, km/h."""
        self.core.model.advance(self.elapsed)
        return self.core.model.belt_speed_kmh

    @property
    def target_speed_kmh(self) -> float:
        """The speed the belt is heading for, km/h (0 when stopped)."""
        return self.core.model.target_speed_kmh

    @property
    def incline_pct(self) -> float:
        """The deck's incline now, %."""
        self.core.model.advance(self.elapsed)
        return self.core.model.incline_pct

    @property
    def target_incline_pct(self) -> float:
        """The incline target, %."""
        return self.core.model.target_incline_pct

    @property
    def state(self) -> RunState:
        """idle / running / paused / stopped."""
        return self.core.model.state

    @property
    def running(self) -> bool:
        """Whether the treadmill is in the running state."""
        return self.core.model.state is RunState.RUNNING

    @property
    def controller(self) -> str | None:
        """Who has control: a peer address, ``"console"`` (taken by another) or ``None``."""
        holder = self.core.controller
        if holder is None:
            return None
        if holder == CONSOLE:
            return "console"
        connection = self._connections.get(holder)
        return _address(connection) if connection is not None else str(holder)

    @property
    def connections(self) -> list[str]:
        """Peer addresses of the connected clients."""
        return [_address(c) for c in self._connections.values()]

    async def wait_for(
        self,
        predicate: Callable[[VirtualTreadmill], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - sim clock seconds, not wall time
    ) -> None:
        """Wait until ``predicate(self)`` holds; TimeoutError after ``timeout`` clock seconds."""
        deadline = self.clock.now() + timeout
        while not predicate(self):
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                raise TimeoutError(f"virtual treadmill: condition not met within {timeout} s")
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(min(remaining, 0.5)))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    async def wait_for_write(
        self,
        opcode: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - sim clock seconds, not wall time
        after: int = 0,
    ) -> ControlPointWrite:
        """The first 2AD9 write with ``opcode`` at index >= ``after`` in :attr:`writes`."""

        def found(s: VirtualTreadmill) -> bool:
            return any(w.opcode == opcode for w in s.writes[after:])

        await self.wait_for(found, timeout)
        return next(w for w in self.writes[after:] if w.opcode == opcode)

    def _notify_changed(self) -> None:
        self._changed.set()

    # -- connections ----------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        key: ClientId = connection.handle
        self._connections[key] = connection
        self._log(f"connected: {_address(connection)}")
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, key, reason),
        )
        if not self._advertising_paused:
            # Stay connectable for a second client (another client may take control).
            self._spawn(self._advertise(), "advertise")
        self._notify_changed()

    def _on_disconnection(self, connection: Connection, key: ClientId, reason: int) -> None:
        self._connections.pop(key, None)
        if self._pending is connection:
            self._pending = None
        sends = self.core.disconnected(key, self.elapsed)
        self._log(f"disconnected: {_address(connection)} (reason 0x{reason:02X})")
        self._deliver(sends)
        if not self._advertising_paused:
            self._spawn(self._advertise(), "advertise")
        self._notify_changed()

    # -- control point --------------------------------------------------------------------------

    def _cccd_ok(self, connection: Connection) -> bool:
        cccd = self.device.gatt_server.read_cccd(connection, self._control_point)
        bits = int.from_bytes(cccd[:2], "little") if cccd else 0
        wanted = 0x02 if self.personality.response_via == "indicate" else 0x01
        return bool(bits & wanted)

    def _take_forced(self, opcode: int) -> Fault | None:
        for index, fault in enumerate(self._faults.forced):
            if fault.opcode is None or fault.opcode == opcode:
                remaining = (fault.count or 1) - 1
                if remaining > 0:
                    self._faults.forced[index] = dataclasses.replace(fault, count=remaining)
                else:
                    del self._faults.forced[index]
                return fault
        return None

    async def _on_control_point_write(self, connection: Connection, value: bytes) -> None:
        arrived = time.perf_counter()
        now = self.elapsed
        data = bytes(value)
        opcode = data[0] if data else None
        client = _address(connection)

        def record(**kw: Any) -> None:
            self.writes.append(ControlPointWrite(arrived, now, client, data, opcode, **kw))
            self._notify_changed()

        if self.personality.require_cccd and not self._cccd_ok(connection):
            record(att_error=ATT_CCCD_IMPROPERLY_CONFIGURED)
            raise att.ATT_Error(ATT_CCCD_IMPROPERLY_CONFIGURED)
        if self._pending is not None:
            record(att_error=ATT_PROCEDURE_ALREADY_IN_PROGRESS)
            raise att.ATT_Error(ATT_PROCEDURE_ALREADY_IN_PROGRESS)
        forced = self._take_forced(opcode if opcode is not None else -1)
        outcome = self.core.control_point(
            connection.handle, data, now, forced_result=forced.code if forced else None
        )
        record(result=outcome.result)
        self._log(f"control point from {client}: {data.hex(' ')} -> result 0x{outcome.result:02X}")
        self._deliver(list(outcome.sends))
        self._respond(connection, outcome)
        if self.core.take_drop_request():
            self._log(f"personality {self.personality.name}: drops the link after this write")
            self._spawn(self.drop_link(), "personality-drop")

    def _respond(self, connection: Connection, outcome: Outcome) -> None:
        f = self._faults
        if f.lose_responses > 0:
            f.lose_responses -= 1
            self._log(f"fault: response {outcome.response.hex(' ')} lost")
            return
        delay = 0.0
        if f.response_delay_s > 0 and (
            f.response_delay_count is None or f.response_delay_count > 0
        ):
            delay = f.response_delay_s
            if f.response_delay_count is not None:
                f.response_delay_count -= 1
        self._pending = connection
        self._spawn(self._send_response(connection, outcome.response, delay), "cp-response")

    async def _send_response(self, connection: Connection, response: bytes, delay: float) -> None:
        try:
            if delay > 0:
                await self.clock.sleep(delay)
            # The procedure ends with its response: the client's confirmation and its next
            # write travel in order behind it, so waiting for the confirmation task to resume
            # would refuse that next write with 0xFE by accident of scheduling.
            if self._pending is connection:
                self._pending = None
            if connection.handle in self._connections:
                await self._send_one("2AD9", response, connection)
        finally:
            if self._pending is connection:
                self._pending = None
            self._notify_changed()

    # -- sending --------------------------------------------------------------------------------

    def _deliver(self, sends: Iterable[Send]) -> None:
        for send in sends:
            target = send.to
            if target is not None and target not in self._connections:
                continue
            connection = self._connections.get(target) if target is not None else None
            self._spawn(self._notify(send.target, send.value, connection), f"send-{send.target}")

    def _filtered(self, target: Target) -> tuple[bool, float]:
        f = self._faults
        now = self.elapsed
        drop = f.drop_notifications_until is not None and now < f.drop_notifications_until
        drop = drop and (f.drop_only is None or f.drop_only == target)
        delay = 0.0
        delaying = f.delay_notifications_until is not None and now < f.delay_notifications_until
        if delaying and (f.delay_only is None or f.delay_only == target):
            delay = f.delay_notifications_s
        return drop, delay

    async def _notify(self, target: Target, value: bytes, connection: Connection | None) -> None:
        drop, delay = self._filtered(target)
        if drop:
            return
        if delay > 0:
            await self.clock.sleep(delay)
        await self._send_one(target, value, connection)

    async def _send_one(self, target: Target, value: bytes, connection: Connection | None) -> None:
        characteristic = self._by_target[target]
        indicate = target == "2AD9" and self.personality.response_via == "indicate"
        self.sent.append(
            SentValue(
                time.perf_counter(),
                self.elapsed,
                target,
                value,
                _address(connection) if connection is not None else None,
                "indicate" if indicate else "notify",
            )
        )
        if connection is None:
            if indicate:
                await self.device.indicate_subscribers(characteristic, value)
            else:
                await self.device.notify_subscribers(characteristic, value)
        elif indicate:
            await self.device.indicate_subscriber(connection, characteristic, value)
        else:
            await self.device.notify_subscriber(connection, characteristic, value)

    # -- the loop -------------------------------------------------------------------------------

    async def _run_reporting(self) -> None:
        try:
            await self._run()
        except Exception as exc:
            # A dead loop is a treadmill that still takes connections but never sends data
            # again: say so loudly instead of going quiet (simulate exits on it).
            self.failure = exc
            self._log(f"virtual treadmill loop failed: {type(exc).__name__}: {exc}")
            logger.error("virtual treadmill loop failed", exc_info=exc)
            self.failed.set()

    async def _run(self) -> None:
        p = self.personality
        tick = max(0.05, min(p.telemetry_interval_s, p.motor.accel_interval_s) / 2)
        scale = float(getattr(self.clock, "scale", 1.0))
        tick = max(tick, 0.01 * scale)
        next_telemetry = 0.0
        belt_note = ""
        while True:
            now = self.elapsed
            await self._apply_due_faults(now)
            self._deliver(self.core.tick(now))
            note = self._belt_note()
            if note and note != belt_note:
                self._log(f"belt at {now:.1f} s: {note}")
            belt_note = note or belt_note
            if now >= next_telemetry:
                if self._connections:
                    for record in self.core.telemetry(now):
                        self._spawn(self._notify("2ACD", record, None), "treadmill-data")
                next_telemetry = max(next_telemetry + p.telemetry_interval_s, now)
            self._notify_changed()
            # Wake for the next Treadmill Data on time, not at the next coarse tick: at high
            # time scales a tick is many sim-milliseconds and would stretch the data interval.
            until_data = next_telemetry - self.elapsed
            await self.clock.sleep(max(min(tick, until_data), 0.002 * scale))

    def _belt_note(self) -> str:
        model = self.core.model
        if not model.moving:
            return f"standing ({model.state.value})"
        if abs(model.belt_speed_kmh - model.target_speed_kmh) < 1e-6:
            return f"{model.belt_speed_kmh:.2f} km/h ({model.state.value})"
        return ""

    # -- faults ---------------------------------------------------------------------------------

    def schedule(self, fault: Fault | str) -> Fault:
        """Schedule a fault (spec string or Fault) at its sim time ``at``."""
        parsed = parse_fault(fault, rng=self.rng) if isinstance(fault, str) else fault
        self._scheduled.append(parsed)
        self._scheduled.sort(key=lambda f: f.at)
        return parsed

    @property
    def scheduled_faults(self) -> list[Fault]:
        """Faults still waiting for their time, earliest first."""
        return list(self._scheduled)

    async def _apply_due_faults(self, now: float) -> None:
        while self._scheduled and self._scheduled[0].at <= now:
            await self.inject(self._scheduled.pop(0))

    async def inject(self, fault: Fault | str) -> None:
        """Apply a fault now (its ``at`` is ignored)."""
        f = parse_fault(fault, rng=self.rng) if isinstance(fault, str) else fault
        now = self.elapsed
        active = self._faults
        self._log(f"fault at {now:.1f} s: {f}")
        kind = f.kind
        if kind is FaultKind.DROP_LINK:
            await self.drop_link()
            if f.every is not None:
                gap = self.rng.uniform(*f.every)
                self.schedule(dataclasses.replace(f, at=now + gap))
        elif kind is FaultKind.DROP_NOTIFICATIONS:
            active.drop_notifications_until = now + (f.duration_s or float("inf"))
            active.drop_only = f.only
        elif kind is FaultKind.DELAY_NOTIFICATIONS:
            active.delay_notifications_s = f.delay_s if f.delay_s is not None else 2.0
            active.delay_notifications_until = now + (f.duration_s or float("inf"))
            active.delay_only = f.only
        elif kind is FaultKind.DELAY_RESPONSES:
            active.response_delay_s = f.delay_s if f.delay_s is not None else 3.0
            active.response_delay_count = f.count
        elif kind is FaultKind.LOSE_RESPONSES:
            active.lose_responses += f.count if f.count is not None else 1
        elif kind is FaultKind.RESULT:
            code = f.code if f.code is not None else 0x04  # Operation Failed
            active.forced.append(dataclasses.replace(f, code=code))
        elif kind is FaultKind.CONSOLE_SPEED_UP:
            self.console_speed(f.speed_kmh if f.speed_kmh is not None else 0.5)
        elif kind is FaultKind.CONSOLE_SPEED_DOWN:
            self.console_speed(-(f.speed_kmh if f.speed_kmh is not None else 0.5))
        elif kind is FaultKind.CONSOLE_STOP:
            self.console_stop()
        elif kind is FaultKind.SAFETY_KEY:
            self.pull_safety_key()
        elif kind is FaultKind.TAKE_CONTROL:
            self.take_control()
        elif kind is FaultKind.REBOOT:
            await self.reboot(f.delay_s if f.delay_s is not None else 2.0)
        self._notify_changed()

    async def drop_link(self) -> None:
        """Drop every connection (as a radio dropout would); advertising resumes."""
        if self.radio is not None:
            if self.radio.holds(self.device):  # off the radio (power loss): no link left
                self.radio.drop_links(self.device)
            return
        for connection in list(self._connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def console_speed(self, delta_kmh: float) -> None:
        """The user presses speed + (``delta_kmh`` > 0) or - on the console."""
        self._deliver(self.core.console_speed(delta_kmh, self.elapsed))

    def console_stop(self) -> None:
        """The user presses Stop on the console."""
        self._deliver(self.core.console_stop(self.elapsed))

    def pull_safety_key(self) -> None:
        """The safety key comes out: the belt halts, status 0x03 Stopped by Safety Key."""
        self._deliver(self.core.pull_safety_key(self.elapsed))

    def insert_safety_key(self) -> None:
        """The safety key goes back in; Start is accepted again."""
        self.core.insert_safety_key()

    def take_control(self) -> None:
        """Another client takes control: the holder gets 0xFF Control Permission Lost."""
        self._deliver(self.core.take_control())

    async def reboot(self, downtime_s: float = 2.0) -> None:
        """Power cycle: links drop, state resets, advertising resumes after ``downtime_s``."""
        self._advertising_paused = True
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        await self.drop_link()
        self.core.reboot(self.elapsed)
        await self.clock.sleep(downtime_s)
        self._advertising_paused = False
        await self._advertise()


__all__ = [
    "ATT_CCCD_IMPROPERLY_CONFIGURED",
    "ATT_PROCEDURE_ALREADY_IN_PROGRESS",
    "DEFAULT_NAME",
    "ControlPointWrite",
    "SentValue",
    "VirtualTreadmill",
]
