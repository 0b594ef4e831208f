"""The session service: one asyncio shell around the pure session engine.

It owns one :class:`~retro_treadmill.ftms.client.FtmsClient`, one
:class:`~retro_treadmill.session.engine.SessionEngine` (with its safety governor), an optional
:class:`~retro_treadmill.telemetry.mqtt.MqttPublisher` and an
:class:`~retro_treadmill.telemetry.eventlog.EventLog`, and implements the UI's
:class:`~retro_treadmill.tui.model.SessionController` port, so the Textual UI, the headless console
and MQTT remote commands all drive the same object::

    service = SessionService(adapter, config=config, units="mph", clock=clock, event_log=log)
    code = await service.serve(frontend)     # frontend(service) prepares, starts, watches
    # frontend: await service.prepare(device, profile); service.start(checklist); ...

Inputs and what becomes of them (every engine output's commands go to the treadmill in order):

- FTMS client events (task ``ftms-events``) -> ``engine.handle`` (Treadmill Data, Fitness Machine
  Status 0x02/0x03/0x04/0x05/0x06/0xFF, link lost / restored);
- a ticker (task ``session-ticker``, 10 Hz of session clock, at most 50 Hz of wall time under
  ``--time-scale``) -> ``engine.tick`` (countdown, profile, watchdogs);
- operator intents (UI, headless keys, MQTT) -> ``engine.start/pause/resume/request/acknowledge``;
- setpoints (Start, Set Target Speed/Inclination) are written in order by task
  ``session-commands``, one at a time.

**Stop path.** :meth:`SessionService.stop` is synchronous and returns at once: it asks the engine
(the governor approves Stop in every state) and hands the Stop straight to
:meth:`FtmsClient.stop_soon`, which writes it in its own task, pre-empting a pending procedure;
queued setpoints are discarded (a generation counter), nothing is queued in front of the Stop.
Logging and publishing happen after the Stop task has been scheduled. MQTT ``command/stop``, the
signal handlers (SIGINT, SIGTERM, SIGHUP) and the UI's stop keys all take this path.

**Observers.** What happens is published on :attr:`SessionService.bus` (a
:class:`~retro_treadmill.service.bus.SessionBus` of :mod:`~retro_treadmill.service.events`): the
event log, MQTT, the UI's :meth:`~SessionService.snapshots`, the end-of-session tally
(:mod:`~retro_treadmill.service.summary`) and the recorder each read their own bounded queue;
none of them sits on the control path, and one that fails is a warning, never a stop.

**Fail closed.** An exception in any task, in an intent, in the UI or the front end ends
:meth:`serve`; its ``finally`` writes Stop (bounded wait), records an ``internal_error`` alarm and
the traceback in the event log, and :meth:`serve` returns :attr:`ExitCode.INTERNAL_ERROR`.
Nothing restarts or resumes by itself.

Exit codes (:class:`ExitCode`): 0 completed, 1 internal error, 2 usage/config, 3 stopped by the
operator (keyboard, MQTT, signal, preflight declined), 4 safety alarm, 5 treadmill not reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from enum import IntEnum, StrEnum
from typing import Any

from protocols.ftms import (
    ControlPermissionLost,
    StartedOrResumedByUser,
    StopControl,
    StoppedBySafetyKey,
    StoppedOrPausedByUser,
    TargetInclinationChanged,
    TargetSpeedChanged,
)
from protocols.heart_rate import HeartRateMeasurement
from retro_treadmill.ble.adapter import Adapter
from retro_treadmill.ble.strap import StrapClient
from retro_treadmill.clock import Clock, MonotonicClock
from retro_treadmill.config import ClinicConfig
from retro_treadmill.errors import DeviceError, RetroTreadmillError, StartRefused
from retro_treadmill.ftms.audit import AuditRecord
from retro_treadmill.ftms.client import FtmsClient, ReconnectPolicy
from retro_treadmill.ftms.control import RESULT_CONTROL_NOT_PERMITTED
from retro_treadmill.ftms.events import (
    CommandResult,
    Connected,
    ControlChanged,
    FtmsEvent,
    LinkLost,
    MachineStatusEvent,
    ReconnectFailed,
    Reconnecting,
    TreadmillDataEvent,
    UnitMismatch,
)
from retro_treadmill.ftms.model import Outcome as CommandOutcome
from retro_treadmill.ftms.quirks import QuirksTable, load_quirks_table, merge_overrides
from retro_treadmill.profiles import load_profile
from retro_treadmill.records.recorder import Recorder
from retro_treadmill.safety import commands as sc
from retro_treadmill.service import events as ev
from retro_treadmill.service.bus import DROP_OLDEST, KEEP, LATEST, SessionBus, Subscription
from retro_treadmill.service.sinks import (
    LOG_KINDS,
    LOG_QUEUE,
    MQTT_EVENT_KINDS,
    MQTT_EVENT_QUEUE,
    MQTT_TELEMETRY_QUEUE,
    RECORDER_QUEUE,
    EventLogSink,
    MqttSink,
    RecorderSink,
    Recording,
)
from retro_treadmill.service.summary import TALLY_KINDS, SessionSummary, SessionTally
from retro_treadmill.session.engine import Outcome, SessionEngine, SessionOutput, SessionState
from retro_treadmill.session.plan import SpeedPlan
from retro_treadmill.session.profile import DeviceRange, Profile
from retro_treadmill.telemetry.eventlog import EventLog
from retro_treadmill.telemetry.mqtt import MqttConnectionState, MqttPublisher, MqttStatus
from retro_treadmill.telemetry.schema import RemoteCommand
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.tui.adapt import heart_rate_view, snapshot_from_status
from retro_treadmill.tui.model import (
    ControlStatus,
    DeviceInfo,
    LinkStatus,
    ProfileInfo,
    Rejection,
    SessionSnapshot,
    StopSource,
)
from retro_treadmill.tui.model import MqttStatus as UiMqttStatus
from retro_treadmill.tui.model import SessionState as UiState
from retro_treadmill.units import SpeedUnit, format_speed

logger = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """Process exit codes of ``retro-treadmill run`` (and ``demo``), by outcome."""

    COMPLETED = 0
    """Every segment walked; the belt stopped at the end."""
    INTERNAL_ERROR = 1
    """An unexpected exception (service, UI, front end); the belt was stopped (fail closed)."""
    USAGE = 2
    """Invalid options, profile or clinic config; nothing was started."""
    STOPPED = 3
    """Stopped by an operator: stop key, MQTT command/stop, a signal, or preflight declined."""
    ALARM = 4
    """A safety alarm halted the session (link loss, overspeed, unit mismatch, safety key...)."""
    NO_DEVICE = 5
    """The treadmill could not be found or connected (nothing was started)."""


FINISHED_NICENESS = 10
"""The CPU niceness a finished session's process takes for its clean-up (``nice`` 10: a live
session at 0 gets about ten times its share of a busy core). ``bench/fleet.py --legs``: when
eight sessions on two cores end together, a remote STOP to one still running down waited
10-40 ms between the broker and its session (and in the publisher) while the others exited."""


def lower_cpu_priority(niceness: int) -> int | None:
    """Raise this process's niceness to at least ``niceness``, every thread of it (on Linux a
    thread's niceness is its own; threads started later inherit it). Never lowers it; returns
    the niceness now in effect, or ``None`` where the platform has no such call."""
    if not hasattr(os, "setpriority"):
        return None
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # no /proc: the process (or calling thread) is what can be reached
    for tid in threads:
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if current < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return None


class StopOrigin(StrEnum):
    """Who stopped the belt, beyond the UI's :class:`~retro_treadmill.tui.model.StopSource`."""

    KEYBOARD = "keyboard"
    OPERATOR = "operator"
    MQTT = "mqtt"
    SIGNAL = "signal"
    SERVICE = "service"


