"""The FTMS client: connect to a treadmill, control it and watch it, over bleak's public API.

A thin asyncio shell around the sans-IO pieces: :class:`~retro_treadmill.ftms.control.
ControlPointMachine` decides what to write when, :class:`~retro_treadmill.ftms.monitor.
TelemetryMonitor` derives belt state, silence and the units self-test, ``protocols.ftms`` turns
bytes into values. This module only moves bytes and time between them and bleak.

Usage::

    async with open_adapter("bumble:tcp-client:127.0.0.1:9700") as adapter:
        async with FtmsClient(adapter, "RetroSim FTMS") as client:   # or an address
            events = client.events()                # subscribe before acting
            await client.start()
            await client.set_target_speed(1.6)     # km/h
            ...
            await client.stop()                    # written at once, whatever is pending
            async for event in events: ...

Safety behaviour (DESIGN rules 2-4): :meth:`FtmsClient.stop` writes Stop immediately, even while
another procedure awaits its response, and is never queued; a dropped link is reported at once
(:class:`LinkLost`), then the client reconnects with jittered backoff and writes **Stop first**;
the belt state is UNKNOWN until telemetry confirms it, and no earlier speed is re-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError

from protocols import BuildError, ProtocolError
from protocols.ftms import (
    FITNESS_MACHINE_CONTROL_POINT_UUID,
    FITNESS_MACHINE_FEATURE_UUID,
    FITNESS_MACHINE_STATUS_UUID,
    SUPPORTED_INCLINATION_RANGE_UUID,
    SUPPORTED_SPEED_RANGE_UUID,
    TRAINING_STATUS_UUID,
    TREADMILL_DATA_UUID,
    ControlPointRequest,
    ControlPointResponse,
    RequestControl,
    Reset,
    SetTargetInclination,
    SetTargetSpeed,
    StartOrResume,
    StopControl,
    StopOrPause,
    TreadmillData,
    TreadmillDataAssembler,
    parse_features,
    parse_inclination_range,
    parse_machine_status,
    parse_speed_range,
    parse_training_status,
)
from retro_treadmill.ble.adapter import Adapter
from retro_treadmill.ble.discovery import resolve_device
from retro_treadmill.clock import Clock, MonotonicClock
from retro_treadmill.errors import DeviceError
from retro_treadmill.ftms.audit import AuditTrail
from retro_treadmill.ftms.control import (
    OPCODES,
    Action,
    ControlPointMachine,
    ControlStateChanged,
    Finished,
    ResponseDiscarded,
    ResponseMatched,
    WriteRequest,
)
from retro_treadmill.ftms.events import (
    BeltStateChanged,
    CommandResult,
    Connected,
    ControlChanged,
    DeviceDescription,
    FtmsEvent,
    LinkLost,
    MachineStatusEvent,
    ReconnectFailed,
    Reconnecting,
    TelemetrySilence,
    TrainingStatusEvent,
    TreadmillDataEvent,
    UnitMismatch,
)
from retro_treadmill.ftms.model import BeltState, Command, CommandKind, Outcome
from retro_treadmill.ftms.monitor import TelemetryMonitor
from retro_treadmill.ftms.quirks import DeviceQuirks, QuirksTable, load_quirks_table
from retro_treadmill.units import mph_to_kmh

logger = logging.getLogger(__name__)

EventListener = Callable[[FtmsEvent], None]

ATT_NEEDS_PAIRING = frozenset({0x05, 0x0F})
"""ATT errors Insufficient Authentication (0x05) and Insufficient Encryption (0x0F)."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Automatic reconnection after a lost link: up to ``max_attempts`` tries, waiting
    ``initial_delay_s`` doubling up to ``max_delay_s``, each wait varied by +/- ``jitter``
    (a fraction). ``max_attempts=0`` turns reconnection off."""

    max_attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before the 1-based ``attempt``."""
        base = min(self.max_delay_s, self.initial_delay_s * 2.0 ** (attempt - 1))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))


