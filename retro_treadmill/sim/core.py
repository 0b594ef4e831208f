"""The virtual treadmill's brain, sans-IO: control point, statuses and telemetry as values.

``TreadmillCore`` takes control-point writes, link events, console actions and ``now`` and
returns what goes on the air as :class:`Send` values; the bumble server (``server.py``) delivers
them. Behaviour comes from a :class:`~retro_treadmill.sim.personalities.Personality` record.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

from protocols.ftms import (
    ControlPermissionLost,
    ControlPointError,
    ControlPointResponse,
    MachineReset,
    MachineStatus,
    RequestControl,
    Reset,
    ResultCode,
    SetTargetInclination,
    SetTargetSpeed,
    StartedOrResumedByUser,
    StartOrResume,
    StopControl,
    StopOrPause,
    StoppedBySafetyKey,
    StoppedOrPausedByUser,
    TargetInclinationChanged,
    TargetSpeedChanged,
    parse_control_point_request,
)
from retro_treadmill.sim import _wire
from retro_treadmill.sim.personalities import Personality
from retro_treadmill.sim.physics import BeltModel, RunState
from retro_treadmill.units import mph_to_kmh

Target = Literal["2ACD", "2ADA", "2AD3", "2AD9"]
ClientId = Hashable

CONSOLE: ClientId = "console"
"""The pseudo-client that holds control after another client "took" it (fault take-control)."""


@dataclass(frozen=True)
class Send:
    """One value to put on the air: ``to`` one client, or every subscriber when ``None``."""

    target: Target
    value: bytes
    to: ClientId | None = None


@dataclass(frozen=True)
class Outcome:
    """What a control-point write produced: its result and what to send (response last)."""

    opcode: int
    result: int
    sends: tuple[Send, ...]
    response: bytes


class TreadmillCore:
    """Control logic of one virtual treadmill; every method takes ``now`` (clock seconds)."""

    def __init__(self, personality: Personality, now: float) -> None:
        self.personality = personality
        self.model = BeltModel(personality.motor, now)
        self.controller: ClientId | None = None
        self.training_status = personality.training_pre
        self.safety_key_out = False
        self.drop_link_requested = False
        """The personality drops the link after this write (see :meth:`take_drop_request`)."""
        self._control_requests: dict[ClientId, int] = {}
        self._start_at: float | None = None
        """A Start accepted with the personality's start delay: the belt moves at this time."""

    # -- helpers --------------------------------------------------------------------------------

    def _status(self, value: MachineStatus, to: ClientId | None = None) -> Send:
        return Send("2ADA", _wire.status(value, self.personality.status_padding), to)

    def _training(self, code: int) -> list[Send]:
        if code == self.training_status:
            return []
        self.training_status = code
        return [Send("2AD3", _wire.training_status(code))]

    # -- control point (FTMS §4.16) -------------------------------------------------------------

    def control_point(
        self, client: ClientId, data: bytes, now: float, *, forced_result: int | None = None
    ) -> Outcome:
        """Handle one write to 2AD9 from ``client``; ``forced_result`` answers without acting."""
        self.model.advance(now)
        opcode = data[0] if data else 0x00
        sends: list[Send] = []
        result: int
        if forced_result is not None:
            result = forced_result
        else:
            result, sends = self._apply(client, data, now)
        response = ControlPointResponse(opcode, int(result)).build()
        return Outcome(opcode, int(result), tuple(sends), response)

    def _apply(self, client: ClientId, data: bytes, now: float) -> tuple[ResultCode, list[Send]]:
        p = self.personality
        try:
            request = parse_control_point_request(data)
        except ControlPointError as exc:
            if not p.strict_results and exc.opcode == StopOrPause.OPCODE:
                request = StopOrPause(StopControl.STOP)  # lenient: a bare 08 still stops
            else:
                return ResultCode(int(exc.result)), []
        if isinstance(request, RequestControl):
            count = self._control_requests.get(client, 0) + 1
            self._control_requests[client] = count
            if count > 1 and p.repeated_request_control == "disconnect":
                self.drop_link_requested = True
            return ResultCode.SUCCESS, self.grant_control(client)
        if p.enforce_control and self.controller != client:
            return ResultCode.CONTROL_NOT_PERMITTED, []
        match request:
            case Reset():
                self.model.reset(now)
                self.controller = None
                return ResultCode.SUCCESS, [self._status(MachineReset()), *self._training(0x01)]
            case SetTargetSpeed(speed_kmh=kmh):
                return self._set_speed(kmh, now)
            case SetTargetInclination(inclination_pct=pct):
                return self._set_incline(pct, now)
            case StartOrResume():
                return self._start(now)
            case StopOrPause(control=control):
                return self._stop(control == StopControl.PAUSE, now)
        return ResultCode.OP_CODE_NOT_SUPPORTED, []

    def _set_speed(self, kmh: float, now: float) -> tuple[ResultCode, list[Send]]:
        p = self.personality
        if p.speed_param_unit == "mph":
            kmh = mph_to_kmh(kmh)
        if not self.model.speed_in_range(kmh):
            if p.strict_results:
                return ResultCode.INVALID_PARAMETER, []
            kmh = self.model.clamp_speed(kmh)
        if p.ignores_speed:
            return ResultCode.SUCCESS, []
        if p.early_speed != "apply" and (not self.model.moving or self._start_at is not None):
            # Before the belt moves: lost, or the link drops (KingSmith).
            self.drop_link_requested = p.early_speed == "disconnect"
            return ResultCode.SUCCESS, []
        value = self.model.set_target_speed(kmh, now)
        return ResultCode.SUCCESS, [self._status(TargetSpeedChanged(value))]

    def _set_incline(self, pct: float, now: float) -> tuple[ResultCode, list[Send]]:
        p = self.personality
        if not p.incline_supported:
            return ResultCode.SUCCESS, []
        if not self.model.incline_in_range(pct):
            if p.strict_results:
                return ResultCode.INVALID_PARAMETER, []
            pct = self.model.clamp_incline(pct)
        value = self.model.set_target_incline(pct, now)
        return ResultCode.SUCCESS, [self._status(TargetInclinationChanged(value))]

    def _start(self, now: float) -> tuple[ResultCode, list[Send]]:
        if self.safety_key_out:
            return ResultCode.OPERATION_FAILED, []
        if self.model.state is RunState.RUNNING:
            if self.personality.strict_results:
                return ResultCode.OPERATION_FAILED, []
            return ResultCode.SUCCESS, []
        if self.personality.start_delay_s > 0:
            if self._start_at is None:
                self._start_at = now + self.personality.start_delay_s
        else:
            self.model.start(now)
        return ResultCode.SUCCESS, [
            self._status(StartedOrResumedByUser()),
            *self._training(self.personality.training_running),
        ]

    def _stop(self, pause: bool, now: float) -> tuple[ResultCode, list[Send]]:
        p = self.personality
        state = self.model.state
        if self._start_at is not None:  # stopped during the start countdown: no belt motion
            self._start_at = None
            control = StopControl.PAUSE if pause else StopControl.STOP
            return ResultCode.SUCCESS, [
                self._status(StoppedOrPausedByUser(control)),
                *self._training(p.training_post),
            ]
        if state is not RunState.RUNNING and (pause or state is not RunState.PAUSED):
            if p.strict_results:
                return ResultCode.OPERATION_FAILED, []
            return ResultCode.SUCCESS, []
        self.model.stop(now, pause=pause)
        control = StopControl.PAUSE if pause else StopControl.STOP
        return ResultCode.SUCCESS, [
            self._status(StoppedOrPausedByUser(control)),
            *self._training(p.training_post),
        ]

    # -- control ownership ----------------------------------------------------------------------

    def grant_control(self, client: ClientId) -> list[Send]:
        """Give control to ``client``; the previous holder gets 0xFF Control Permission Lost."""
        sends: list[Send] = []
        old = self.controller
        if old is not None and old != client:
            sends.append(self._status(ControlPermissionLost(), to=old))
        self.controller = client
        return sends

    def take_drop_request(self) -> bool:
        """Whether the last write made the personality drop the link (then cleared)."""
        requested, self.drop_link_requested = self.drop_link_requested, False
        return requested

    def disconnected(self, client: ClientId, now: float) -> list[Send]:
        """A client's link dropped: its control is revoked; the belt reacts per personality."""
        self._control_requests.pop(client, None)
        self.model.advance(now)
        if self.controller != client:
            return []
        self.controller = None
        if self.personality.on_disconnect == "stop" and self.model.state is RunState.RUNNING:
            self.model.stop(now)
            return [
                self._status(StoppedOrPausedByUser(StopControl.STOP)),
                *self._training(self.personality.training_post),
            ]
        return []

    # -- the console (faults) -------------------------------------------------------------------

    def console_speed(self, delta_kmh: float, now: float) -> list[Send]:
        """The user presses speed +/- on the console (while running)."""
        if self.model.state is not RunState.RUNNING:
            return []
        value = self.model.bump_speed(delta_kmh, now)
        return [self._status(TargetSpeedChanged(value))]

    def console_stop(self, now: float) -> list[Send]:
        """The user presses Stop on the console."""
        self._start_at = None
        if self.model.state is not RunState.RUNNING:
            return []
        self.model.stop(now)
        return [
            self._status(StoppedOrPausedByUser(StopControl.STOP)),
            *self._training(self.personality.training_post),
        ]

    def pull_safety_key(self, now: float) -> list[Send]:
        """The safety key is pulled: the belt halts at once; status 0x03 (FTMS §4.17)."""
        self._start_at = None
        self.safety_key_out = True
        self.model.halt(now)
        return [
            self._status(StoppedBySafetyKey()),
            *self._training(self.personality.training_post),
        ]

    def insert_safety_key(self) -> None:
        """Put the safety key back; Start works again."""
        self.safety_key_out = False

    def take_control(self) -> list[Send]:
        """Another client (or the console) takes control: 0xFF to the old holder."""
        return self.grant_control(CONSOLE)

    def reboot(self, now: float) -> None:
        """Power cycle: everything back to power-on defaults, no controller."""
        self._start_at = None
        self.model = BeltModel(self.personality.motor, now)
        self.controller = None
        self.safety_key_out = False
        self.training_status = self.personality.training_pre

    # -- time and telemetry ---------------------------------------------------------------------

    def tick(self, now: float) -> list[Send]:
        """Advance the motors to ``now``; statuses the machine sends on its own."""
        if self._start_at is not None and now >= self._start_at:
            self.model.start(self._start_at)
            self._start_at = None
        self.model.advance(now)
        steps = self.model.take_steps()
        sends: list[Send] = []
        if self.personality.status_ramp_stream:
            sends.extend(self._status(TargetSpeedChanged(v)) for v in steps)
        return sends

    def telemetry_fields(self) -> dict[str, float]:
        """The current Treadmill Data values, FTMS units, for the personality's fields."""
        m = self.model
        elapsed = m.elapsed_s
        every: dict[str, float] = {
            "average_speed_kmh": (m.distance_m / elapsed * 3.6) if elapsed > 0 else 0.0,
            "total_distance_m": m.distance_m,
            "inclination_pct": m.incline_pct + self.personality.reported_incline_offset_pct,
            "ramp_angle_deg": 0.0,
            "positive_elevation_gain_m": m.elevation_gain_m,
            "negative_elevation_gain_m": m.elevation_loss_m,
            "total_energy_kcal": m.energy_kcal,
            "energy_per_hour_kcal": m.energy_per_hour_kcal,
            "energy_per_minute_kcal": m.energy_per_hour_kcal / 60.0,
            "metabolic_equivalent": (
                1.0 + m.energy_per_hour_kcal / self.personality.motor.body_mass_kg
                if m.moving
                else 1.0
            ),
            "elapsed_time_s": elapsed,
            "remaining_time_s": 0.0,
            "step_count": m.step_count,
        }
        wanted = set(self.personality.data_fields)
        if self.personality.step_counter:
            wanted.add("step_count")
        groups = [g for g in _wire.TREADMILL_FIELD_GROUPS if wanted & set(g)]
        return {name: every[name] for group in groups for name in group}

    def telemetry(self, now: float) -> list[bytes]:
        """The 2ACD notifications for one Treadmill Data record (FTMS §4.9), per record mode."""
        self.model.advance(now)
        fields = self.telemetry_fields()
        speed = self.model.belt_speed_kmh
        mode = self.personality.record_mode
        if mode == "split":
            groups = [g for g in _wire.TREADMILL_FIELD_GROUPS if g[0] in fields]
            half = len(groups) // 2
            first = {n: fields[n] for g in groups[:half] for n in g}
            rest = {n: fields[n] for g in groups[half:] for n in g}
            return [
                _wire.treadmill_data(None, first),
                _wire.treadmill_data(speed, rest),
            ]
        record = _wire.treadmill_data(speed, fields)
        if mode == "truncated":
            return [record[:20]]
        return [record]


__all__ = [
    "CONSOLE",
    "ClientId",
    "Outcome",
    "Send",
    "Target",
    "TreadmillCore",
]