_ENGINE_SOURCE: dict[str, sc.Source] = {
    StopSource.KEYBOARD.value: sc.Source.KEYBOARD,
    StopSource.ALARM_SCREEN.value: sc.Source.KEYBOARD,
    StopSource.UI_EXCEPTION.value: sc.Source.SERVICE,
    StopSource.UI_EXIT.value: sc.Source.OPERATOR,
    StopOrigin.KEYBOARD.value: sc.Source.KEYBOARD,
    StopOrigin.OPERATOR.value: sc.Source.OPERATOR,
    StopOrigin.MQTT.value: sc.Source.MQTT,
    StopOrigin.SIGNAL.value: sc.Source.OPERATOR,
    StopOrigin.SERVICE.value: sc.Source.SERVICE,
}

_HANDLED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

Frontend = Callable[["SessionService"], Awaitable[None]]
"""What :meth:`SessionService.serve` runs: the headless console or the Textual UI."""


def _describe_command(command: sc.Command) -> str:
    if isinstance(command, sc.SetSpeed):
        return f"SetSpeed({command.kmh:.2f} km/h)"
    if isinstance(command, sc.SetIncline):
        return f"SetIncline({command.pct:.1f} %)"
    return type(command).__name__


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_flatten(inner))
        return out
    return [exc]