class EventStream:
    """An async iterator over the client's events from the moment it was created.

    Unbounded: read it (or :meth:`close` it). Iteration ends after :meth:`close` or when the
    client closes.
    """

    _END: Any = object()

    def __init__(self, unsubscribe: Callable[[EventStream], None]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._unsubscribe = unsubscribe
        self._closed = False

    def _put(self, event: FtmsEvent) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        """Stop receiving; a pending ``__anext__`` ends the iteration."""
        if not self._closed:
            self._closed = True
            self._unsubscribe(self)
            self._queue.put_nowait(self._END)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> FtmsEvent:
        item = await self._queue.get()
        if item is self._END:
            raise StopAsyncIteration
        event: FtmsEvent = item
        return event

    def get_nowait(self) -> FtmsEvent | None:
        """The next queued event, or None."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is self._END:
            self._queue.put_nowait(item)
            return None
        event: FtmsEvent = item
        return event

    async def next_of(
        self,
        kind: type[Any] | tuple[type[Any], ...],
        timeout: float = 10.0,  # noqa: ASYNC109 - wall seconds, a convenience for scripts
    ) -> Any:
        """The next event of type ``kind`` (others are skipped); TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            async for event in self:
                if isinstance(event, kind):
                    return event
        raise TimeoutError("event stream closed")


def _sane_speed_range(
    minimum: float, maximum: float, step: float
) -> tuple[float | None, float | None, float | None]:
    if not (math.isfinite(minimum) and math.isfinite(maximum)) or maximum <= 0 or minimum > maximum:
        return None, None, None
    return minimum, maximum, (step if step > 0 else None)


def _sane_incline_range(
    minimum: float, maximum: float, step: float
) -> tuple[float | None, float | None, float | None]:
    if minimum >= maximum:
        # All zeros (Urevo E1L) or min > max: no usable incline range.
        return None, None, None
    return minimum, maximum, (step if step > 0 else None)


class FtmsClient:
    """One FTMS treadmill over BLE (see the module docstring).

    ``target``: an address, an advertised name, a ``BLEDevice``, or ``None`` for the first FTMS
    treadmill heard. ``clock``: the time base of every timeout and timestamp (a
    :class:`~retro_treadmill.clock.ScaledClock` with the virtual treadmill's ``--time-scale``).
    ``quirks``: fixed quirks; otherwise they come from ``quirks_table`` (default: the shipped
    ``quirks.toml``) by advertised name. ``unit_self_test=False`` turns the units self-test off
    for this device (the quirk can do so too).
    """

    def __init__(
        self,
        adapter: Adapter,
        target: str | BLEDevice | None = None,
        *,
        clock: Clock | None = None,
        quirks: DeviceQuirks | None = None,
        quirks_table: QuirksTable | None = None,
        reconnect: ReconnectPolicy | None = None,
        audit: AuditTrail | None = None,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        connect_attempts: int = 3,
        silence_s: float = 3.0,
        link_silence_s: float = 6.0,
        unit_self_test: bool | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] | None = time.time,
    ) -> None:
        self.adapter = adapter
        self.target = target
        self.clock: Clock = clock or MonotonicClock()
        self.audit = audit or AuditTrail()
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self._fixed_quirks = quirks
        self._quirks_table = quirks_table
        self._scan_timeout_s = scan_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._connect_attempts = max(1, connect_attempts)
        self._unit_self_test = unit_self_test
        self._rng = rng or random.Random()
        self._wall = wall_clock
        self.quirks: DeviceQuirks = quirks or DeviceQuirks()
        self.machine = ControlPointMachine(quirks=self.quirks)
        self.monitor = TelemetryMonitor(silence_s=silence_s, link_silence_s=link_silence_s)
        self.device: DeviceDescription | None = None
        self._assembler = TreadmillDataAssembler()
        self._bleak: BleakClient | None = None
        self._ble_device: BLEDevice | None = None
        self._cp_char: BleakGATTCharacteristic | None = None
        self._cp_with_response = True
        self._streams: list[EventStream] = []
        self._listeners: list[EventListener] = []
        self._waiters: dict[int, asyncio.Future[CommandResult]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closing = False
        self._link_generation = 0
        self._up = asyncio.Event()
        self._response_bytes = b""
        self._pairing_tried = False
        self._needs_pairing = False
        """Set once a control-point write needed pairing: later links pair right after connecting,
        so the Stop written first after a reconnect is not delayed by pairing."""
        self._attempts_used = 0
        """Reconnect attempts since telemetry last flowed (a reconnect that brings no Treadmill
        Data does not refill the budget)."""

    # -- events ----------------------------------------------------------------------------------

    def events(self) -> EventStream:
        """Subscribe: an async iterator over every event from now on."""
        stream = EventStream(self._streams.remove)
        self._streams.append(stream)
        return stream

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event)`` synchronously for every event (keep it quick)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _emit(self, event: FtmsEvent) -> None:
        for stream in list(self._streams):
            stream._put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("FTMS event listener failed on %r", event)
        if isinstance(event, LinkLost | Connected | Reconnecting | ReconnectFailed):
            self._audit("link", event=event)
        elif isinstance(event, ControlChanged):
            self._audit("control", event=event)
        elif isinstance(event, UnitMismatch):
            self._audit("unit-mismatch", event=event)
        elif isinstance(event, TelemetrySilence | BeltStateChanged):
            self._audit("belt", event=event)

    def _audit(self, kind: str, **data: Any) -> None:
        wall = self._wall() if self._wall is not None else None
        self.audit.add(self.clock.now(), kind, wall, **data)

    # -- state -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the link is up and the client ready for commands."""
        return self.machine.connected

    @property
    def has_control(self) -> bool:
        """Whether the treadmill granted control (FTMS §4.16.2.1) and has not revoked it."""
        return self.machine.has_control

    @property
    def belt_state(self) -> BeltState:
        """What telemetry says about the belt (UNKNOWN after a (re)connect or a silence)."""
        return self.monitor.state

    @property
    def belt_speed_kmh(self) -> float | None:
        """The last reported instantaneous speed, km/h (None when UNKNOWN)."""
        return self.monitor.speed_kmh

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> FtmsClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> DeviceDescription:
        """Find the treadmill, connect, read its description, subscribe; returns the description.

        Raises :class:`~retro_treadmill.errors.DeviceError` when it cannot.
        """
        self._closing = False
        self._attempts_used = 0
        if self._timer is None:
            self._timer = asyncio.create_task(self._timer_loop(), name="ftms-timer")
        try:
            await self._establish(reconnect=False)
        except (BleakError, OSError, TimeoutError, EOFError) as exc:
            await self._abandon_connect()
            reason = str(exc) or type(exc).__name__
            raise DeviceError(f"could not set up the treadmill: {reason}") from exc
        except BaseException:
            await self._abandon_connect()
            raise
        assert self.device is not None
        return self.device

    async def close(self) -> None:
        """Disconnect for good (no reconnect) and end every event stream. Does not stop the belt:
        call :meth:`stop` first when it may be running."""
        self._closing = True
        if self._reconnector is not None:
            self._reconnector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnector
            self._reconnector = None
        await self._abandon_connect()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for stream in list(self._streams):
            stream.close()

    async def _abandon_connect(self) -> None:
        """End the link and the timer, without reconnecting (a failed connect, or close)."""
        await self._end_link()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    async def _end_link(self) -> None:
        """Pending commands end LINK_LOST, then disconnect (no LinkLost event, no reconnect)."""
        if self.machine.connected:
            self.machine.connection_lost(self.clock.now())
            self._dispatch(self.machine.actions())
        await self._teardown_link()

    async def _teardown_link(self) -> None:
        client, self._bleak = self._bleak, None
        self._cp_char = None
        if client is not None:
            with contextlib.suppress(BleakError, OSError, TimeoutError, EOFError):
                await asyncio.wait_for(client.disconnect(), 5.0)

    def _quirks_for(self, name: str | None) -> DeviceQuirks:
        if self._fixed_quirks is not None:
            quirks = self._fixed_quirks
        else:
            table = self._quirks_table or load_quirks_table()
            quirks = table.for_name(name)
        if self._unit_self_test is not None:
            quirks = replace(quirks, unit_self_test=self._unit_self_test)
        return quirks

    async def _establish(self, *, reconnect: bool) -> None:
        target = self._ble_device or self.target
        if not isinstance(target, BLEDevice):
            target = await resolve_device(self.adapter, target, timeout=self._scan_timeout_s)
        self._ble_device = target
        # A first connection is tried again (BlueZ fails one with "Input/output error" or a
        # timeout while it is still taking down the previous link to the same device, e.g. the
        # last session's); a reconnect has its own attempts (ReconnectPolicy).
        attempts = 1 if reconnect else self._connect_attempts
        for attempt in range(1, attempts + 1):
            client = await self._open_link(target)
            try:
                await client.connect()
                break
            except (BleakError, OSError, TimeoutError) as exc:
                # bleak's BlueZ backend gives a bare TimeoutError when nobody answers: no text.
                reason = str(exc) or (
                    f"no connection within {self._connect_timeout_s:g} s"
                    if isinstance(exc, TimeoutError)
                    else type(exc).__name__
                )
                if attempt == attempts:
                    tries = f" ({attempts} attempts)" if attempts > 1 else ""
                    raise DeviceError(
                        f"could not connect to {target.address}: {reason}{tries}"
                    ) from exc
                self._audit("connect-retry", address=target.address, attempt=attempt, error=reason)
                await self._teardown_link()
                await asyncio.sleep(self.reconnect_policy.delay(attempt, self._rng))
        self._pairing_tried = False
        if self._needs_pairing:
            await self._pair(client)
        self.quirks = self._quirks_for(target.name)
        self.machine.quirks = self.quirks
        self.monitor.unit_self_test = self.quirks.unit_self_test
        self.device = await self._describe(client, target)
        await self._subscribe(client)
        if not client.is_connected:
            # Dropped while setting up: bleak's callback came before connection_made() and was
            # ignored, so no later one will tell us. Fail this attempt (the next one stops).
            raise DeviceError(f"the link to {target.address} dropped while it was being set up")
        now = self.clock.now()
        self._assembler.reset()
        for event in self.monitor.reset(now):
            self._emit(event)
        stop_ticket = self.machine.connection_made(now, stop_first=reconnect)
        if stop_ticket is not None:
            # Stop first after a reconnect, written before anything else (and before Connected).
            await self._flush(inline_first_write=True)
        self._up.set()
        self._emit(Connected(self.clock.now(), self.device, reconnect=reconnect))
        self._wake.set()

    async def _open_link(self, target: BLEDevice) -> BleakClient:
        """A new (not yet connected) bleak client for ``target``, the current link from now on."""
        self._link_generation += 1
        generation = self._link_generation
        client = self.adapter.client(
            target,
            disconnected_callback=lambda _c: self._on_disconnected(generation),
            timeout=self._connect_timeout_s,
        )
        self._bleak = client
        return client

    async def _describe(self, client: BleakClient, device: BLEDevice) -> DeviceDescription:
        services = client.services
        if services.get_characteristic(TREADMILL_DATA_UUID) is None:
            raise DeviceError(
                f"{device.name or device.address} has no FTMS Treadmill Data (2ACD): "
                "not an FTMS treadmill"
            )
        cp = services.get_characteristic(FITNESS_MACHINE_CONTROL_POINT_UUID)
        if cp is None:
            raise DeviceError(
                f"{device.name or device.address} has no FTMS Control Point (2AD9): it can be "
                "watched but not controlled, and retro-treadmill needs control to stop the belt"
            )
        self._cp_char = cp
        self._cp_with_response = "write" in cp.properties or (
            "write-without-response" not in cp.properties
        )
        self.machine.writes_acknowledged = self._cp_with_response
        desc = DeviceDescription(name=device.name, address=device.address)
        raw = await self._read_optional(client, FITNESS_MACHINE_FEATURE_UUID)
        if raw is not None:
            try:
                features = parse_features(raw)
                desc = replace(
                    desc,
                    features=int(features.machine),
                    target_features=int(features.target_setting),
                )
            except ProtocolError as exc:
                self._audit("malformed", characteristic="2ACC", bytes=raw, error=str(exc))
        raw = await self._read_optional(client, SUPPORTED_SPEED_RANGE_UUID)
        if raw is not None:
            try:
                sr = parse_speed_range(raw)
                lo, hi, step = sr.min_kmh, sr.max_kmh, sr.increment_kmh
                if self.quirks.speed_range_in_mph:
                    lo, hi, step = mph_to_kmh(lo), mph_to_kmh(hi), mph_to_kmh(step)
                if self.quirks.speed_increment_kmh > 0:
                    step = self.quirks.speed_increment_kmh  # its real step (Urevo E1L: 0.16)
                lo_, hi_, step_ = _sane_speed_range(lo, hi, step)
                desc = replace(
                    desc, min_speed_kmh=lo_, max_speed_kmh=hi_, speed_increment_kmh=step_
                )
            except ProtocolError as exc:
                self._audit("malformed", characteristic="2AD4", bytes=raw, error=str(exc))
        raw = await self._read_optional(client, SUPPORTED_INCLINATION_RANGE_UUID)
        if raw is not None:
            try:
                ir = parse_inclination_range(raw)
                ilo, ihi, istep = _sane_incline_range(ir.min_pct, ir.max_pct, ir.increment_pct)
                desc = replace(
                    desc, min_incline_pct=ilo, max_incline_pct=ihi, incline_increment_pct=istep
                )
            except ProtocolError as exc:
                self._audit("malformed", characteristic="2AD5", bytes=raw, error=str(exc))
        return replace(desc, quirks_name=self.quirks.name)

    async def _read_optional(self, client: BleakClient, uuid: str) -> bytes | None:
        char = client.services.get_characteristic(uuid)
        if char is None or "read" not in char.properties:
            return None
        try:
            return bytes(await client.read_gatt_char(char))
        except BleakError as exc:
            self._audit("malformed", characteristic=uuid[4:8].upper(), bytes=b"", error=str(exc))
            return None

    async def _subscribe(self, client: BleakClient) -> None:
        services = client.services
        handlers: list[tuple[str, Callable[[bytes], None], bool]] = [
            (TREADMILL_DATA_UUID, self._on_treadmill_data, True),
            (FITNESS_MACHINE_STATUS_UUID, self._on_machine_status, False),
            (TRAINING_STATUS_UUID, self._on_training_status, False),
            (FITNESS_MACHINE_CONTROL_POINT_UUID, self._on_control_point, True),
        ]
        for uuid, handler, required in handlers:
            char = services.get_characteristic(uuid)
            if char is None or not ({"notify", "indicate"} & set(char.properties)):
                if required:
                    raise DeviceError(f"characteristic {uuid[4:8].upper()} cannot notify")
                continue
            await client.start_notify(char, self._guard(handler))

    def _guard(self, handler: Callable[[bytes], None]) -> Callable[[Any, bytearray], None]:
        def callback(_char: Any, data: bytearray) -> None:
            try:
                handler(bytes(data))
            except Exception:
                # Never let a notification kill the link handling; it is in the audit trail.
                logger.exception("FTMS notification handler failed")

        return callback

    # -- notifications ---------------------------------------------------------------------------

    def _on_treadmill_data(self, data: bytes) -> None:
        now = self.clock.now()
        try:
            record = self._assembler.feed(data)
        except ProtocolError as exc:
            self._audit("malformed", characteristic="2ACD", bytes=data, error=str(exc))
            return
        if record is None:
            return
        record = self._apply_speed_units(record)
        self._attempts_used = 0
        self._audit("telemetry", record=record)
        self._emit(TreadmillDataEvent(now, record))
        for event in self.monitor.record(record.speed_kmh, now):
            self._emit(event)
        self.machine.receive_belt_speed(record.speed_kmh, now)
        self._dispatch(self.machine.actions())
        self._wake.set()

    def _apply_speed_units(self, record: TreadmillData) -> TreadmillData:
        offset = self.quirks.incline_offset
        if offset and record.inclination_pct is not None:
            record = replace(record, inclination_pct=round(record.inclination_pct - offset, 1))
        if not self.quirks.reported_speed_in_mph:
            return record
        changes: dict[str, Any] = {}
        for name in ("speed_kmh", "average_speed_kmh"):
            value = getattr(record, name)
            if value is not None:
                changes[name] = mph_to_kmh(value)
        return replace(record, **changes)

    def _on_machine_status(self, data: bytes) -> None:
        now = self.clock.now()
        try:
            status = parse_machine_status(data)
        except ProtocolError as exc:
            self._audit("malformed", characteristic="2ADA", bytes=data, error=str(exc))
            return
        self._audit("status", bytes=data, status=status)
        self._emit(MachineStatusEvent(now, status))
        self.machine.receive_machine_status(status.opcode, now)
        self._dispatch(self.machine.actions())

    def _on_training_status(self, data: bytes) -> None:
        now = self.clock.now()
        try:
            status = parse_training_status(data)
        except ProtocolError as exc:
            self._audit("malformed", characteristic="2AD3", bytes=data, error=str(exc))
            return
        self._audit("training", bytes=data, status=status)
        self._emit(TrainingStatusEvent(now, status))

    def _on_control_point(self, data: bytes) -> None:
        now = self.clock.now()
        try:
            response = ControlPointResponse.parse(data)
        except ProtocolError as exc:
            self._audit("malformed", characteristic="2AD9", bytes=data, error=str(exc))
            return
        self.machine.receive_response(int(response.request_opcode), int(response.result), now)
        self._response_bytes = data
        try:
            self._dispatch(self.machine.actions())
        finally:
            self._response_bytes = b""

    # -- commands --------------------------------------------------------------------------------

    async def request_control(self) -> CommandResult:
        """Request Control (op 0x00, FTMS §4.16.2.1). Other commands do this by themselves."""
        return await self._command(Command(CommandKind.REQUEST_CONTROL))

    async def reset(self) -> CommandResult:
        """Reset (op 0x01, FTMS §4.16.2.2); the treadmill revokes control."""
        return await self._command(Command(CommandKind.RESET))

    async def start(self) -> CommandResult:
        """Start or Resume (op 0x07, FTMS §4.16.2.8). ALREADY_RUNNING when it was running."""
        return await self._command(Command(CommandKind.START))

    async def set_target_speed(self, kmh: float) -> CommandResult:
        """Set Target Speed (op 0x02, FTMS §4.16.2.3) in km/h (0.01 km/h resolution).

        SUCCESS means accepted, not reached: watch Treadmill Data (DESIGN rule 4)."""
        if not math.isfinite(kmh) or not 0.0 <= kmh <= 655.35:
            raise ValueError(f"target speed must be 0..655.35 km/h, got {kmh!r}")
        return await self._command(Command(CommandKind.SET_TARGET_SPEED, float(kmh)))

    async def set_target_incline(self, pct: float) -> CommandResult:
        """Set Target Inclination (op 0x03, FTMS §4.16.2.4) in percent (0.1 % resolution)."""
        if not math.isfinite(pct) or not -3276.8 <= pct <= 3276.7:
            raise ValueError(f"target incline must be -3276.8..3276.7 %, got {pct!r}")
        return await self._command(Command(CommandKind.SET_TARGET_INCLINE, float(pct)))

    async def stop(self) -> CommandResult:
        """Stop (op 0x08 01, FTMS §4.16.2.9): written at once, even while another procedure
        awaits its response; that one ends PREEMPTED and queued commands end CANCELLED.

        Returns when the treadmill answered (or the Stop timed out after its retries). To fire
        and forget (e.g. from a signal handler), use :meth:`stop_soon`."""
        return await self._stop(pause=False)

    async def pause(self) -> CommandResult:
        """Pause (op 0x08 02): like :meth:`stop`, written at once."""
        return await self._stop(pause=True)

    def stop_soon(self, *, request_control: bool = False) -> asyncio.Task[CommandResult]:
        """Stop from synchronous code (a key handler, a signal handler, a governor callback).

        The Stop is decided here and now (queued commands are cancelled before this returns, so
        nothing submitted afterwards can overtake it); the write itself runs in the returned task
        at the loop's next turn."""
        ticket = self.machine.stop(self.clock.now(), request_control=request_control)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        task = asyncio.create_task(self._flush_then(future), name="ftms-stop")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_then(self, future: asyncio.Future[CommandResult]) -> CommandResult:
        await self._write_stop_inline()
        return await future

    async def _command(self, command: Command) -> CommandResult:
        ticket = self.machine.submit(command, self.clock.now())
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        await self._flush(inline_first_write=False)
        return await future

    async def _stop(self, *, pause: bool) -> CommandResult:
        ticket = self.machine.stop(self.clock.now(), pause=pause)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        await self._write_stop_inline()
        return await future

    async def _write_stop_inline(self) -> None:
        """Perform the Stop write in the calling task (no task hop), but never wait on a stuck
        GATT write longer than the control-point timeout: the machine's timer then rewrites."""
        scale = float(getattr(self.clock, "scale", 1.0)) or 1.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.quirks.control_point_timeout_s / scale):
                await self._flush(inline_first_write=True)

    async def _flush(self, *, inline_first_write: bool) -> None:
        """Dispatch pending actions; with ``inline_first_write`` the first write is performed in
        this task before anything else (the Stop path: no task hop, no queue)."""
        actions = self.machine.actions()
        if inline_first_write:
            for i, action in enumerate(actions):
                if isinstance(action, WriteRequest):
                    del actions[i]
                    await self._perform_write(action, rest=actions)
                    return
        self._dispatch(actions)

    def _dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, WriteRequest):
                task = asyncio.get_running_loop().create_task(
                    self._perform_write(action), name=f"ftms-write-{action.procedure}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(action, Finished):
                self._on_finished(action)
            elif isinstance(action, ResponseMatched):
                self._audit(
                    "response",
                    procedure=action.procedure,
                    command=str(action.command),
                    request_opcode=_opcode(action.command),
                    result_code=action.result_code,
                    latency_s=action.latency_s,
                    bytes=self._response_bytes,
                )
            elif isinstance(action, ResponseDiscarded):
                self._audit(
                    "response-discarded",
                    request_opcode=action.request_opcode,
                    result_code=action.result_code,
                    reason=action.reason,
                    latency_s=action.latency_s,
                    bytes=self._response_bytes,
                )
            elif isinstance(action, ControlStateChanged):
                self._emit(ControlChanged(action.at, action.granted, action.reason))
        self._wake.set()

    def _on_finished(self, action: Finished) -> None:
        result = CommandResult(
            at=action.at,
            ticket=action.ticket,
            command=action.command,
            outcome=action.outcome,
            result_code=action.result_code,
            latency_s=action.latency_s,
            detail=action.detail,
            attempts=action.attempts,
        )
        kind = action.command.kind
        if action.outcome is Outcome.SUCCESS and kind is CommandKind.SET_TARGET_SPEED:
            self.monitor.target_accepted(action.command.value or 0.0, action.at)
        if action.outcome.accepted and kind in (CommandKind.STOP, CommandKind.PAUSE):
            self.monitor.stopped()
        self._audit(
            "command",
            ticket=action.ticket,
            command=str(action.command),
            outcome=action.outcome.value,
            result_code=action.result_code,
            latency_s=action.latency_s,
            attempts=action.attempts,
            detail=action.detail,
        )
        self._emit(result)
        future = self._waiters.pop(action.ticket, None)
        if future is not None and not future.done():
            future.set_result(result)

    def _encode(self, command: Command) -> bytes:
        request: ControlPointRequest
        kind = command.kind
        if kind is CommandKind.REQUEST_CONTROL:
            request = RequestControl()
        elif kind is CommandKind.RESET:
            request = Reset()
        elif kind is CommandKind.START:
            request = StartOrResume()
        elif kind is CommandKind.STOP:
            request = StopOrPause(StopControl.STOP)
        elif kind is CommandKind.PAUSE:
            request = StopOrPause(StopControl.PAUSE)
        elif kind is CommandKind.SET_TARGET_SPEED:
            request = SetTargetSpeed(self.quirks.speed_param_kmh_to_wire(command.value or 0.0))
        else:
            request = SetTargetInclination(command.value or 0.0)
        return request.build()

    async def _perform_write(self, action: WriteRequest, rest: list[Action] | None = None) -> None:
        if not self.machine.should_write(action.procedure):
            # Overtaken (by a Stop) between the decision and this task's turn: never write it.
            self._audit("write-skipped", procedure=action.procedure, command=str(action.command))
            if rest:
                self._dispatch(rest)
            return
        client, char = self._bleak, self._cp_char
        try:
            data = self._encode(action.command)
        except BuildError as exc:
            self.machine.write_failed(action.procedure, None, self.clock.now())
            self._audit("write-error", procedure=action.procedure, att_error=None, error=str(exc))
            self._dispatch((rest or []) + self.machine.actions())
            return
        if client is None or char is None:
            self.machine.write_failed(action.procedure, None, self.clock.now())
            self._dispatch((rest or []) + self.machine.actions())
            return
        try:
            failed, error = await self._audited_write(action, client, char, data)
            # FTMS §4.16: the control point may require encryption (ftms-notes §6): pair (Just
            # Works) once per link and write again.
            if (
                failed
                and error in ATT_NEEDS_PAIRING
                and not self._pairing_tried
                and await self._pair(client)
                and self.machine.should_write(action.procedure)
            ):
                failed, error = await self._audited_write(
                    action, client, char, data, after_pairing=True
                )
        finally:
            if rest:
                self._dispatch(rest)
        if failed:
            self.machine.write_failed(action.procedure, error, self.clock.now())
            self._dispatch(self.machine.actions())

    async def _audited_write(
        self,
        action: WriteRequest,
        client: BleakClient,
        char: BleakGATTCharacteristic,
        data: bytes,
        **extra: Any,
    ) -> tuple[bool, int | None]:
        """One control-point write with its audit records: (failed, ATT error code or None)."""
        self._audit(
            "write",
            procedure=action.procedure,
            ticket=action.ticket,
            command=str(action.command),
            bytes=data,
            auxiliary=action.auxiliary,
            attempt=action.attempt,
            with_response=self._cp_with_response,
            **extra,
        )
        failed, error, message = await self._gatt_write(client, char, data)
        if failed:
            self._audit("write-error", procedure=action.procedure, att_error=error, error=message)
        return failed, error

    async def _gatt_write(
        self, client: BleakClient, char: BleakGATTCharacteristic, data: bytes
    ) -> tuple[bool, int | None, str]:
        """One GATT write: (failed, ATT error code or None, message)."""
        try:
            await client.write_gatt_char(char, data, response=self._cp_with_response)
        except BleakGATTProtocolError as exc:
            return True, int(exc.code), str(exc)
        except (BleakError, OSError, TimeoutError, EOFError) as exc:
            return True, None, str(exc) or type(exc).__name__
        return False, None, ""

    async def _pair(self, client: BleakClient) -> bool:
        self._pairing_tried = True
        self._needs_pairing = True
        try:
            # Bounded: bumble's SMP has no timeout, and after a reconnect the Stop waits for this.
            async with asyncio.timeout(self._connect_timeout_s):
                await client.pair()
        except (BleakError, NotImplementedError, OSError, TimeoutError) as exc:
            self._audit("pairing", ok=False, error=str(exc) or type(exc).__name__)
            return False
        self._audit("pairing", ok=True, error="")
        return True

    # -- time and link supervision ---------------------------------------------------------------

    async def _timer_loop(self) -> None:
        scale = float(getattr(self.clock, "scale", 1.0)) or 1.0
        while True:
            now = self.clock.now()
            try:
                self.machine.tick(now)
                self._dispatch(self.machine.actions())
                if self.machine.connected:
                    for event in self.monitor.tick(now):
                        self._emit(event)
                    if self.monitor.link_dead(now) and not self._closing:
                        self._link_lost("telemetry silence")
            except Exception:
                # Timeouts and supervision must keep running whatever happened.
                logger.exception("FTMS timer step failed")
            deadlines = [self.machine.next_deadline()]
            if self.machine.connected:
                deadlines.append(self.monitor.next_deadline())
            pending = [d for d in deadlines if d is not None]
            self._wake.clear()
            timeout = None
            if pending:
                timeout = max(0.0, (min(pending) - self.clock.now()) / scale) + 0.0005
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _on_disconnected(self, generation: int) -> None:
        if generation != self._link_generation or self._closing:
            return
        self._link_lost("disconnected")

    def _link_lost(self, reason: str) -> None:
        if not self.machine.connected:
            return
        now = self.clock.now()
        self._link_generation += 1
        budget_left = self._attempts_used < self.reconnect_policy.max_attempts
        will_reconnect = budget_left and not self._closing
        self._up.clear()
        self._emit(LinkLost(now, reason, will_reconnect))
        self.machine.connection_lost(now)
        self._dispatch(self.machine.actions())
        self._assembler.reset()
        for event in self.monitor.reset(now):
            self._emit(event)
        old, self._bleak = self._bleak, None
        self._cp_char = None
        if old is not None:
            task = asyncio.get_running_loop().create_task(self._disconnect_quietly(old))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not will_reconnect and not self._closing and self.reconnect_policy.max_attempts > 0:
            self._emit(ReconnectFailed(now, self._attempts_used, "no telemetry after reconnecting"))
        if will_reconnect and self._reconnector is None:
            self._reconnector = asyncio.get_running_loop().create_task(
                self._reconnect(), name="ftms-reconnect"
            )

    async def _disconnect_quietly(self, client: BleakClient) -> None:
        with contextlib.suppress(BleakError, OSError, TimeoutError, EOFError):
            await asyncio.wait_for(client.disconnect(), 5.0)

    async def _reconnect(self) -> None:
        policy = self.reconnect_policy
        last_error = ""
        try:
            while self._attempts_used < policy.max_attempts:
                self._attempts_used += 1
                attempt = self._attempts_used
                delay = policy.delay(attempt, self._rng)
                self._emit(Reconnecting(self.clock.now(), attempt, policy.max_attempts, delay))
                await self.clock.sleep(delay)
                try:
                    await self._establish(reconnect=True)
                    return
                except (DeviceError, BleakError, OSError, TimeoutError, EOFError) as exc:
                    last_error = str(exc) or type(exc).__name__
                    logger.info("reconnect attempt %d failed: %s", attempt, last_error)
                    await self._end_link()
            self._emit(ReconnectFailed(self.clock.now(), policy.max_attempts, last_error))
        finally:
            self._reconnector = None

    async def wait_connected(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait (wall seconds) until the link is up again; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            await self._up.wait()

    async def iter_events(self) -> AsyncIterator[FtmsEvent]:
        """``async for event in client.iter_events()``: :meth:`events` as a generator."""
        stream = self.events()
        try:
            async for event in stream:
                yield event
        finally:
            stream.close()


def _opcode(command: Command) -> int:
    return OPCODES[command.kind]


__all__ = ["EventListener", "EventStream", "FtmsClient", "ReconnectPolicy"]
