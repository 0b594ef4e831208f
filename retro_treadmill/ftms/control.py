"""The FTMS control-point procedure machine, sans-IO (events in, actions out, ``now`` passed in).

FTMS §4.16 allows one control-point procedure at a time: the client writes a request to 2AD9 and
waits for the response ``80 <op> <result>`` (indication, or notification on some devices). This
class decides *what to write when*; the asyncio shell (:mod:`retro_treadmill.ftms.client`) performs
the writes and feeds back what happened. It never reads a clock and never awaits.

Rules it implements (ftms-notes §6 and §11):

- one procedure in flight; later commands wait their turn; a queued Set Target is replaced by a
  newer one of the same kind (SUPERSEDED);
- responses are matched to procedures by request op code, oldest first (ATT delivers in order);
  a pre-empted procedure's response is expected and dropped; a timed-out one's is not expected;
- Request Control (0x00) is sent before the first command that needs control, again after result
  0x05 or status 0xFF/0x01 (with the quirk's backoff, 0.5 -> 1 -> 2 s), and before every command
  when the ``request_control_before_each_command`` quirk says so;
- **Stop pre-empts**: it is written at once, even while another procedure awaits its response.
  The overtaken procedure ends PREEMPTED, its late response is recognised and dropped, queued
  commands are CANCELLED. When a strict server refuses the early Stop with ATT 0xFE, the Stop is
  rewritten the moment the overtaken response arrives (or after ``busy_retry_s``); so is a Stop
  sent as a Write Command, which a busy server may drop without a word. A Stop never
  waits for a backoff and is retried when its response does not come;
- 0x04 after Start means "already running", after Stop "already stopped";
- timeouts per procedure (``control_point_timeout_s``);
- after a link loss every pending command ends LINK_LOST; on reconnect the caller asks for a
  Stop first (:meth:`ControlPointMachine.connection_made` with ``stop_first=True``).

Usage (the shell's loop)::

    ticket = machine.submit(Command(CommandKind.START), now)
    for action in machine.actions():       # WriteRequest / Finished / ControlChanged / ...
        ...
    machine.receive_response(op, result, now)   # on a 2AD9 response
    machine.tick(now)                            # at machine.next_deadline()
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from retro_treadmill.ftms.model import Command, CommandKind, Outcome
from retro_treadmill.ftms.quirks import DeviceQuirks

OPCODES: dict[CommandKind, int] = {
    CommandKind.REQUEST_CONTROL: 0x00,
    CommandKind.RESET: 0x01,
    CommandKind.SET_TARGET_SPEED: 0x02,
    CommandKind.SET_TARGET_INCLINE: 0x03,
    CommandKind.START: 0x07,
    CommandKind.STOP: 0x08,
    CommandKind.PAUSE: 0x08,
}
"""Control-point op codes (FTMS Table 4.15)."""

RESULT_SUCCESS = 0x01
RESULT_OP_NOT_SUPPORTED = 0x02
RESULT_OPERATION_FAILED = 0x04
RESULT_CONTROL_NOT_PERMITTED = 0x05
STATUS_RESET = 0x01
STATUS_CONTROL_LOST = 0xFF
ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE

_STOP_KINDS = (CommandKind.STOP, CommandKind.PAUSE)
_SETPOINT_KINDS = (CommandKind.SET_TARGET_SPEED, CommandKind.SET_TARGET_INCLINE)


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """Write ``command`` to the control point now. ``procedure`` identifies this write in
    :meth:`ControlPointMachine.write_failed`; ``auxiliary`` marks a Request Control the machine
    inserted on behalf of ticket ``ticket``."""

    procedure: int
    ticket: int
    command: Command
    auxiliary: bool
    attempt: int


@dataclass(frozen=True, slots=True)
class Finished:
    """Ticket ``ticket`` (the caller's ``command``) ended with ``outcome``."""

    ticket: int
    command: Command
    outcome: Outcome
    result_code: int | None
    latency_s: float | None
    detail: str
    attempts: int
    at: float


@dataclass(frozen=True, slots=True)
class ControlStateChanged:
    """Control was granted (a Request Control succeeded) or lost (0x05, 0xFF, Reset, link)."""

    granted: bool
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class ResponseMatched:
    """A response completed procedure ``procedure``; ``latency_s`` is its round trip."""

    procedure: int
    command: Command
    result_code: int
    latency_s: float
    at: float


@dataclass(frozen=True, slots=True)
class ResponseDiscarded:
    """A response that belongs to no live procedure (``reason``: late response of a pre-empted
    or timed-out procedure, or unsolicited)."""

    request_opcode: int
    result_code: int
    reason: str
    latency_s: float | None
    at: float


Action = WriteRequest | Finished | ControlStateChanged | ResponseMatched | ResponseDiscarded


class _Phase(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    IN_FLIGHT = "in-flight"


@dataclass(slots=True)
class _Ticket:
    ticket: int
    command: Command
    submitted_at: float
    attempts: int = 0
    control_attempts: int = 0
    stop_rewrites: int = 0
    busy_rewrites: int = 0
    first_write_at: float | None = None
    control_done: bool = False
    phase: _Phase = _Phase.READY
    wait_until: float | None = None
    belt_deadline: float | None = None
    last_result: int | None = None
    force_control: bool = False
    """A Stop that requests control first (sent again after a refusal)."""


@dataclass(slots=True)
class _Procedure:
    procedure: int
    ticket: _Ticket
    command: Command
    opcode: int
    written_at: float
    deadline: float
    auxiliary: bool
    refused: bool = False
    rewrite_at: float | None = None


@dataclass(slots=True)
class _Stale:
    opcode: int
    written_at: float
    expires: float
    reason: str


@dataclass(slots=True)
class ControlPointMachine:
    """One device's control-point procedures (see the module docstring for the rules)."""

    quirks: DeviceQuirks = field(default_factory=DeviceQuirks)
    writes_acknowledged: bool = True
    """False when the control point is written with Write Command (no ATT response): a busy
    server then cannot refuse an overtaking Stop with 0xFE, it may drop it unseen."""
    connected: bool = False
    has_control: bool = False
    belt_moving: bool = False
    _queue: deque[_Ticket] = field(default_factory=deque)
    _active: _Ticket | None = None
    _inflight: _Procedure | None = None
    _stale: list[_Stale] = field(default_factory=list)
    _actions: list[Action] = field(default_factory=list)
    _next_ticket: int = 1
    _next_procedure: int = 1
    _control_hold_until: float = float("-inf")
    _control_failures: int = 0
    _started_at: float | None = None

    # -- inputs ----------------------------------------------------------------------------------

    def submit(self, command: Command, now: float) -> int:
        """Queue ``command`` (Stop and Pause pre-empt, see :meth:`stop`); returns its ticket."""
        if command.kind in _STOP_KINDS:
            return self.stop(now, pause=command.kind is CommandKind.PAUSE)
        ticket = self._new_ticket(command, now)
        if not self.connected:
            self._finish(ticket, Outcome.LINK_LOST, now, detail="not connected")
            return ticket.ticket
        if command.kind in _SETPOINT_KINDS:
            for queued in list(self._queue):
                if queued.command.kind is command.kind:
                    self._queue.remove(queued)
                    self._finish(queued, Outcome.SUPERSEDED, now, detail=f"replaced by {command}")
        self._queue.append(ticket)
        self._advance(now)
        return ticket.ticket

    def stop(self, now: float, *, pause: bool = False, request_control: bool = False) -> int:
        """Stop (or Pause) the belt: written at once, whatever is pending. Returns the ticket.

        The procedure in flight (if any) ends PREEMPTED, queued commands end CANCELLED. A Pause
        does not overtake a Stop that is already under way; it waits behind it. With
        ``request_control`` (a Stop sent again after the treadmill refused one) Request Control
        goes first, and the Stop follows whatever its answer (or after its timeout).
        """
        kind = CommandKind.PAUSE if pause else CommandKind.STOP
        ticket = self._new_ticket(Command(kind), now)
        ticket.force_control = request_control
        if not self.connected:
            self._finish(ticket, Outcome.LINK_LOST, now, detail="not connected")
            return ticket.ticket
        active = self._active
        if pause and active is not None and active.command.kind is CommandKind.STOP:
            for queued in list(self._queue):
                self._queue.remove(queued)
                self._finish(queued, Outcome.CANCELLED, now, detail="cancelled by stop")
            self._queue.append(ticket)
            return ticket.ticket
        for queued in list(self._queue):
            self._queue.remove(queued)
            self._finish(queued, Outcome.CANCELLED, now, detail=f"cancelled by {kind.value}")
        if active is not None:
            inflight = self._inflight
            if inflight is not None:
                if not inflight.refused:
                    self._stale.append(
                        _Stale(inflight.opcode, inflight.written_at, inflight.deadline, "preempted")
                    )
                self._inflight = None
                self._finish(
                    active, Outcome.PREEMPTED, now, detail=f"overtaken by {kind.value}", clear=True
                )
            else:
                self._finish(
                    active, Outcome.CANCELLED, now, detail=f"cancelled by {kind.value}", clear=True
                )
        self._active = ticket
        self._advance(now)
        return ticket.ticket

    def receive_response(self, request_opcode: int, result_code: int, now: float) -> None:
        """A control-point response ``80 <request_opcode> <result_code>`` arrived."""
        self._expire_stale(now)
        for i, stale in enumerate(self._stale):
            if stale.opcode == request_opcode:
                del self._stale[i]
                self._emit(
                    ResponseDiscarded(
                        request_opcode,
                        result_code,
                        f"late response of a {stale.reason} procedure",
                        now - stale.written_at,
                        now,
                    )
                )
                inflight = self._inflight
                unseen = (
                    not self.writes_acknowledged
                    and inflight is not None
                    and inflight.ticket.command.kind in _STOP_KINDS
                )
                if inflight is not None and (inflight.refused or unseen):
                    # The server is free now: rewrite the Stop (or whatever it refused, or the
                    # Stop it may have dropped without a word) at once. A second Stop is harmless.
                    inflight.refused = True
                    inflight.rewrite_at = now
                    self._advance(now)
                return
        inflight = self._inflight
        if inflight is None or inflight.opcode != request_opcode or inflight.refused:
            self._emit(
                ResponseDiscarded(request_opcode, result_code, "unsolicited response", None, now)
            )
            return
        self._inflight = None
        latency = now - inflight.written_at
        self._emit(ResponseMatched(inflight.procedure, inflight.command, result_code, latency, now))
        ticket = inflight.ticket
        ticket.last_result = result_code
        if inflight.auxiliary:
            self._on_control_response(ticket, result_code, now)
        else:
            self._on_command_response(ticket, result_code, now)
        self._advance(now)

    def write_failed(self, procedure: int, att_error: int | None, now: float) -> None:
        """The GATT write of ``procedure`` failed (``att_error``: the ATT error code, if any)."""
        inflight = self._inflight
        if inflight is None or inflight.procedure != procedure:
            return
        ticket = inflight.ticket
        is_stop = ticket.command.kind in _STOP_KINDS
        if att_error == ATT_PROCEDURE_ALREADY_IN_PROGRESS and (
            is_stop or ticket.busy_rewrites < self.quirks.busy_retries
        ):
            # A refused Stop is rewritten until it is accepted (bounded by its timeouts).
            ticket.busy_rewrites += 1
            inflight.refused = True
            inflight.rewrite_at = now + self.quirks.busy_retry_s
            return
        self._inflight = None
        detail = f"ATT error 0x{att_error:02X}" if att_error is not None else "write failed"
        self._finish(ticket, Outcome.WRITE_FAILED, now, detail=detail, clear=True)
        self._advance(now)

    def receive_machine_status(self, opcode: int, now: float) -> None:
        """A Fitness Machine Status (2ADA) op code arrived: 0xFF and 0x01 revoke control."""
        if opcode in (STATUS_CONTROL_LOST, STATUS_RESET):
            reason = "control permission lost (status 0xFF)"
            if opcode == STATUS_RESET:
                reason = "machine reset (status 0x01)"
            self._lose_control(reason, now, backoff=opcode == STATUS_CONTROL_LOST)

    def receive_belt_speed(self, speed_kmh: float | None, now: float) -> None:
        """Telemetry speed (km/h) for the ``wait_for_belt_before_speed`` quirk."""
        self.belt_moving = speed_kmh is not None and speed_kmh > 0.0
        if self.belt_moving:
            self._advance(now)

    def tick(self, now: float) -> None:
        """Let time pass: timeouts, backoffs, rewrites. Call it at :meth:`next_deadline`."""
        self._expire_stale(now)
        inflight = self._inflight
        if inflight is not None and now >= inflight.deadline:
            self._inflight = None
            ticket = inflight.ticket
            if (
                ticket.command.kind in _STOP_KINDS
                and not inflight.auxiliary
                and ticket.stop_rewrites < self.quirks.stop_retries
            ):
                # Rewrite the Stop; a late answer to the first write answers the rewrite too.
                ticket.stop_rewrites += 1
                ticket.phase = _Phase.READY
            else:
                # A timed-out procedure leaves no trace: a response that never came is far more
                # common than one later than the timeout, so a later response with the same op
                # code belongs to the next procedure (any other op code is discarded).
                if ticket.command.kind in _STOP_KINDS and inflight.auxiliary:
                    # No answer to the Stop's Request Control: write the Stop itself.
                    ticket.phase = _Phase.READY
                    ticket.control_attempts += 1
                    ticket.control_done = True
                else:
                    self._finish(ticket, Outcome.TIMEOUT, now, detail="no response", clear=True)
        self._advance(now)

    def connection_made(self, now: float, *, stop_first: bool) -> int | None:
        """The link is up and subscribed. With ``stop_first`` (a reconnect), a Stop is written
        before anything else; its ticket is returned."""
        self.connected = True
        self.has_control = False
        self.belt_moving = False
        self._started_at = None
        self._control_failures = 0
        self._control_hold_until = float("-inf")
        if stop_first:
            return self.stop(now)
        return None

    def connection_lost(self, now: float) -> None:
        """The link dropped: every pending command ends LINK_LOST; control is gone."""
        self.connected = False
        self._stale.clear()
        self._inflight = None
        active = self._active
        if active is not None:
            self._finish(active, Outcome.LINK_LOST, now, detail="link lost", clear=True)
        while self._queue:
            self._finish(self._queue.popleft(), Outcome.LINK_LOST, now, detail="link lost")
        if self.has_control:
            self.has_control = False
            self._emit(ControlStateChanged(False, "link lost", now))

    # -- outputs ---------------------------------------------------------------------------------

    def actions(self) -> list[Action]:
        """The actions decided since the last call, in order (the caller performs the writes)."""
        out, self._actions = self._actions, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None: nothing time-dependent is pending)."""
        times: list[float] = [s.expires for s in self._stale]
        inflight = self._inflight
        if inflight is not None:
            times.append(inflight.deadline)
            if inflight.rewrite_at is not None:
                times.append(inflight.rewrite_at)
        active = self._active
        if active is not None and active.phase is _Phase.WAITING:
            if active.wait_until is not None:
                times.append(active.wait_until)
            if active.belt_deadline is not None:
                times.append(active.belt_deadline)
        return min(times) if times else None

    def should_write(self, procedure: int) -> bool:
        """Whether ``procedure`` is still the one to write. False once a Stop pre-empted it or it
        ended otherwise: an IO shell that performs writes in separate tasks must check this just
        before writing, so that nothing overtaken by a Stop reaches the treadmill after it."""
        inflight = self._inflight
        return inflight is not None and inflight.procedure == procedure and not inflight.refused

    @property
    def busy(self) -> bool:
        """True while a command is being worked on or waits in the queue."""
        return self._active is not None or bool(self._queue)

    # -- internals -------------------------------------------------------------------------------

    def _new_ticket(self, command: Command, now: float) -> _Ticket:
        ticket = _Ticket(self._next_ticket, command, now)
        self._next_ticket += 1
        return ticket

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _expire_stale(self, now: float) -> None:
        self._stale = [s for s in self._stale if s.expires > now]

    def _lose_control(self, reason: str, now: float, *, backoff: bool) -> None:
        was = self.has_control
        self.has_control = False
        if backoff:
            self._hold_control(now)
        if was:
            self._emit(ControlStateChanged(False, reason, now))

    def _hold_control(self, now: float) -> None:
        delays = self.quirks.control_backoff_s
        delay = delays[min(self._control_failures, len(delays) - 1)]
        self._control_failures += 1
        self._control_hold_until = now + delay

    def _finish(
        self,
        ticket: _Ticket,
        outcome: Outcome,
        now: float,
        *,
        detail: str = "",
        clear: bool = False,
    ) -> None:
        latency = None
        if ticket.first_write_at is not None and outcome in (
            Outcome.SUCCESS,
            Outcome.ALREADY_RUNNING,
            Outcome.ALREADY_STOPPED,
            Outcome.REJECTED,
        ):
            latency = now - ticket.first_write_at
        self._emit(
            Finished(
                ticket.ticket,
                ticket.command,
                outcome,
                ticket.last_result,
                latency,
                detail,
                max(ticket.attempts, 1),
                now,
            )
        )
        if clear and self._active is ticket:
            self._active = None

    def _on_control_response(self, ticket: _Ticket, result: int, now: float) -> None:
        if result == RESULT_SUCCESS:
            if not self.has_control:
                self._emit(ControlStateChanged(True, "request control succeeded", now))
            self.has_control = True
            self._control_failures = 0
            self._control_hold_until = float("-inf")
            ticket.control_done = True
            ticket.phase = _Phase.READY
            return
        if result == RESULT_OP_NOT_SUPPORTED:
            # Some controllers do not implement Request Control; try the command itself.
            ticket.control_done = True
            ticket.phase = _Phase.READY
            return
        if ticket.command.kind in _STOP_KINDS:
            # A Stop is written whatever the answer to its Request Control: never blocked.
            ticket.control_attempts += 1
            ticket.control_done = True
            ticket.phase = _Phase.READY
            return
        self._control_refused(ticket, result, now)

    def _control_refused(self, ticket: _Ticket, result: int, now: float) -> None:
        ticket.control_attempts += 1
        if ticket.control_attempts > self.quirks.control_retries:
            self._finish(
                ticket,
                Outcome.REJECTED,
                now,
                detail=f"control not granted after {ticket.control_attempts} attempts",
                clear=True,
            )
            return
        ticket.control_done = False
        ticket.phase = _Phase.READY
        self._hold_control(now)

    def _on_command_response(self, ticket: _Ticket, result: int, now: float) -> None:
        kind = ticket.command.kind
        if result == RESULT_SUCCESS:
            if kind is CommandKind.REQUEST_CONTROL:
                self._on_control_response(ticket, result, now)
            if kind is CommandKind.START:
                self._started_at = now
            if kind in (CommandKind.STOP, CommandKind.PAUSE, CommandKind.RESET):
                self._started_at = None
            if kind is CommandKind.RESET:
                self._lose_control("reset revokes control", now, backoff=False)
            self._finish(ticket, Outcome.SUCCESS, now, clear=True)
        elif result == RESULT_OPERATION_FAILED and kind is CommandKind.START:
            self._finish(
                ticket, Outcome.ALREADY_RUNNING, now, detail="0x04 after Start", clear=True
            )
        elif result == RESULT_OPERATION_FAILED and kind in _STOP_KINDS:
            self._finish(ticket, Outcome.ALREADY_STOPPED, now, detail="0x04 after Stop", clear=True)
        elif result == RESULT_CONTROL_NOT_PERMITTED:
            self._lose_control("control not permitted (result 0x05)", now, backoff=False)
            self._control_refused(ticket, result, now)
            if kind in _STOP_KINDS:
                # A stop never waits for a backoff.
                self._control_hold_until = float("-inf")
        else:
            self._finish(ticket, Outcome.REJECTED, now, detail=f"result 0x{result:02X}", clear=True)

    def _advance(self, now: float) -> None:
        """Write whatever may be written now."""
        if not self.connected:
            return
        inflight = self._inflight
        if inflight is not None:
            if inflight.refused and inflight.rewrite_at is not None and now >= inflight.rewrite_at:
                self._rewrite(inflight, now)
            return
        if self._active is None:
            if not self._queue:
                return
            self._active = self._queue.popleft()
        ticket = self._active
        if ticket.phase is _Phase.WAITING:
            if ticket.belt_deadline is not None and self.belt_moving:
                ticket.belt_deadline = None
            elif ticket.belt_deadline is not None and now >= ticket.belt_deadline:
                self._finish(
                    ticket, Outcome.BELT_NOT_MOVING, now, detail="belt did not move", clear=True
                )
                self._advance(now)
                return
            if ticket.wait_until is not None and now < ticket.wait_until:
                return
            if ticket.belt_deadline is not None:
                return
            ticket.wait_until = None
            ticket.phase = _Phase.READY
        self._start_next_procedure(ticket, now)

    def _start_next_procedure(self, ticket: _Ticket, now: float) -> None:
        kind = ticket.command.kind
        is_stop = kind in _STOP_KINDS
        needs_control = kind is not CommandKind.REQUEST_CONTROL and not is_stop
        if (
            is_stop
            and not ticket.control_done
            and (ticket.control_attempts > 0 or ticket.force_control)
        ):
            needs_control = True
        elif needs_control:
            needs_control = not ticket.control_done and (
                not self.has_control or self.quirks.request_control_before_each_command
            )
        if kind is CommandKind.REQUEST_CONTROL and now < self._control_hold_until:
            self._wait(ticket, until=self._control_hold_until)
            return
        if needs_control:
            if not is_stop and now < self._control_hold_until:
                self._wait(ticket, until=self._control_hold_until)
                return
            self._write(ticket, Command(CommandKind.REQUEST_CONTROL), now, auxiliary=True)
            return
        if kind is CommandKind.SET_TARGET_SPEED and (ticket.command.value or 0.0) > 0.0:
            if self._started_at is not None and self.quirks.settle_after_start_s > 0.0:
                settle = self._started_at + self.quirks.settle_after_start_s
                if now < settle:
                    self._wait(ticket, until=settle)
                    return
            if self.quirks.wait_for_belt_before_speed and not self.belt_moving:
                ticket.phase = _Phase.WAITING
                ticket.belt_deadline = now + self.quirks.wait_for_belt_timeout_s
                return
        self._write(ticket, ticket.command, now, auxiliary=False)

    def _wait(self, ticket: _Ticket, *, until: float) -> None:
        ticket.phase = _Phase.WAITING
        ticket.wait_until = until

    def _write(self, ticket: _Ticket, command: Command, now: float, *, auxiliary: bool) -> None:
        procedure = _Procedure(
            procedure=self._next_procedure,
            ticket=ticket,
            command=command,
            opcode=OPCODES[command.kind],
            written_at=now,
            deadline=now + self.quirks.control_point_timeout_s,
            auxiliary=auxiliary,
        )
        self._next_procedure += 1
        ticket.attempts += 1
        ticket.phase = _Phase.IN_FLIGHT
        if not auxiliary and ticket.first_write_at is None:
            ticket.first_write_at = now
        self._inflight = procedure
        self._emit(
            WriteRequest(procedure.procedure, ticket.ticket, command, auxiliary, ticket.attempts)
        )

    def _rewrite(self, procedure: _Procedure, now: float) -> None:
        procedure.refused = False
        procedure.rewrite_at = None
        procedure.procedure = self._next_procedure
        self._next_procedure += 1
        procedure.written_at = now
        procedure.deadline = now + self.quirks.control_point_timeout_s
        ticket = procedure.ticket
        ticket.attempts += 1
        self._emit(
            WriteRequest(
                procedure.procedure,
                ticket.ticket,
                procedure.command,
                procedure.auxiliary,
                ticket.attempts,
            )
        )


__all__ = [
    "OPCODES",
    "Action",
    "ControlPointMachine",
    "ControlStateChanged",
    "Finished",
    "ResponseDiscarded",
    "ResponseMatched",
    "WriteRequest",
]