class SessionService:
    """The session service (see the module docstring).

    ``adapter``: the open Bluetooth adapter the client connects through. ``config``: the clinic
    config (effective limits, quirks). ``clock``: the session clock (a ``ScaledClock`` with
    ``--time-scale``; the virtual treadmill must use the same one). ``target``: the treadmill's
    address or name (``None``: the first FTMS treadmill heard); ``virtual_target``: what the
    virtual treadmill entry of the UI connects to. ``profile``/``profile_key``: a profile already
    loaded and validated (``run --profile``); :meth:`prepare` loads others by key.
    """

    def __init__(
        self,
        adapter: Adapter,
        *,
        config: ClinicConfig | None = None,
        units: SpeedUnit = "mph",
        clock: Clock | None = None,
        target: str | None = None,
        virtual_target: str | None = None,
        profile: Profile | None = None,
        profile_key: str = "",
        mqtt: MqttSettings | None = None,
        event_log: EventLog | None = None,
        recording: Recording | None = None,
        quirks_table: QuirksTable | None = None,
        reconnect: ReconnectPolicy | None = None,
        tick_s: float = 0.1,
        max_tick_hz: float = 50.0,
        stop_wait_s: float = 2.0,
        telemetry_wait_s: float = 10.0,
        handle_signals: bool = True,
        freeze_gc: bool = False,
        hr_device: str | None = None,
        yield_cpu_when_finished: bool = False,
    ) -> None:
        self.adapter = adapter
        self.config = config or ClinicConfig()
        self.units: SpeedUnit = units
        self.clock: Clock = clock or MonotonicClock()
        self.target = target
        self.virtual_target = virtual_target
        self.profile = profile
        self.profile_key = profile_key
        self.mqtt_settings = mqtt
        self.log = event_log or EventLog(clock=self.clock.now)
        self.recording = recording
        """Where and what to record (``None``: not recorded, ``run --no-record``)."""
        self.recorder: Recorder | None = None
        self.quirks_table = quirks_table or merge_overrides(
            load_quirks_table(), self.config.quirks, path=self.config.source
        )
        self.reconnect = reconnect
        self.tick_s = tick_s
        self.max_tick_hz = max_tick_hz
        self.stop_wait_s = stop_wait_s
        self.telemetry_wait_s = telemetry_wait_s
        self.handle_signals = handle_signals
        self.freeze_gc = freeze_gc
        self.yield_cpu_when_finished = yield_cpu_when_finished
        """Once the session has finished with the belt confirmed at a standstill, the rest of
        the process (summary, records, closing MQTT, exiting) runs at a lower CPU priority
        (:data:`FINISHED_NICENESS`), so that on a host with several treadmills it does not
        compete with another session's stop path. Only for a process that serves one session
        (``run``): a process cannot raise its priority again."""
        self._cpu_yielded = False
        self.hr_device = hr_device
        """The heart-rate strap's address or name (``run --hr-device``); without one, the
        treadmill's own Treadmill Data heart rate is the source when it sends one."""
        self.strap: StrapClient | None = None
        self._strap_task: asyncio.Task[None] | None = None
        """``gc.freeze()`` at start and once connected (a CLI process): the collector never walks
        the start-up heap (bleak, bumble, textual) again, so its pauses on the control loop stay
        short; they matter under ``--time-scale``, where 30 ms of wall time can be 3 s of session
        time."""

        self.client: FtmsClient | None = None
        self.engine: SessionEngine | None = None
        self.speed_plan: SpeedPlan | None = None
        """The profile's speeds on this treadmill's steps (known once connected)."""
        self.mqtt: MqttPublisher | None = None
        self.device_name = ""
        self.link = LinkStatus.DISCONNECTED
        self.control = ControlStatus.NONE
        self.mqtt_status: UiMqttStatus | None = None
        self.error: str | None = None
        """Why the service failed closed (an exception), for the front end and the exit code."""
        self.no_device: str | None = None
        self.stop_requested: str | None = None
        """Who asked for a stop (the first one), or ``None``."""
        self.signalled: str | None = None
        self.signal_hooks: list[Callable[[str], None]] = []
        """Called with the signal's name after a signal's Stop was handed to the client (the
        TUI front end uses it to let go of a terminal that has gone away on SIGHUP)."""
        self.operator_paused = False
        """An operator (keyboard, MQTT) paused and has not resumed since."""
        self.link_failed = False
        """Every reconnect attempt failed: the session cannot go on."""
        self.alarm_seen = False
        """An alarm halted the session and it has not walked again since (an acknowledged alarm
        the operator did not resume from still ends with exit code 4)."""
        self.terminate = asyncio.Event()
        """Set when the front end should end (a second signal, a fatal error)."""
        self.changed = asyncio.Event()
        """Set on every new snapshot (for front ends polling :attr:`snapshot`)."""

        self._tg: asyncio.TaskGroup | None = None
        self._aux: list[asyncio.Task[Any]] = []
        self._queue: deque[tuple[int, sc.Command]] = deque()
        self._writer_wake = asyncio.Event()
        self._generation = 0
        self._in_effect: dict[type, float] = {}
        """Setpoints the treadmill accepted, by command type, until anything may have changed
        them (a Stop, a Start, a machine status, a link event): equal ones are not rewritten."""
        self._stop_tasks: set[asyncio.Task[Any]] = set()
        self.bus = SessionBus(
            clock=self.clock.now, busy=self._stop_in_flight, settled=self._stops_settled_within
        )
        """The session's event stream: the event log, MQTT, the UI (and any other observer)
        subscribe to it; sinks wait while a Stop is on its way to the treadmill."""
        self._stop_taken = True
        """A Stop was accepted (or the console / safety key stopped the belt) since the last
        Start: a later Stop answered 0x04 "already stopped" is then no refusal."""
        self._speed_before_motion = False
        """A speed was accepted while telemetry showed the belt standing: some treadmills lose
        it (QZ PR #4621), so it is written again once the belt moves."""
        # The event log's batched encoding waits too.
        self.log.yield_to = self._stop_in_flight
        self.tally = SessionTally()
        """Totals of the session so far, from the bus (the summary at the end)."""
        self.final_summary: SessionSummary | None = None
        """The summary published with the outcome (set while the service shuts down)."""
        self._tally_sub: Subscription | None = None
        self._recorder_sub: Subscription | None = None
        self._recorder_sink: RecorderSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._summary_cache: tuple[int, int, SessionSummary] | None = None
        self._snapshot = SessionSnapshot(units=units)
        self._dirty = True
        self._closed = False
        self._rejection: Rejection | None = None
        self._rejections = 0
        self._last_state: SessionState | None = None
        self._last_state_key: tuple[Any, ...] | None = None
        self._first_telemetry = asyncio.Event()
        self._distance_base: float | None = None
        self._distance_m: float | None = None
        self._heart_rate: int | None = None
        self._hr_source = ""
        self._first_heart_rate = asyncio.Event()
        self._speed_kmh: float | None = None
        self._signals_installed: list[int] = []
        self._serving = False
        self._started = False
        self._usage_error = False
        self._step_on_logged = False
        self.required_items: dict[str, str] = {}
        """Preflight items Start needs ticked, with why (the spotter item after a screening
        "yes" or with ``[safety] require_spotter``); a start without one is refused."""

    # ================================================================ lifecycle

    async def serve(self, frontend: Frontend) -> ExitCode:
        """Run the service with ``frontend`` until the front end returns (or something fails);
        the belt is stopped on the way out. Returns the exit code for the outcome."""
        if self._serving:
            raise RuntimeError("SessionService.serve() runs once")
        self._serving = True
        if self.freeze_gc:
            gc.freeze()
        self._install_signals()
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._on_loop_exception)
        self.tally.epoch_base = time.time() - self.clock.now()
        self._tally_sub = self.bus.add_sink(
            "summary", KEEP(LOG_QUEUE), self.tally.handle, kinds=TALLY_KINDS
        )
        log_sink = EventLogSink(self.log)
        self.bus.add_sink(
            "event-log", KEEP(LOG_QUEUE), log_sink.handle, kinds=LOG_KINDS, on_end=log_sink.finish
        )
        self._loop = loop
        if self.recording is not None:
            self._start_recorder(self.recording)
        self._note(
            "service",
            units=self.units,
            limits=self.config.limits,
            config=self.config.source,
            time_scale=float(getattr(self.clock, "scale", 1.0)),
        )
        try:
            if self.mqtt_settings is not None:
                await self._start_mqtt(self.mqtt_settings)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._aux.append(tg.create_task(self._ticker(), name="session-ticker"))
                self._aux.append(tg.create_task(self._writer(), name="session-commands"))
                tg.create_task(self._run_frontend(frontend), name="session-frontend")
        except BaseException as exc:
            self._classify_failure(exc)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                await self._shutdown()
                raise
        finally:
            self._tg = None
            try:
                if not self._closed:
                    await self._shutdown()
            finally:
                loop.set_exception_handler(previous_handler)
        return self.exit_code

    def _start_recorder(self, recording: Recording) -> None:
        recorder = Recorder(recording.path, on_failure=self._recorder_failed)
        self.recorder = recorder
        sink = self._recorder_sink = RecorderSink(recorder, recording.info, self.tally.epoch_base)
        self._recorder_sub = self.bus.add_sink(
            "recorder",
            KEEP(RECORDER_QUEUE),
            sink.handle,
            kinds=(*TALLY_KINDS, ev.SessionEnded),
        )

    def _recorder_failed(self, error: BaseException) -> None:
        """The recorder's writer thread failed (disk full, ...): report it on the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._recorder_failure, error)

    def _recorder_failure(self, error: BaseException) -> None:
        sub = self._recorder_sub
        if sub is not None and not sub.closed:
            self.bus.sink_failed(sub, error)
        elif sub is not None and not any(f.name == "recorder" for f in self.bus.failures):
            # Failed while closing (the last commit): still reported.
            self.bus.sink_failed(sub, error)

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception nobody awaited (a callback, a done callback, a forgotten task): logged in
        the event log; when it comes from our code (a frame in ``retro_treadmill`` or
        ``protocols``), the service fails closed (Stop, internal-error alarm). Exceptions inside
        bumble's own callbacks are logged only: the telemetry watchdog and the link-loss
        handling cover their effect on the link."""
        exc = context.get("exception")
        message = str(context.get("message") or "")
        ours = False
        if isinstance(exc, BaseException):
            for frame, _line in traceback.walk_tb(exc.__traceback__):
                filename = frame.f_code.co_filename.replace("\\", "/")
                if "/retro_treadmill/" in filename or "/protocols/" in filename:
                    ours = True
                    break
        with contextlib.suppress(Exception):
            self._emit(
                ev.Failed(
                    self.clock.now(),
                    "event-loop",
                    f"{message}: {exc!r}" if exc is not None else message,
                    ours=ours,
                )
            )
        if ours and isinstance(exc, Exception) and not self._closed:
            self._fail(f"{type(exc).__name__} in a callback: {exc}", exc, task="callback")
        else:
            loop.default_exception_handler(context)

    async def _run_frontend(self, frontend: Frontend) -> None:
        try:
            await frontend(self)
        finally:
            for task in self._aux:
                task.cancel()

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        if self._tg is None:
            raise RuntimeError("the session service is not serving")
        self._aux.append(self._tg.create_task(coro, name=name))  # type: ignore[arg-type]

    def _classify_failure(self, exc: BaseException) -> None:
        for inner in _flatten(exc):
            if isinstance(inner, asyncio.CancelledError):
                continue
            if isinstance(inner, DeviceError) and not self._started:
                self.no_device = str(inner)
                self._emit(ev.Failed(self.clock.now(), "connect", str(inner)))
                continue
            if isinstance(inner, StartRefused) or (
                isinstance(inner, RetroTreadmillError) and not self._started
            ):
                # A config-level problem found while preparing (e.g. the profile is outside the
                # treadmill's range), or a Start the governor refused: reported as such, nothing
                # was started.
                self.no_device = None
                self.error = self.error or str(inner)
                self._usage_error = True
                self._emit(ev.Failed(self.clock.now(), "prepare", str(inner)))
                continue
            self._fail(f"{type(inner).__name__}: {inner}", inner, task="service")

    def _fail(self, message: str, exc: BaseException | None = None, *, task: str = "") -> None:
        """Fail closed: Stop now, record an internal-error alarm (first failure wins)."""
        first = self.error is None
        if first:
            self.error = message
        self._write_stop_now(pause=False)
        tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
        now = self.clock.now()
        self._emit(ev.Failed(now, task, message, traceback=tb))
        self._emit(ev.AlarmRaised(now, sc.AlarmKind.INTERNAL_ERROR.value, message))
        if first:
            logger.error("session service failed closed: %s", message)
        self.terminate.set()

    async def _shutdown(self) -> None:
        """Stop the belt (bounded wait), close the client, MQTT and the log."""
        if self._closed:
            return
        self._closed = True
        if self.strap is not None:
            self.strap.stop()
        for task in self._aux:
            task.cancel()
        client = self.client
        engine = self.engine
        if client is not None and client.connected:
            clean = (
                engine is not None
                and self.error is None
                and engine.state is SessionState.FINISHED
                and engine.governor.standstill
            )
            if clean:
                self._yield_cpu_when_finished()
            if not clean:
                if engine is not None:
                    with contextlib.suppress(Exception):
                        engine.stop(self.clock.now(), sc.Source.SERVICE, "session service closing")
                self._emit(
                    ev.CommandSent(self.clock.now(), "Stop", reason="session service closing")
                )
                try:
                    async with asyncio.timeout(self.stop_wait_s):
                        result = await client.stop()
                    self._emit(ev.StopAnswered(self.clock.now(), result.outcome.value))
                except (TimeoutError, Exception) as exc:
                    self._emit(ev.Failed(self.clock.now(), "final-stop", repr(exc)))
        elif client is not None and (self._speed_kmh or 0.0) > 0.0:
            # The link is down (reconnecting, or given up): no Stop can be written now, and
            # closing ends the reconnect that would write it first.
            message = (
                "The treadmill is not connected, so the closing Stop could not be written; the "
                "belt was last seen moving. If it still moves, PULL THE SAFETY KEY."
            )
            self._emit(ev.AlarmRaised(self.clock.now(), sc.AlarmKind.LINK_LOSS.value, message))
            logger.error("%s", message)
        pending = [task for task in self._stop_tasks if not task.done()]
        if pending:
            # One deadline for all of them (a link that hangs must not cost stop_wait_s each).
            await asyncio.wait(pending, timeout=self.stop_wait_s)
        if self._strap_task is not None:
            done, _ = await asyncio.wait({self._strap_task}, timeout=5.0)
            if not done:
                self._strap_task.cancel()
        with contextlib.suppress(Exception):  # the closing steps below run whatever happens
            self._publish()
            if self._tally_sub is not None:
                await self._tally_sub.settled()
            self._log_outcome()
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await client.close()
        with contextlib.suppress(Exception):
            await self.bus.aclose()
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                # The last commit, off the loop (bounded: a stuck disk must not hold the exit).
                await asyncio.to_thread(self.recorder.close, 5.0)
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                await self.mqtt.aclose()
        self._remove_signals()
        self.changed.set()

    def _log_outcome(self) -> None:
        engine = self.engine
        code = self.exit_code
        now = self.clock.now()
        status = engine.status(now) if engine is not None else None
        self.tally.close()
        summary = self.tally.summary(code.name.lower(), int(code))
        self.final_summary = summary
        self._emit(
            ev.SessionEnded(
                now,
                outcome=code.name.lower(),
                exit_code=int(code),
                engine_outcome=engine.outcome.value if engine and engine.outcome else None,
                state=engine.state.value if engine is not None else None,
                belt_speed_kmh=self._speed_kmh,
                alarms=tuple(a.kind.value for a in status.alarms) if status else (),
                error=self.error,
                stop_requested=self.stop_requested,
                sink_failures=tuple(f"{f.name}: {f.error}" for f in self.bus.failures),
                summary=summary.to_dict(),
            )
        )

    def summary(self) -> SessionSummary:
        """The session's summary: the final one once the service has shut down, else the
        totals so far with the outcome so far."""
        if self.final_summary is not None:
            return self.final_summary
        code = self.exit_code
        key = (len(self.tally.samples), int(code))
        cached = self._summary_cache
        if cached is not None and cached[:2] == key:
            return cached[2]
        summary = self.tally.summary(code.name.lower(), int(code))
        self._summary_cache = (*key, summary)
        return summary

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the operator must know that is not an alarm: observers (event log, recorder)
        that failed."""
        return tuple(f"{f.name} stopped: {f.error}" for f in self.bus.failures)

    # ================================================================ outcome

    @property
    def exit_code(self) -> ExitCode:
        """The exit code for what has happened so far (see :class:`ExitCode`)."""
        if self.error is not None:
            return ExitCode.USAGE if self._usage_error else ExitCode.INTERNAL_ERROR
        engine = self.engine
        if self.no_device is not None and (
            engine is None or self.client is None or not self._started
        ):
            return ExitCode.NO_DEVICE  # the treadmill was never reached: nothing started
        if engine is None:
            return ExitCode.STOPPED if self.stop_requested else ExitCode.NO_DEVICE
        if engine.outcome is Outcome.COMPLETED:
            return ExitCode.COMPLETED
        if (
            self.link_failed
            or self.alarm_seen
            or engine.state is SessionState.ALARM
            or engine.outcome is Outcome.ALARM
        ):
            return ExitCode.ALARM
        if engine.outcome is Outcome.STOPPED or self.stop_requested:
            return ExitCode.STOPPED
        return ExitCode.STOPPED

    def session_over(self) -> bool:
        """Whether a headless session has nothing more to do: finished, halted by an alarm with
        the belt confirmed stopped, stopped before the start, the link gone for good, or failed."""
        if self.error is not None or self.link_failed or self._closed:
            return True
        engine = self.engine
        if engine is None:
            return False
        state = engine.state
        if state is SessionState.FINISHED:
            return True
        gov = engine.governor
        if state is SessionState.ALARM and gov.standstill and gov.status().link_up:
            return True
        return state in (SessionState.IDLE, SessionState.PREFLIGHT) and bool(self.stop_requested)

    # ================================================================ connecting

    async def prepare(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        """Load ``profile`` (by its key unless it is the one given at construction) and connect
        to ``device``; afterwards the state is ``preflight`` and telemetry has been seen.

        Raises :class:`~retro_treadmill.errors.RetroTreadmillError` (DeviceError when the
        treadmill cannot be reached, ConfigError when the profile is invalid for it)."""
        if self.client is not None:
            raise DeviceError("already connected; start a new session to change the treadmill")
        if self.profile is None or (profile.key and profile.key != self.profile_key):
            self.profile = load_profile(profile.key, self.config)
            self.profile_key = profile.key
            if self._recorder_sink is not None:
                # Chosen in the UI: the record names and keeps this one, not the command line's.
                self._recorder_sink.use_profile(self.profile)
        target: str | None
        if device.virtual:
            target = self.virtual_target or self.target
        else:
            # The address is what to connect to (a scan result's address, or --device's name or
            # address); ``name`` is only for display ("first FTMS treadmill in range").
            target = device.address or self.target
        await self.connect(target)

    async def connect(self, target: str | None = None) -> None:
        """Connect to ``target`` (default: the constructor's) with the loaded profile."""
        if self.profile is None:
            raise RetroTreadmillError("no profile loaded")
        profile = self.profile
        target = target if target is not None else self.target
        self.device_name = target or "first FTMS treadmill"
        self.link = LinkStatus.CONNECTING
        engine = SessionEngine(profile, limits=self.config.limits, units=self.units)
        self.engine = engine
        client = FtmsClient(
            self.adapter,
            target,
            clock=self.clock,
            quirks_table=self.quirks_table,
            reconnect=self.reconnect,
            silence_s=self.config.limits.telemetry_timeout_s,
        )
        client.audit.add_sink(self._on_audit)
        stream = client.events()
        self.client = client
        self._emit(
            ev.LinkChanged(
                self.clock.now(), "connecting", {"target": target, "profile": profile.name}
            )
        )
        self._publish()
        self._spawn(self._pump(stream), "ftms-events")
        await client.connect()
        desc = client.device
        assert desc is not None
        self.device_name = desc.name or desc.address
        self.link = LinkStatus.CONNECTED
        if self.stop_requested is not None:
            # Stop was asked for while connecting (nothing to write to then): write it now.
            self._write_stop_now(pause=False)
            self._emit(
                ev.CommandSent(self.clock.now(), "Stop", reason="stop asked for while connecting")
            )
        self._emit(ev.LinkChanged(self.clock.now(), "connected", {"device": desc}))
        if self.profile_key and desc.min_speed_kmh is not None and desc.max_speed_kmh is not None:
            # Profiles outside the treadmill's range are rejected, never clamped (DESIGN).
            device_range = DeviceRange(
                desc.min_speed_kmh, desc.max_speed_kmh, desc.min_incline_pct, desc.max_incline_pct
            )
            load_profile(self.profile_key, self.config, device=device_range)
        now = self.clock.now()
        ranges = sc.DeviceRanges(
            desc.min_speed_kmh,
            desc.max_speed_kmh,
            desc.speed_increment_kmh,
            desc.min_incline_pct,
            desc.max_incline_pct,
            desc.incline_increment_pct,
        )
        self._apply(engine.handle(ranges, now))
        plan = engine.speed_plan()
        if plan.refusal:  # name the treadmill in the quirk the way forward suggests
            name = desc.name or "<advertised name>"
            plan = dataclasses.replace(
                plan, refusal=plan.refusal.replace("<advertised name>", name)
            )
        self.speed_plan = plan
        self.log.write(
            "speed-plan",
            step_kmh=plan.step_kmh,
            worst_kmh=round(plan.worst_kmh, 3),
            needs_acceptance=plan.needs_acceptance,
            refusal=plan.refusal,
            segments=plan.lines(self.units),
        )
        self._apply(engine.handle(sc.LinkUp(), now))
        self._apply(engine.prepare(now))
        self._start_strap()
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        scale = float(getattr(self.clock, "scale", 1.0)) or 1.0
        try:
            async with asyncio.timeout(max(1.0, self.telemetry_wait_s / scale)):
                await self._first_telemetry.wait()
        except TimeoutError:
            raise DeviceError(
                f"{self.device_name} sends no Treadmill Data (2ACD); the session cannot watch "
                "the belt, so it does not start"
            ) from None
        if self.config.limits.heart_rate_limited:
            # A Start needs a live heart rate: give the strap (or the treadmill) time to send
            # one. Without one the preflight shows why and Start is refused.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(5.0, self.telemetry_wait_s / scale)):
                    await self._first_heart_rate.wait()

    # ================================================================ heart rate

    def _start_strap(self) -> None:
        if self.hr_device is None or self.strap is not None:
            return
        self.strap = StrapClient(
            self.adapter,
            self.hr_device,
            on_sample=self._on_strap_sample,
            on_lost=self._on_strap_lost,
            on_connected=self._on_strap_connected,
        )
        # Outside the task group, whose helper tasks are cancelled when the front end returns:
        # the strap is stopped and awaited at shutdown, after the final Stop (an HCI command
        # cancelled half-way would disturb the central it shares with the treadmill).
        self._strap_task = asyncio.get_running_loop().create_task(
            self._guarded_strap(self.strap), name="hr-strap"
        )

    async def _guarded_strap(self, strap: StrapClient) -> None:
        try:
            await strap.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the strap client's own bug: the heart rate is lost, say so
            self._emit(ev.Failed(self.clock.now(), "hr-strap", repr(exc)))
            self._on_strap_lost(f"the heart-rate strap client failed: {exc!r}")

    def choose_strap(self, device: DeviceInfo) -> None:
        """The operator chose a heart-rate strap (the TUI's device screen): it connects with the
        treadmill (at once when the treadmill is already connected)."""
        self.hr_device = device.address
        self._note("heart_rate_sensor", state="chosen", sensor=f"strap {device.name}")
        if self.engine is not None:
            self._start_strap()

    def _on_strap_connected(self, name: str) -> None:
        self._note("heart_rate_sensor", state="connected", sensor=f"strap {name}")

    def _on_strap_sample(self, measurement: HeartRateMeasurement) -> None:
        name = self.strap.name if self.strap is not None else "?"
        self._heart_rate_in(measurement.bpm, measurement.contact_detected, f"strap {name}")

    def _on_strap_lost(self, why: str) -> None:
        engine = self.engine
        self._note("heart_rate_sensor", state="lost", reason=why, sensor=self._hr_source)
        if engine is not None:
            self._apply(engine.handle(sc.HeartRateDisconnected(self._hr_source), self.clock.now()))

    def _heart_rate_in(self, bpm: int, contact: bool | None, source: str) -> None:
        """One heart-rate sample to the governor (through the engine) and the stream."""
        engine = self.engine
        if engine is None:
            return
        now = self.clock.now()
        self._hr_source = source
        if bpm > 0 and contact is not False:
            self._heart_rate = bpm
            self._first_heart_rate.set()
        self._emit(ev.HeartRateSample(now, bpm, contact, source))
        self._apply(engine.handle(sc.HeartRate(float(bpm), contact, source), now))

    def _live_heart_rate(self, now: float) -> int | None:
        engine = self.engine
        if engine is None or self._heart_rate is None:
            return None
        return self._heart_rate if engine.governor.heart_rate_status(now).live else None

    # ================================================================ tasks

    async def _pump(self, stream: AsyncIterator[FtmsEvent]) -> None:
        async for event in stream:
            self._on_ftms_event(event)

    async def _ticker(self) -> None:
        scale = float(getattr(self.clock, "scale", 1.0)) or 1.0
        interval = max(self.tick_s / scale, 1.0 / self.max_tick_hz)
        while True:
            await asyncio.sleep(interval)
            engine = self.engine
            if engine is not None:
                self._apply(engine.tick(self.clock.now()))
            else:
                self._publish()

    async def _writer(self) -> None:
        """Writes Start and setpoints in order, one at a time; drops those a Stop overtook."""
        while True:
            while not self._queue:
                self._writer_wake.clear()
                await self._writer_wake.wait()
            generation, command = self._queue.popleft()
            client = self.client
            if generation != self._generation or client is None:
                continue
            if not client.connected:
                self._emit(
                    ev.CommandFailed(
                        self.clock.now(), command, dropped=True, reason="not connected"
                    )
                )
                continue
            result: CommandResult
            value: float | None = None
            if isinstance(command, sc.Start):
                self._in_effect.clear()
                result = await client.start()
                if result.outcome.accepted:
                    self._stop_taken = False
            elif isinstance(command, sc.SetSpeed | sc.SetIncline):
                value = command.kmh if isinstance(command, sc.SetSpeed) else command.pct
                if self._in_effect.get(type(command)) == value:
                    # The treadmill already runs this target (accepted, nothing changed since):
                    # writing it again would only keep the control point busy.
                    continue
                self._in_effect.pop(type(command), None)
                written = self._generation
                if isinstance(command, sc.SetSpeed):
                    result = await client.set_target_speed(command.kmh)
                else:
                    result = await client.set_target_incline(command.pct)
                if result.outcome.accepted and written == self._generation:
                    self._in_effect[type(command)] = value
                    if isinstance(command, sc.SetSpeed) and (self._speed_kmh or 0.0) < 0.1:
                        self._speed_before_motion = True
            else:  # Stop/Pause never reach the queue
                continue
            if not result.outcome.accepted:
                self._emit(
                    ev.CommandFailed(
                        self.clock.now(),
                        command,
                        outcome=result.outcome.value,
                        result_code=result.result_code,
                        detail=result.detail,
                    )
                )
                if isinstance(command, sc.SetSpeed | sc.SetIncline):
                    self._setpoint_refused(command, result)

    def _setpoint_refused(
        self, command: sc.SetSpeed | sc.SetIncline, result: CommandResult
    ) -> None:
        """A setpoint the treadmill refused (or never answered): the governor halts at once
        rather than after the 10 s confirmation window."""
        engine = self.engine
        if engine is None or result.outcome not in _REFUSALS:
            return
        event = sc.SetpointRefused(command, _refusal_detail(result))
        self._apply(engine.handle(event, self.clock.now()))

    # ================================================================ FTMS events

    def _on_ftms_event(self, event: FtmsEvent) -> None:
        engine = self.engine
        if engine is None:
            return
        now = self.clock.now()
        out: SessionOutput | None = None
        if isinstance(
            event,
            MachineStatusEvent
            | LinkLost
            | Connected
            | Reconnecting
            | ReconnectFailed
            | ControlChanged,
        ):
            self._forget_setpoints(event)
        if isinstance(event, TreadmillDataEvent):
            record = event.record
            self._speed_kmh = record.speed_kmh
            if record.total_distance_m is not None:
                if self._distance_base is None or record.total_distance_m < self._distance_base:
                    self._distance_base = record.total_distance_m
                self._distance_m = record.total_distance_m - self._distance_base
            out = engine.handle(sc.Telemetry(record.speed_kmh, record.inclination_pct), now)
            if self._speed_before_motion and (record.speed_kmh or 0.0) >= 0.1 and not out.commands:
                out = self._speed_again(engine, now, out)
            if record.heart_rate_bpm is not None and self.hr_device is None:
                # No strap: the treadmill's own heart rate (hand grips, its receiver) is the
                # source. Sent as 0 it means "no sensor" and is not a sample.
                self._heart_rate_in(int(record.heart_rate_bpm), None, "treadmill")
            self._first_telemetry.set()
            status = engine.status(now)
            self._emit(
                ev.BeltSample(
                    now,
                    speed_kmh=record.speed_kmh,
                    incline_pct=record.inclination_pct,
                    distance_m=self._distance_m,
                    elapsed_s=status.elapsed_s,
                    heart_rate_bpm=self._live_heart_rate(now),
                    target_speed_kmh=status.target_speed_kmh,
                    target_incline_pct=status.target_incline_pct,
                    state=status.state.value,
                    segment_index=status.segment_index,
                    direction=status.direction,
                    segment_name=status.segment_name,
                    heart_rate_source=self._hr_source or None,
                )
            )
        elif isinstance(event, MachineStatusEvent):
            if isinstance(event.status, StoppedOrPausedByUser | StoppedBySafetyKey):
                self._stop_taken = True
            mapped = self._map_status(event)
            if mapped is not None:
                out = engine.handle(mapped, now)
        elif isinstance(event, LinkLost):
            self.link = LinkStatus.LOST
            self._emit(ev.LinkChanged(now, "lost", {"event": event}))
            out = engine.handle(sc.LinkLost(), now)
        elif isinstance(event, Connected):
            self.link = LinkStatus.CONNECTED
            if event.reconnect:
                self._emit(ev.LinkChanged(now, "connected", {"event": event}))
                # The client has written Stop first; the belt state is unknown until telemetry.
                out = engine.handle(sc.LinkUp(), now)
        elif isinstance(event, Reconnecting):
            self.link = LinkStatus.RECONNECTING
            self._emit(ev.LinkChanged(now, "reconnecting", {"event": event}))
        elif isinstance(event, ReconnectFailed):
            self.link = LinkStatus.DISCONNECTED
            self.link_failed = True
            self._emit(ev.LinkChanged(now, "failed", {"event": event}))
            self._emit(
                ev.AlarmRaised(
                    now,
                    sc.AlarmKind.LINK_LOSS.value,
                    "Could not reconnect to the treadmill. If the belt moves, pull the safety key.",
                )
            )
            self.alarm_seen = True
        elif isinstance(event, ControlChanged):
            self.control = ControlStatus.GRANTED if event.granted else ControlStatus.LOST
            if not event.granted and event.reason != "link lost":
                self._note("ftms", event=event)
                out = engine.handle(sc.ControlRefused(event.reason), now)
        elif isinstance(event, UnitMismatch):
            self._note("ftms", event=event)
            message = (
                f"Unit mismatch: target {event.target_kmh:.2f} km/h, belt "
                f"{event.reported_kmh:.2f} km/h (ratio {event.ratio:.2f}); the treadmill "
                "mixes up km/h and mph. Stopped."
            )
            # A fault found outside the governor: Stop and a latched alarm in the session (the
            # UI's alarm screen); resuming needs the operator (DESIGN: units self-test). A
            # console target change (status 0x05) or an overspeed explains the speed instead.
            verdict = engine.governor.classify_unit_mismatch(event.target_kmh, event.reported_kmh)
            if verdict is not None:
                kind, why = verdict
                out = engine.fault(
                    kind, message if kind is sc.AlarmKind.UNIT_MISMATCH else why, now
                )
        if out is not None:
            self._apply(out)
        else:
            self._publish()

    def _speed_again(self, engine: SessionEngine, now: float, out: SessionOutput) -> SessionOutput:
        """The belt moves now: write the running target again (through the governor), in case
        the treadmill lost the one written while the belt stood (QZ PR #4621)."""
        self._speed_before_motion = False
        governor = engine.governor
        target = governor.target_speed_kmh
        if governor.state.value != "running" or target <= 0:
            return out
        self._in_effect.pop(sc.SetSpeed, None)
        decision = governor.decide(sc.Request(sc.SetSpeed(target), sc.Source.SERVICE), now)
        if decision.command != sc.SetSpeed(target):
            return out
        return SessionOutput(
            commands=(*out.commands, decision.command),
            alarms=out.alarms,
            decisions=(*out.decisions, decision),
            rejection=out.rejection,
        )

    def _forget_setpoints(self, event: FtmsEvent) -> None:
        """A machine status (console, safety key, another target), a link event: what the
        treadmill runs may have changed, so the next setpoint is written whatever it is. The
        treadmill's echo of the target just accepted (0x05/0x06 with that value) changes
        nothing."""
        status = event.status if isinstance(event, MachineStatusEvent) else None
        if isinstance(status, TargetSpeedChanged):
            speed = self._in_effect.get(sc.SetSpeed)
            if speed is not None and abs(speed - status.speed_kmh) <= 0.005:  # 0.01 km/h wire
                return
        elif isinstance(status, TargetInclinationChanged):
            pct = self._in_effect.get(sc.SetIncline)
            if pct is not None and abs(pct - status.inclination_pct) <= 0.05:  # 0.1 % wire
                return
        self._in_effect.clear()

    @staticmethod
    def _map_status(event: MachineStatusEvent) -> sc.Event | None:
        status = event.status
        if isinstance(status, StoppedBySafetyKey):
            return sc.SafetyKeyStop()
        if isinstance(status, ControlPermissionLost):
            return sc.ControlLost()
        if isinstance(status, StoppedOrPausedByUser):
            return sc.ConsoleStopped(paused=int(status.control) == int(StopControl.PAUSE))
        if isinstance(status, StartedOrResumedByUser):
            return sc.ConsoleStarted()
        if isinstance(status, TargetSpeedChanged):
            return sc.TargetSpeedChanged(status.speed_kmh)
        if isinstance(status, TargetInclinationChanged):
            return sc.TargetInclineChanged(status.inclination_pct)
        return None

    # ================================================================ applying engine output

    def _apply(self, out: SessionOutput, request: str = "") -> None:
        """Send ``out.commands`` in order (a Stop at once), then record and publish."""
        for command in out.commands:
            if isinstance(command, sc.Stop | sc.Pause):
                self._write_stop_now(
                    pause=isinstance(command, sc.Pause),
                    request_control=isinstance(command, sc.Stop) and command.request_control,
                )
            else:
                self._queue.append((self._generation, command))
                self._writer_wake.set()
        self._record(out, request)

    def _write_stop_now(
        self, *, pause: bool, request_control: bool = False
    ) -> asyncio.Task[Any] | None:
        """Hand Stop (or Pause) to the client at once; queued setpoints are dropped. Returns the
        client's task writing it (``None`` when there is no link to write to). Never raises."""
        self._generation += 1
        self._queue.clear()
        self._in_effect.clear()
        client = self.client
        if client is None or not client.connected:
            # Nothing to write to; on reconnect the client writes Stop before anything else.
            return None
        try:
            task = (
                client.stop_soon(request_control=request_control)
                if not pause
                else asyncio.get_running_loop().create_task(client.pause(), name="ftms-pause")
            )
        except RuntimeError:  # no running loop (interpreter shutting down)
            return None
        except Exception as exc:  # the client broke: the closing Stop is retried in _shutdown
            with contextlib.suppress(Exception):
                self._emit(ev.Failed(self.clock.now(), "stop", repr(exc)))
            self.terminate.set()
            return None
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_done)
        return task

    def _stop_in_flight(self) -> bool:
        return bool(self._stop_tasks)

    async def _stops_settled_within(self, within_s: float) -> None:
        pending = {task for task in self._stop_tasks if not task.done()}
        if pending:
            await asyncio.wait(pending, timeout=within_s)
        else:  # done, and its done-callback (which forgets it) runs at the next turn
            await asyncio.sleep(0)

    async def stops_settled(self) -> None:
        """Wait until every Stop handed to the client has been answered (or has failed)."""
        while self._stop_tasks:
            await asyncio.wait(set(self._stop_tasks))

    def _stop_done(self, task: asyncio.Task[Any]) -> None:
        self._stop_tasks.discard(task)
        if task.cancelled():
            return
        with contextlib.suppress(Exception):
            self._log_stop_result(task)

    def _log_stop_result(self, task: asyncio.Task[Any]) -> None:
        exc = task.exception()
        if exc is not None:
            self._emit(ev.Failed(self.clock.now(), "stop", repr(exc)))
            return
        result = task.result()
        if isinstance(result, CommandResult) and not result.outcome.accepted:
            self._emit(ev.StopAnswered(self.clock.now(), result.outcome.value, result.result_code))
        if isinstance(result, CommandResult):
            self._stop_answered(result)

    def _stop_answered(self, result: CommandResult) -> None:
        """A Stop the treadmill refused while the belt may move (an error result, 0x04 "already
        stopped" with no Stop taken since the Start, a failed or unanswered write): the governor
        raises the escalation alarm at once and sends Stop again (DESIGN: a refused Stop)."""
        outcome = result.outcome
        if outcome is CommandOutcome.SUCCESS:
            self._stop_taken = True
            return
        refused = outcome in _REFUSALS or (
            outcome is CommandOutcome.ALREADY_STOPPED and not self._stop_taken
        )
        engine = self.engine
        if not refused or engine is None:
            return
        self._note("stop-refused", outcome=outcome.value, result_code=result.result_code)
        event = sc.StopRefused(
            _refusal_detail(result),
            already_stopped=outcome is CommandOutcome.ALREADY_STOPPED,
            control_not_permitted=result.result_code == RESULT_CONTROL_NOT_PERMITTED,
        )
        self._apply(engine.handle(event, self.clock.now()))

    def _record(self, out: SessionOutput, request: str = "") -> None:
        now = self.clock.now()
        emit = self.bus.publish
        for decision in out.decisions:
            if decision.request.source is not sc.Source.PROFILE or not decision.approved:
                emit(
                    ev.Decided(
                        now,
                        verdict=decision.verdict.value,
                        request=_describe_command_req(decision.request.command),
                        by=decision.request.source.value,
                        command=_describe_command(decision.command) if decision.command else None,
                        reason=decision.reason,
                    )
                )
        for command in out.commands:
            emit(ev.CommandSent(now, _describe_command(command), data=command))
        for alarm in out.alarms:
            if not alarm.warning:  # a warning (heart rate lost) did not halt the session
                self.alarm_seen = True
            emit(ev.AlarmRaised(now, alarm.kind.value, alarm.message, warning=alarm.warning))
        if out.rejection:
            self._rejections += 1
            self._rejection = Rejection(request or "request", out.rejection, self._rejections)
            emit(ev.Rejected(now, request, out.rejection))
        self._publish()

    def _emit(self, event: ev.SessionEvent) -> None:
        self.bus.publish(event)

    def _yield_cpu_when_finished(self) -> None:
        """The session is over with the belt at a standstill (``finished`` is final): the rest
        of this process runs at :data:`FINISHED_NICENESS` (once; see
        :attr:`yield_cpu_when_finished`)."""
        if not self.yield_cpu_when_finished or self._cpu_yielded:
            return
        self._cpu_yielded = True
        self._note("finished", niceness=lower_cpu_priority(FINISHED_NICENESS))

    def _note(self, kind: str, /, **data: Any) -> None:
        """A fact for the event log only."""
        self.bus.publish(ev.Noted(self.clock.now(), kind, data))

    def _on_audit(self, record: AuditRecord) -> None:
        self.bus.publish(ev.FtmsAudited(record.t, record))

    @property
    def snapshot(self) -> SessionSnapshot:
        """The newest snapshot (built on demand: the same object until something changes)."""
        if self._dirty:
            self._dirty = False
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def _publish(self) -> None:
        """Something changed: publish the session's state when it moved (a transition, the
        segment, targets, alarm or message) and a tick for the UI. The snapshot itself is built
        when somebody reads it (:attr:`snapshot`)."""
        engine = self.engine
        now = self.clock.now()
        if engine is not None:
            status = engine.status(now)
            state = status.state
            alarm = status.alarms[-1].kind.value if status.alarms else None
            key = (
                state,
                status.segment_index,
                round(status.target_speed_kmh, 3),
                status.target_incline_pct,
                alarm,
                status.message,
            )
            if key != self._last_state_key:
                self._last_state_key = key
                previous = self._last_state
                changed = state is not previous
                self._last_state = state
                if changed and state is SessionState.RUNNING:
                    self.alarm_seen = False  # the operator resumed after the alarm
                segment = None
                if status.segment_index is not None:
                    segment = ev.SegmentView(
                        status.segment_index,
                        status.segment_count,
                        status.segment_name,
                        status.direction or "backward",
                        status.segment_remaining_s,
                        status.segment_kind,
                    )
                self.bus.publish(
                    ev.StateChanged(
                        now,
                        state=state.value,
                        previous=previous.value if previous else None,
                        changed=changed,
                        profile=status.profile_name,
                        segment=segment,
                        segment_name=status.segment_name,
                        target_speed_kmh=status.target_speed_kmh,
                        target_incline_pct=status.target_incline_pct,
                        alarm=alarm,
                        message=status.message,
                    )
                )
            self._log_step_on(engine, state)
            if state is SessionState.FINISHED and engine.governor.standstill:
                self._yield_cpu_when_finished()
        self.bus.publish(ev.Tick(now))
        self._dirty = True
        self.changed.set()

    def _log_step_on(self, engine: SessionEngine, state: SessionState) -> None:
        """Log the moment STEP ON is first shown after each (re)start, with the belt speed that
        telemetry reported (the straddle start, for the record and the tests)."""
        if state is SessionState.COUNTDOWN:
            self._step_on_logged = False
        elif state is SessionState.RUNNING and not self._step_on_logged:
            status = engine.status(self.clock.now())
            if status.step_on:
                self._step_on_logged = True
                self._note(
                    "step-on",
                    belt_speed_kmh=status.speed_kmh,
                    target_speed_kmh=status.target_speed_kmh,
                    prompt=status.prompt,
                )

    def _build_snapshot(self) -> SessionSnapshot:
        engine = self.engine
        now = self.clock.now()
        if engine is None:
            return SessionSnapshot(
                state=UiState.IDLE,
                time_s=now,
                units=self.units,
                device_name=self.device_name,
                link=self.link,
                control=self.control,
                mqtt=self.mqtt_status,
                message=self.no_device or self.error or "",
                warnings=self.warnings,
            )
        status = engine.status(now)
        link = self.link
        if status.link_up and link is not LinkStatus.CONNECTED:
            link = LinkStatus.CONNECTED
        snap = snapshot_from_status(
            status,
            units=self.units,
            device_name=self.device_name,
            link=link,
            control=self.control,
            mqtt=self.mqtt_status,
            distance_m=self._distance_m,
            heart_rate_bpm=self._live_heart_rate(now),
            rejection=self._rejection,
            heart_rate=heart_rate_view(engine.governor.heart_rate_status(now), now),
        )
        summary = ""
        if self._started and self.session_over():
            summary = self.summary().text(self.units)
        if summary or self.bus.failures:
            snap = dataclasses.replace(snap, summary=summary, warnings=self.warnings)
        if self.speed_plan is not None:
            snap = dataclasses.replace(snap, speed_plan=self.speed_plan)
        return snap

    async def _start_mqtt(self, settings: MqttSettings) -> None:
        self.mqtt_status = UiMqttStatus.CONNECTING
        publisher = MqttPublisher(
            settings,
            on_command=self.remote_command,
            on_status=self._on_mqtt_status,
            clock=self.clock.now,
        )
        await publisher.start()
        self.mqtt = publisher
        sink = MqttSink(publisher, limits=self.config.limits, units=self.units)
        self.bus.add_sink(
            "mqtt-telemetry",
            DROP_OLDEST(MQTT_TELEMETRY_QUEUE),
            sink.handle,
            kinds=(ev.BeltSample,),
        )
        self.bus.add_sink("mqtt", KEEP(MQTT_EVENT_QUEUE), sink.handle, kinds=MQTT_EVENT_KINDS)
        self._note("mqtt", broker=settings.redacted_url, treadmill_id=settings.treadmill_id)

    def _on_mqtt_status(self, status: MqttStatus) -> None:
        mapped = {
            MqttConnectionState.CONNECTED: UiMqttStatus.CONNECTED,
            MqttConnectionState.CONNECTING: UiMqttStatus.CONNECTING,
        }.get(status.state, UiMqttStatus.DISCONNECTED)
        if mapped is not self.mqtt_status:
            self.mqtt_status = mapped
            self._note("mqtt", state=status.state.value, error=status.last_error)
        if self._serving and not self._closed:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(self._guard, "publish", self._publish)

    def remote_command(self, command: RemoteCommand) -> None:
        """MQTT ``command/stop`` / ``command/pause`` (already validated): the same stop path as
        the stop key. Never raises."""
        if command.kind == "stop":
            self.stop(StopOrigin.MQTT, detail=f"{command.sender}: {command.reason}")
        else:
            self._guard("pause", lambda: self._do_pause(sc.Source.MQTT, command.sender))

    # ================================================================ signals

    def _install_signals(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for name in _HANDLED_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, self.on_signal, name)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals_installed.append(signum)

    def _remove_signals(self) -> None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for signum in self._signals_installed:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)
        self._signals_installed.clear()

    def on_signal(self, name: str) -> None:
        """SIGINT/SIGTERM/SIGHUP: stop the belt now. SIGTERM (a supervisor) and SIGHUP (the
        terminal is gone) also end the front end once the belt is confirmed stopped (bounded by
        the stop-confirmation timeout); after SIGINT the front end stays (the TUI shows the
        stopped session). A second signal ends the front end at once."""
        again = self.signalled is not None
        self.signalled = name
        self.stop(StopOrigin.SIGNAL, detail=name)
        for hook in tuple(self.signal_hooks):  # after the Stop is on its way, never before
            try:
                hook(name)
            except Exception as exc:
                self._emit(ev.Failed(self.clock.now(), "signal-hook", repr(exc)))
        if again or self.engine is None:
            self.terminate.set()
        elif name in ("SIGTERM", "SIGHUP"):
            try:
                self._spawn(self._terminate_when_stopped(), "signal-exit")
            except RuntimeError:  # not serving (any more): nothing to end
                self.terminate.set()

    async def _terminate_when_stopped(self) -> None:
        limits = self.config.limits
        scale = float(getattr(self.clock, "scale", 1.0)) or 1.0
        changes = self.bus.subscribe("signal-exit", LATEST)  # every published change
        try:
            async with asyncio.timeout((limits.stop_confirm_timeout_s + 2.0) / scale + 2.0):
                if not self.session_over():
                    async for _event in changes:
                        if self.session_over():
                            break
        except TimeoutError:
            self._emit(
                ev.Failed(self.clock.now(), "signal-exit", "the belt did not confirm the stop")
            )
        finally:
            changes.close()
            self.terminate.set()

    # ================================================================ SessionController intents

    def stop(
        self, source: StopSource | StopOrigin | str = StopOrigin.OPERATOR, detail: str = ""
    ) -> None:
        """Stop the belt now (FTMS Stop, op 0x08 01): synchronous, never waits, never raises.

        The governor approves Stop in every state; the Stop is handed to the client before
        anything is logged or published."""
        origin = str(getattr(source, "value", source))
        engine = self.engine
        out: SessionOutput | None = None
        failure: Exception | None = None
        if engine is not None:
            try:
                reason = f"stop ({origin}{': ' + detail if detail else ''})"
                out = engine.stop(
                    self.clock.now(), _ENGINE_SOURCE.get(origin, sc.Source.OPERATOR), reason
                )
            except Exception as exc:  # fail closed: the belt stops even if the engine breaks
                failure = exc
        # Written whatever the engine said or whether there is a session at all: a treadmill
        # that is connected gets its Stop (its belt may have been started from the console).
        self._write_stop_now(pause=False)
        if failure is not None:
            with contextlib.suppress(Exception):
                self._fail(f"{type(failure).__name__} in stop: {failure}", failure, task="stop")
        if self.stop_requested is None:
            self.stop_requested = origin
        # Only now, with the Stop handed to the client, is it published: a few appends to the
        # observers' queues, which they read while the Stop is on its way.
        with contextlib.suppress(Exception):
            now = self.clock.now()
            self._emit(ev.OperatorAction(now, "stop", origin, {"detail": detail}))
            if out is not None:
                # The Stop was written above; record it without writing it again.
                self._record(SessionOutput((), out.alarms, out.decisions, out.rejection))
                self._emit(ev.CommandSent(now, "Stop", by=origin))
            else:
                self._publish()
        if origin == StopSource.UI_EXCEPTION.value and self.error is None:
            with contextlib.suppress(Exception):
                self._fail("an exception in the user interface", task="ui")

    def _guard(self, action: str, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:  # intents never raise; a bug fails closed
            self._fail(f"{type(exc).__name__} in {action}: {exc}", exc, task=action)

    def pause(self) -> None:
        """Pause: FTMS Stop or Pause 0x08 02 at once; resume needs :meth:`resume`."""
        self._guard("pause", lambda: self._do_pause(sc.Source.KEYBOARD, "keyboard"))

    def _do_pause(self, source: sc.Source, who: str) -> None:
        engine = self.engine
        self.operator_paused = True
        self._emit(ev.OperatorAction(self.clock.now(), "pause", who))
        if engine is None:
            return
        self._apply(engine.pause(self.clock.now(), source), "pause")

    def resume(self, by: str | None = None) -> None:
        """Resume after a pause or a turn-around prompt (a new countdown); refused unless the belt
        is at a standstill. Never after a stop (the session is over). ``by``: who, for the
        record (``--auto-turn-around``)."""

        def body() -> None:
            engine = self.engine
            self.operator_paused = False
            self._emit(ev.OperatorAction(self.clock.now(), "resume", by))
            if engine is not None:
                self._apply(engine.resume(self.clock.now()), "resume")

        self._guard("resume", body)

    def start(self, checklist: Sequence[str] = ()) -> None:
        """The preflight checklist is done: start the countdown (5 s), then the profile."""

        def body() -> None:
            engine = self.engine
            self._emit(
                ev.OperatorAction(self.clock.now(), "start", data={"checklist": list(checklist)})
            )
            self._started = True
            missing = [item for item in self.required_items if item not in checklist]
            if engine is None or missing:
                reason = "not connected yet"
                if missing:
                    reason = f"'{missing[0]}' must be ticked: {self.required_items[missing[0]]}"
                self._rejections += 1
                self._rejection = Rejection("start", reason, self._rejections)
                self._publish()
                return
            plan = self.speed_plan
            if plan is not None and plan.needs_acceptance:
                item = plan.acceptance_item(self.units)
                if item not in checklist:
                    self._rejections += 1
                    self._rejection = Rejection(
                        "start",
                        f"the treadmill's speeds differ from the prescription; accept them "
                        f"first: {item}",
                        self._rejections,
                    )
                    self._publish()
                    return
            self._apply(engine.start(self.clock.now()), "start")

        self._guard("start", body)

    def adjust_speed(self, delta_kmh: float) -> None:
        """+/-: ask the governor for the target speed plus ``delta_kmh`` (km/h)."""

        def body() -> None:
            engine = self.engine
            label = f"speed {'+' if delta_kmh > 0 else ''}{format_speed(delta_kmh, self.units)}"
            self._emit(ev.OperatorAction(self.clock.now(), "speed", data={"delta_kmh": delta_kmh}))
            if engine is None:
                return
            request = sc.Request(sc.SpeedChange(delta_kmh), sc.Source.KEYBOARD)
            self._apply(engine.request(request, self.clock.now()), label)

        self._guard("speed", body)

    def adjust_incline(self, delta_pct: float) -> None:
        """+/-: ask the governor for the target inclination plus ``delta_pct`` (percent)."""

        def body() -> None:
            engine = self.engine
            self._emit(
                ev.OperatorAction(self.clock.now(), "incline", data={"delta_pct": delta_pct})
            )
            if engine is None:
                return
            request = sc.Request(sc.InclineChange(delta_pct), sc.Source.KEYBOARD)
            self._apply(engine.request(request, self.clock.now()), f"incline {delta_pct:+.1f} %")

        self._guard("incline", body)

    def acknowledge_alarm(self) -> None:
        """The operator saw the alarm; those whose cause is over are cleared (belt stays
        stopped)."""

        def body() -> None:
            engine = self.engine
            self._emit(ev.OperatorAction(self.clock.now(), "acknowledge"))
            if engine is not None:
                self._apply(engine.acknowledge(self.clock.now()))

        self._guard("acknowledge", body)

    async def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        """The current snapshot, then each newer one (conflated: a slow reader gets the newest);
        ends when the service shuts down."""
        changes = self.bus.subscribe("ui", LATEST)
        last = self.snapshot
        try:
            yield last
            async for _event in changes:
                snap = self.snapshot
                if snap is not last:
                    last = snap
                    yield snap
            snap = self.snapshot
            if snap is not last:
                yield snap
        finally:
            changes.close()


_REFUSALS = frozenset(
    {
        CommandOutcome.REJECTED,
        CommandOutcome.TIMEOUT,
        CommandOutcome.WRITE_FAILED,
        CommandOutcome.BELT_NOT_MOVING,
    }
)
"""Command outcomes that mean the treadmill did not take the command."""


def _refusal_detail(result: CommandResult) -> str:
    if result.result_code is not None and result.outcome is not CommandOutcome.TIMEOUT:
        return f"{result.outcome.value}, result 0x{result.result_code:02X}"
    return result.outcome.value if not result.detail else f"{result.outcome.value}: {result.detail}"


def _describe_command_req(command: sc.Requestable) -> str:
    if isinstance(command, sc.SpeedChange):
        return f"SpeedChange({command.delta_kmh:+.2f} km/h)"
    if isinstance(command, sc.InclineChange):
        return f"InclineChange({command.delta_pct:+.1f} %)"
    return _describe_command(command)


__all__ = ["ExitCode", "Frontend", "SessionService", "StopOrigin"]
