"""The safety governor: every command to the treadmill is decided here (DESIGN rule 2).

Pure and synchronous (sans-IO): the caller passes every input together with ``now`` (seconds on
the session clock) and gets values back; nothing here reads a clock, sleeps or does IO.

Four entry points, one call per input (each returns what to send and what to raise):

``decide(request, now) -> Decision``
    A command somebody wants (profile step, keyboard +/-, MQTT, operator). Approved, rejected
    with a reason, or replaced by a safer command (the reason says so). Stop is approved in every
    state, at once, before anything else is looked at.
``handle(event, now) -> Actions``
    Something observed: Treadmill Data (FTMS 4.9), link up/lost, Fitness Machine Status (FTMS
    4.17: 0x01 reset, 0x02 console stop, 0x03 safety key, 0x04 console start, 0x05 target speed,
    0xFF control lost, any reserved/unreadable op code: unknown state, halt), the supported ranges
    (0x2AD4/0x2AD5). Returns the commands to send (a Stop when a fault is seen) and the alarms to
    raise.
``tick(now) -> Actions``
    Timed checks: telemetry watchdog, setpoint confirmation, escalating stop. Call it often
    (10 Hz is plenty; every check fires at the first tick after its deadline).
``arm(now) -> Decision``-like :class:`ArmResult`
    The explicit operator action (preflight done, "resume", "continue after turning around") that
    lets a Start through after the countdown. Nothing else ever lifts a halt.

Speeds are km/h and inclines percent throughout (FTMS units); messages show speeds in the
display unit given at construction.

The rules implemented (DESIGN "Safety defaults"; the defaults are in :class:`SafetyLimits`):

- caps: device range, safety (clinic) cap and profile cap; the lowest wins; min running speed is
  the device minimum or 0.5 mph, whichever is higher; never a negative speed;
- speed increases at most 0.1 mph in any 5 s window (decreases are not limited); incline changes
  at most 0.5 % in any 5 s window; the first speed after a Start (at most 1.0 mph) is exempt;
- a latched halt: after any Stop, Pause, alarm, console stop or link loss only Stop/Pause pass
  until the operator arms again; arming needs the link up and the belt confirmed at a standstill;
- start only after arming plus the countdown (5 s);
- telemetry watchdog (3 s of silence while running), link loss (alarm at once; Stop first on
  reconnect), overspeed (2 samples above cap + 0.2 mph), setpoint confirmation (within 0.1 mph
  or one device increment within 10 s), unit self-test (1.609x or 1/1.609x of the target),
  escalating stop (belt not below 0.1 km/h 10 s after Stop: "PULL THE SAFETY KEY"), safety key
  (0x03) and control lost (0xFF), a heart rate above the clinic's limit (2 samples), a fault the
  service reports (:meth:`SafetyGovernor.fault`): each halts with a Stop and an alarm;
- a Stop the treadmill refuses while telemetry shows the belt moving (:class:`StopRefused`): the
  escalation alarm at once and Stop again at once (requesting control first), then every 1 s
  until telemetry shows a standstill; "already stopped" right after a reconnect waits for the
  first record; a refused setpoint or control (:class:`SetpointRefused`,
  :class:`ControlRefused`) halts at once;
- incline confirmation: the reported incline reaches and holds the target (within 0.5 % or one
  device step) within 30 s, else halt; reported incline above the cap + 0.5 % for 2 samples
  stops like an overspeed;
- a Start only on Treadmill Data younger than 1 s showing a standstill; no unit mismatch is
  claimed while a console target change (0x05, not the echo of our setpoint) explains the speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from retro_treadmill.safety.commands import (
    NO_ACTIONS,
    Actions,
    Alarm,
    AlarmKind,
    Command,
    ConsoleStarted,
    ConsoleStopped,
    ControlLost,
    ControlRefused,
    Decision,
    DeviceRanges,
    Event,
    HeartRate,
    HeartRateDisconnected,
    InclineChange,
    LinkLost,
    LinkUp,
    MachineReset,
    Pause,
    Request,
    SafetyKeyStop,
    SetIncline,
    SetpointRefused,
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
    StopRefused,
    TargetInclineChanged,
    TargetSpeedChanged,
    Telemetry,
    UnknownStatus,
    Verdict,
)
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.units import KMH_PER_MPH, SpeedUnit, format_speed

_EPS = 1e-6
_UNIT_SETTLE_S = 1.0
"""The belt counts as settled when its speed changed by at most ``_UNIT_SETTLE_KMH`` over this."""
_UNIT_SETTLE_KMH = 0.05
_UNIT_MIN_AGE_S = 3.0
"""The units self-test looks at a setpoint only this long after it was commanded (belt reacting)."""
_UNIT_MIN_SPEED_KMH = 0.3

STOP_RESEND_S = 1.0
"""After the treadmill refused a Stop, Stop is sent again this often while the belt moves."""
START_DATA_MAX_AGE_S = 1.0
"""A Start needs Treadmill Data younger than this (showing the belt at a standstill)."""
ECHO_WINDOW_S = 3.0
"""A Target Speed Changed status (0x05) this soon after our setpoint may be its echo."""
INCLINE_TOLERANCE_PCT = 0.5
"""Reported incline within this (or one device incline increment) of the target confirms it."""
INCLINE_CONFIRM_S = 30.0
"""An incline target not reached, or not held, for this long halts (slow incline motors)."""
INCLINE_OVER_CAP_PCT = 0.5
"""Reported incline above the incline cap by more than this ..."""
INCLINE_OVER_CAP_SAMPLES = 2
"""... for this many samples in a row (raised at the console): stop, like overspeed."""


class GovernorState(StrEnum):
    """The governor's control state (what it lets through; see ``ALLOWED``)."""

    HALTED = "halted"
    """Latched: only Stop and Pause pass; the operator must :meth:`SafetyGovernor.arm`."""
    ARMED = "armed"
    """The operator armed; Start passes once the countdown is over."""
    RUNNING = "running"
    """Started: speed and incline commands pass, within caps and rate limits."""


ALLOWED: dict[GovernorState, tuple[type[Command], ...]] = {
    GovernorState.HALTED: (Stop, Pause),
    GovernorState.ARMED: (Stop, Pause, Start),
    GovernorState.RUNNING: (Stop, Pause, SetSpeed, SetIncline),
}
"""Which commands each state lets through (subject to the per-command rules)."""

NEXT_STATE: dict[tuple[GovernorState, type[Command]], GovernorState] = {
    **{(s, Stop): GovernorState.HALTED for s in GovernorState},
    **{(s, Pause): GovernorState.HALTED for s in GovernorState},
    (GovernorState.ARMED, Start): GovernorState.RUNNING,
    (GovernorState.RUNNING, SetSpeed): GovernorState.RUNNING,
    (GovernorState.RUNNING, SetIncline): GovernorState.RUNNING,
}
"""The state after an approved command."""

_NOT_ALLOWED_REASON: dict[GovernorState, str] = {
    GovernorState.HALTED: "the treadmill is halted ({why}); an operator must re-arm first",
    GovernorState.ARMED: "the belt has not been started yet",
    GovernorState.RUNNING: "the belt is already running",
}


@dataclass(frozen=True, slots=True)
class Caps:
    """The effective limits now: the lowest of device range, safety (clinic) cap and profile cap
    (km/h and percent), with the name of the cap that wins, for messages."""

    max_speed_kmh: float
    max_speed_source: str
    min_running_speed_kmh: float
    max_start_speed_kmh: float
    max_incline_pct: float
    max_incline_source: str
    min_incline_pct: float
    speed_step_kmh: float = 0.01
    """The step every commanded speed is rounded DOWN to: the treadmill's minimum increment
    (0x2AD4), at least the 0.01 km/h the Set Target Speed parameter carries. A treadmill rounds a
    target to its increment, possibly up; a speed on its grid is run as sent."""


@dataclass(frozen=True, slots=True)
class ArmResult:
    """Whether :meth:`SafetyGovernor.arm` armed; ``reason`` says why not."""

    armed: bool
    reason: str = ""
    countdown_ends: float | None = None


@dataclass(frozen=True, slots=True)
class HeartRateStatus:
    """The heart rate as the governor sees it (:meth:`SafetyGovernor.heart_rate_status`).

    ``bpm`` is the last measurement (``None`` before any), ``source`` where it came from,
    ``live`` whether it is current. ``limited``: a heart-rate limit is set (``max_bpm`` the
    stop limit, ``hold_bpm`` the hold; infinite when unset). ``holding``: at or above the hold.
    While lost, ``lost_since`` is when, ``lost_reason`` why, and ``slow_at`` / ``stop_at`` the
    session times of the slow-down and the Stop. ``slowed``: the belt was slowed and increases
    wait for an operator action.
    """

    bpm: float | None
    source: str
    live: bool
    limited: bool
    max_bpm: float
    hold_bpm: float
    holding: bool
    lost_since: float | None
    lost_reason: str
    slow_at: float | None
    stop_at: float | None
    slowed: bool


@dataclass(frozen=True, slots=True)
class GovernorStatus:
    """What the governor knows, for display and for the session engine."""

    state: GovernorState
    halt_reason: str
    link_up: bool
    target_speed_kmh: float
    target_incline_pct: float | None
    speed_kmh: float | None
    incline_pct: float | None
    standstill: bool
    """Telemetry confirms the belt below the stop threshold (and no stop is awaiting it)."""
    setpoint_confirmed: bool
    """The latest telemetry shows the last speed setpoint (within tolerance)."""
    stop_pending: bool
    """A Stop was sent and the belt is not yet confirmed below 0.1 km/h."""
    countdown_ends: float | None
    alarms: tuple[Alarm, ...]
    caps: Caps


class SafetyGovernor:
    """Decides every command; raises alarms and stops on faults. See the module docstring.

    ``limits`` are the effective safety limits (built-in defaults, possibly tightened or
    explicitly loosened by the clinic config); ``profile_max_speed_kmh`` /
    ``profile_max_incline_pct`` are the profile's own caps; ``device`` the supported ranges when
    already known (else pass a :class:`DeviceRanges` event later). ``units`` is the display unit
    for speeds in messages.
    """

    def __init__(
        self,
        limits: SafetyLimits = DEFAULT_LIMITS,
        *,
        profile_max_speed_kmh: float | None = None,
        profile_max_incline_pct: float | None = None,
        device: DeviceRanges | None = None,
        units: SpeedUnit = "mph",
    ) -> None:
        self.limits = limits
        self.units: SpeedUnit = units
        self._profile_max_speed = profile_max_speed_kmh
        self._profile_max_incline = profile_max_incline_pct
        self._device = device or DeviceRanges()
        self._caps = self._compute_caps()

        self._state = GovernorState.HALTED
        self._halt_reason = "not armed yet"
        self._link_up = False
        self._ever_connected = False
        self._countdown_ends: float | None = None
        self._running_since: float | None = None
        self._start_step_pending = False

        self._target_speed = 0.0
        self._previous_target = 0.0
        self._target_since: float | None = None
        self._speed_history: list[tuple[float, float]] = []
        self._target_incline: float | None = None
        self._incline_history: list[tuple[float, float]] = []

        self._last_rx: float | None = None
        self._speed: float | None = None
        self._incline: float | None = None
        self._samples: list[tuple[float, float]] = []
        self._standstill = False
        self._stop_deadline: float | None = None
        self._stop_alarm_raised = False
        self._setpoint_since: float | None = None
        self._overspeed_count = 0
        self._heart_rate_count = 0
        self._alarms: list[Alarm] = []
        self._clock = 0.0
        """The last finite ``now`` seen (a NaN/infinite ``now`` is a broken clock: fail closed)."""
        self._init_heart_rate()

        # A refused Stop, console targets, incline confirmation (see the methods below _tick).
        self._stop_refused = False
        self._stop_resend_at: float | None = None
        self._console_target = False
        """A console (status 0x05) set a target other than ours since our last setpoint: a belt
        off the target is explained, so the unit self-test claims no mismatch."""
        self._echo_kmh: float | None = None
        """The first Target Speed Changed (0x05) since our last setpoint: the treadmill's echo
        of it. Only that one (or the same value again) can be our command in the other unit."""
        self._incline_off_since: float | None = None
        self._incline_over_count = 0
        self._rx_since_link_up = False
        """Treadmill Data with a speed arrived since the link (last) came up."""
        self._stop_claim: StopRefused | None = None
        """A Stop answered "already stopped" before telemetry could tell: judged on the next
        record (moving: the Stop was refused)."""

    # ------------------------------------------------------------------ read-only views

    @property
    def state(self) -> GovernorState:
        """The current control state."""
        return self._state

    @property
    def caps(self) -> Caps:
        """The effective caps (lowest of device, safety and profile caps)."""
        return self._caps

    @property
    def target_speed_kmh(self) -> float:
        """The last commanded speed (0 once halted), km/h."""
        return self._target_speed

    @property
    def target_incline_pct(self) -> float | None:
        """The last commanded incline, percent (``None`` before any)."""
        return self._target_incline

    @property
    def alarms(self) -> tuple[Alarm, ...]:
        """Active (not yet acknowledged) alarms, oldest first."""
        return tuple(self._alarms)

    @property
    def standstill(self) -> bool:
        """Telemetry confirms the belt at a standstill and no stop is awaiting confirmation."""
        return self._standstill and self._stop_deadline is None

    @property
    def setpoint_confirmed(self) -> bool:
        """The latest telemetry shows the last speed setpoint (always ``False`` unless running).
        A belt off the setpoint for 10 s in a row halts with an alarm."""
        return self._state is GovernorState.RUNNING and self._setpoint_since is None

    def status(self) -> GovernorStatus:
        """Everything the governor knows, as one value."""
        return GovernorStatus(
            state=self._state,
            halt_reason=self._halt_reason,
            link_up=self._link_up,
            target_speed_kmh=self._target_speed,
            target_incline_pct=self._target_incline,
            speed_kmh=self._speed,
            incline_pct=self._incline,
            standstill=self.standstill,
            setpoint_confirmed=self.setpoint_confirmed,
            stop_pending=self._stop_deadline is not None,
            countdown_ends=self._countdown_ends,
            alarms=self.alarms,
            caps=self._caps,
        )

    def speed_allowance_kmh(self, now: float) -> float:
        """The highest speed :meth:`decide` would approve unchanged at ``now`` (0 unless
        running): the speed cap, the start speed limit or the increase rate limit."""
        if self._state is not GovernorState.RUNNING:
            return 0.0
        if self._start_step_pending:
            return self._floor_step(self._caps.max_start_speed_kmh)
        if self._target_speed > 0 and self._hr_increase_refusal("speed"):
            return self._target_speed  # the heart rate holds the profile: no increase to ask for
        return self._floor_step(min(self._caps.max_speed_kmh, self._rate_allowance(now)))

    def speed_on_grid(self, kmh: float, ceiling: float = math.inf, *, down: bool = False) -> float:
        """``kmh`` as :meth:`decide` would send it: on a treadmill with speed steps coarser than
        the wire's 0.01 km/h, rounded to the nearest step (:attr:`Caps.speed_step_kmh`), so
        0.8 mph runs as 1.3 km/h (0.81 mph) on 0.1 km/h steps rather than 1.2 (0.75 mph). Rounded
        down instead for a decrease (``down``), on the wire's own resolution, and when the
        nearest step lies above the speed cap or ``ceiling`` (the start or rate limit in force);
        up to the first step at or above the minimum running speed when below it."""
        top = min(ceiling, self._caps.max_speed_kmh)
        value = (
            self._floor_step(kmh) if down or self._step_centi() == 1 else self._nearest_step(kmh)
        )
        if value > top + _EPS:
            value = self._floor_step(min(kmh, top))
        if value < self._caps.min_running_speed_kmh - _EPS and kmh > 0:
            value = self._ceil_step(self._caps.min_running_speed_kmh)
        return value

    def incline_allowance_pct(self, now: float) -> tuple[float, float]:
        """The lowest and highest incline :meth:`decide` would approve unchanged at ``now``."""
        low, high = self._caps.min_incline_pct, self._caps.max_incline_pct
        window = self._window(self._incline_history, now, self.limits.incline_change_window_s)
        if window:
            step = self.limits.incline_change_pct
            low = max(low, max(window) - step)
            high = min(high, min(window) + step)
        if self._state is GovernorState.RUNNING and self._hr_increase_refusal("incline"):
            high = min(high, max(low, self._incline_base()))
        return low, high

    # ------------------------------------------------------------------ operator actions

    def arm(self, now: float) -> ArmResult:
        """The operator's explicit go-ahead (preflight done, resume, continue after turning
        around). Acknowledges the alarms whose cause is over and starts the countdown; a Start is
        approved once it has run. Refused (with the reason) unless the link is up, the belt is
        confirmed at a standstill by telemetry and no alarm cause persists."""
        if not math.isfinite(now):
            return ArmResult(False, f"the session clock is broken (now = {now!r})")
        if self._state is GovernorState.RUNNING:
            return ArmResult(False, "the belt is already running")
        if not self._link_up:
            return ArmResult(False, "not connected to the treadmill")
        if self._stop_deadline is not None or not self._standstill:
            return ArmResult(
                False,
                "the belt is not confirmed at a standstill yet (waiting for Treadmill Data "
                f"below {self.limits.stop_confirm_speed_kmh:g} km/h)",
            )
        # The belt moves only at the Start, which needs data within the telemetry timeout; the
        # operator's go-ahead tolerates twice that (Treadmill Data is "typically once per second"
        # and jitters).
        stale = self.telemetry_stale(now, 2 * self.limits.telemetry_timeout_s)
        if stale:
            return ArmResult(False, stale)
        caps = self._caps
        if caps.min_running_speed_kmh > caps.max_start_speed_kmh + _EPS:
            return ArmResult(
                False,
                f"no speed can be commanded: the minimum running speed "
                f"{self._fmt(caps.min_running_speed_kmh)} is above the start speed limit "
                f"{self._fmt(caps.max_start_speed_kmh)}",
            )
        no_heart_rate = self._hr_start_refusal()
        if no_heart_rate:
            return ArmResult(False, no_heart_rate)
        self._alarms.clear()
        self._hr_slowed = False  # the operator's go-ahead: a slowed ramp may continue
        self._state = GovernorState.ARMED
        self._halt_reason = ""
        self._countdown_ends = now + self.limits.countdown_s
        self._overspeed_count = 0
        return ArmResult(True, countdown_ends=self._countdown_ends)

    def acknowledge(self) -> tuple[Alarm, ...]:
        """The operator has seen the alarms: clear those whose cause is over (the link is up, the
        belt confirmed stopped). The halt stays; only :meth:`arm` lifts it. Returns the alarms
        still active."""
        self._alarms = [
            a for a in self._alarms if self._alarm_persists(a.kind) or self._hr_warning_persists(a)
        ]
        return self.alarms

    def _alarm_persists(self, kind: AlarmKind) -> bool:
        if kind is AlarmKind.LINK_LOSS:
            return not self._link_up
        if kind in (AlarmKind.STOP_NOT_CONFIRMED, AlarmKind.UNEXPECTED_MOTION):
            return not self.standstill
        return False

    def fault(self, kind: AlarmKind, message: str, now: float) -> Actions:
        """A fault found outside the governor (the FTMS client's unit self-test, a heart-rate
        limit, an exception in the service or the UI): fail closed exactly like the governor's own
        alarms (latched halt, Stop, the alarm once per active kind)."""
        return self._halt(kind, message, self._safe_now(now))

    # ------------------------------------------------------------------ decide

    def decide(self, request: Request, now: float) -> Decision:
        """Approve, reject or replace one requested command (see the module docstring)."""
        command = request.command
        if isinstance(command, Stop):
            try:
                reason = command.reason or f"stop requested ({request.source})"
                self._enter_halt(self._safe_now(now), reason)
            except Exception:  # the Stop goes out whatever happens to the bookkeeping
                self._state = GovernorState.HALTED
            return Decision(Verdict.APPROVED, request, command)
        try:
            return self._decide(request, self._checked_now(now))
        except Exception as exc:  # fail closed: a bug here must stop the belt, not pass a command
            stop = Stop(f"internal error in the safety governor: {exc!r}", emergency=True)
            now = self._safe_now(now)
            self._enter_halt(now, stop.reason)
            self._raise(AlarmKind.INTERNAL_ERROR, stop.reason, now)
            return Decision(Verdict.REPLACED, request, stop, stop.reason)

    def _decide(self, request: Request, now: float) -> Decision:
        command = request.command
        if isinstance(command, Pause):
            self._enter_halt(now, command.reason or f"paused ({request.source})")
            return Decision(Verdict.APPROVED, request, command)
        if isinstance(command, SpeedChange):
            if not math.isfinite(command.delta_kmh):
                return self._reject(request, "the speed change is not a number")
            if self._state is not GovernorState.RUNNING or self._target_speed <= 0:
                return self._reject(request, self._not_allowed(SetSpeed))
            return self._decide_speed(request, self._target_speed + command.delta_kmh, now)
        if isinstance(command, InclineChange):
            if not math.isfinite(command.delta_pct):
                return self._reject(request, "the incline change is not a number")
            base = self._incline_base()
            return self._decide_incline(request, base + command.delta_pct, now)
        if isinstance(command, SetSpeed):
            return self._decide_speed(request, command.kmh, now)
        if isinstance(command, SetIncline):
            return self._decide_incline(request, command.pct, now)
        # Start
        if self._state is not GovernorState.ARMED:
            return self._reject(request, self._not_allowed(Start))
        if not self._link_up:
            return self._reject(request, "not connected to the treadmill")
        stale = self.start_stale(now)
        if stale:
            return self._reject(request, stale)
        no_heart_rate = self._hr_start_refusal()
        if no_heart_rate:
            return self._reject(request, no_heart_rate)
        assert self._countdown_ends is not None
        if now < self._countdown_ends - _EPS:
            return self._reject(
                request, f"the countdown has {self._countdown_ends - now:.1f} s to run"
            )
        self._state = NEXT_STATE[(GovernorState.ARMED, Start)]
        self._countdown_ends = None
        self._running_since = now
        self._start_step_pending = True
        self._standstill = False
        self._target_speed = 0.0
        self._previous_target = 0.0
        self._speed_history = [(now, 0.0)]
        base = self._incline_base()
        self._incline_history = [(now, base)]
        self._samples.clear()
        return Decision(Verdict.APPROVED, request, Start())

    def _decide_speed(self, request: Request, kmh: float, now: float) -> Decision:
        if not math.isfinite(kmh):
            return self._reject(request, "the requested speed is not a number")
        if kmh < 0:
            return self._reject(request, f"a negative speed ({kmh:g} km/h) is never commanded")
        if kmh <= _EPS:
            stop = Stop(f"speed 0 requested ({request.source})")
            self._enter_halt(now, stop.reason)
            return Decision(Verdict.REPLACED, request, stop, "a speed of 0 is sent as Stop")
        if self._state is not GovernorState.RUNNING:
            return self._reject(request, self._not_allowed(SetSpeed))
        if kmh > self._target_speed + _EPS and not self._start_step_pending:
            # The start step is not an increase the heart rate can hold: the Start passed the
            # heart-rate check and the belt already moves; this only gives it the start speed
            # (as speed_allowance_kmh offers), else it runs at the treadmill's own choice.
            held = self._hr_increase_refusal("speed")
            if held:
                return self._reject(request, held)
        caps = self._caps
        if kmh < caps.min_running_speed_kmh - _EPS:
            return self._reject(
                request,
                f"{self._fmt(kmh)} is below the minimum running speed "
                f"{self._fmt(caps.min_running_speed_kmh)}; use Stop to stop the belt",
            )
        if self._start_step_pending:
            allowed = caps.max_start_speed_kmh
            why = f"the start speed limit {self._fmt(allowed)}"
        else:
            allowed = self._rate_allowance(now)
            why = (
                f"the speed increase limit ({self._fmt(self.limits.speed_increase_kmh)} per "
                f"{self.limits.speed_increase_window_s:g} s)"
            )
        if caps.max_speed_kmh < allowed:
            allowed = caps.max_speed_kmh
            why = f"{caps.max_speed_source} {self._fmt(allowed)}"
        # What the treadmill runs is the value on its grid: round down (a treadmill rounds to its
        # increment, possibly up: an off-grid speed could end above the cap or the rate limit).
        if kmh <= allowed + _EPS:
            # A decrease never rounds back up to (or above) the current target; the "-" key
            # (a relative change) goes down to the step below.
            lower = kmh < self._target_speed - _EPS
            ceiling = min(allowed, self._target_speed) if lower else allowed
            key_down = lower and isinstance(request.command, SpeedChange)
            value = self.speed_on_grid(kmh, ceiling=ceiling, down=key_down)
            target = self._target_speed
            if kmh > target + _EPS and value <= target + _EPS and not self._start_step_pending:
                step_up = self._next_step(target)
                reason = (
                    f"{self._fmt(kmh)} is between the treadmill's speed steps (steps of "
                    f"{caps.speed_step_kmh:g} km/h); the next step up is {self._fmt(step_up)}"
                )
                if step_up > allowed + _EPS:
                    reason += f", more than {why} allows now"
                return self._reject(request, reason)
            if value <= allowed + _EPS:
                return self._approve_speed(request, value, now, Verdict.APPROVED, "")
            return self._reject(
                request,
                f"no speed the treadmill can run (steps of {caps.speed_step_kmh:g} km/h) lies "
                f"between the minimum running speed {self._fmt(caps.min_running_speed_kmh)} and "
                f"{why}",
            )
        # Too fast: go as far towards it as allowed, if that is an increase at all.
        limited = self._floor_step(allowed)
        if limited > self._target_speed + _EPS and limited >= caps.min_running_speed_kmh - _EPS:
            return self._approve_speed(
                request,
                limited,
                now,
                Verdict.REPLACED,
                f"{self._fmt(kmh)} requested; limited to {self._fmt(limited)} by {why}",
            )
        reason = f"{self._fmt(kmh)} exceeds {why}"
        if allowed > self._target_speed + 0.01 and limited <= self._target_speed + _EPS:
            reason += (
                f"; the treadmill changes speed in steps of {caps.speed_step_kmh:g} km/h, larger "
                "than the increase allowed, so it cannot speed up from here"
            )
        if not self._start_step_pending and caps.max_speed_kmh > self._target_speed + 0.01:
            wait = self._next_increase_in(now)
            if wait > 0:
                reason += f"; the next increase is possible in {wait:.1f} s"
        return self._reject(request, reason)

    def _approve_speed(
        self, request: Request, kmh: float, now: float, verdict: Verdict, reason: str
    ) -> Decision:
        if self._start_step_pending:
            self._start_step_pending = False
            self._speed_history = [(now, kmh)]
        else:
            self._speed_history.append((now, kmh))
        self._previous_target = self._target_speed
        self._target_speed = kmh
        self._target_since = now
        self._console_target = False
        self._echo_kmh = None
        if self._setpoint_since is None:
            self._setpoint_since = now
        return Decision(verdict, request, SetSpeed(kmh), reason)

    def _decide_incline(self, request: Request, pct: float, now: float) -> Decision:
        if not math.isfinite(pct):
            return self._reject(request, "the requested incline is not a number")
        if self._state is not GovernorState.RUNNING:
            return self._reject(request, self._not_allowed(SetIncline))
        if pct > self._incline_base() + _EPS:
            held = self._hr_increase_refusal("incline")
            if held:
                return self._reject(request, held)
        caps = self._caps
        if caps.max_incline_pct < caps.min_incline_pct - _EPS:
            return self._reject(
                request,
                f"no incline is allowed: {caps.max_incline_source} {caps.max_incline_pct:g} % is "
                f"below the minimum incline {caps.min_incline_pct:g} %",
            )
        low, high = self.incline_allowance_pct(now)
        value, why = pct, ""
        if pct > high + _EPS:
            value = high
            why = (
                f"{caps.max_incline_source} {caps.max_incline_pct:g} %"
                if high >= caps.max_incline_pct - _EPS
                else f"the incline change limit ({self.limits.incline_change_pct:g} % per "
                f"{self.limits.incline_change_window_s:g} s)"
            )
        elif pct < low - _EPS:
            value = low
            why = (
                f"the minimum incline {caps.min_incline_pct:g} %"
                if low <= caps.min_incline_pct + _EPS
                else f"the incline change limit ({self.limits.incline_change_pct:g} % per "
                f"{self.limits.incline_change_window_s:g} s)"
            )
        current = self._incline_base()
        # On the treadmill's incline steps (0x2AD5 increment, at least the wire's 0.1 %), rounded
        # towards the current incline so that the cap and the rate limit hold for what it runs.
        stepped = self._incline_on_grid(value, up=value > current)
        if not low - _EPS <= stepped <= high + _EPS:
            return self._reject(
                request,
                f"{pct:g} % cannot be set on the treadmill's incline steps within "
                f"{low:g}..{high:g} %",
            )
        value = stepped
        if not why:
            verdict = Verdict.APPROVED
        elif abs(value - current) > 0.01 and (value - current) * (pct - current) > 0:
            verdict = Verdict.REPLACED
            why = f"{pct:g} % requested; limited to {value:g} % by {why}"
        else:
            return self._reject(request, f"{pct:g} % is outside {why}")
        self._incline_history.append((now, value))
        self._target_incline = value
        return Decision(verdict, request, SetIncline(value), why)

    # ------------------------------------------------------------------ events

    def handle(self, event: Event, now: float) -> Actions:
        """Take one observed event; return the commands to send and the alarms to raise."""
        try:
            return self._handle(event, self._checked_now(now))
        except Exception as exc:  # fail closed
            message = f"internal error: {exc!r}"
            return self._halt(AlarmKind.INTERNAL_ERROR, message, self._safe_now(now))

    def _handle(self, event: Event, now: float) -> Actions:
        if isinstance(event, Telemetry):
            return (
                self._on_telemetry(event, now)
                + self._on_incline(event, now)
                + self._check_stop_claim(event, now)
            )
        if isinstance(event, StopRefused | ControlRefused | SetpointRefused):
            return self._on_refusal(event, now)
        if isinstance(event, LinkLost):
            was_up = self._link_up
            self._link_up = False
            if not was_up and any(a.kind is AlarmKind.LINK_LOSS for a in self._alarms):
                return NO_ACTIONS
            # The Stop cannot be written while the link is down; the one sent on LinkUp counts.
            actions = self._halt(
                AlarmKind.LINK_LOSS,
                "The Bluetooth link to the treadmill was lost. The belt may still be moving: "
                "if it does not stop, pull the safety key.",
                now,
            )
            self._standstill = False  # unknown until telemetry after the reconnect shows it
            self._samples.clear()
            return actions
        if isinstance(event, LinkUp):
            reconnect = self._ever_connected
            self._link_up = True
            self._rx_since_link_up = False
            self._ever_connected = True
            if not reconnect:
                return NO_ACTIONS
            # After a reconnect the belt state is unknown: Stop first, then wait for telemetry.
            self._standstill = False
            self._enter_halt(now, "link restored after a loss; re-arm to continue", force=True)
            self._stop_deadline = now + self.limits.stop_confirm_timeout_s
            self._stop_alarm_raised = False
            return Actions(commands=(Stop("link restored: stop first", emergency=True),))
        if isinstance(event, SafetyKeyStop):
            return self._halt(
                AlarmKind.SAFETY_KEY,
                "The treadmill stopped: the safety key was pulled. Re-insert it and re-arm to "
                "continue.",
                now,
            )
        if isinstance(event, ControlLost):
            return self._halt(
                AlarmKind.CONTROL_LOST,
                "The treadmill withdrew control permission (another app or the console took "
                "over). The session is halted; re-arm to continue.",
                now,
            )
        if isinstance(event, MachineReset | UnknownStatus):
            what = (
                "reset itself (status 0x01: targets and control were revoked)"
                if isinstance(event, MachineReset)
                else f"sent an unknown status 0x{event.opcode:02x}"
            )
            message = (
                f"The treadmill {what}; its state is not known. The session is halted; re-arm "
                "to continue."
            )
            if self._state is GovernorState.HALTED and self.standstill:
                self._enter_halt(now, message)
                return NO_ACTIONS  # already at rest: nothing to stop
            return self._halt(AlarmKind.CONTROL_LOST, message, now)
        if isinstance(event, ConsoleStopped):
            what = "paused" if event.paused else "stopped"
            if self._state is not GovernorState.HALTED:
                self._enter_halt(now, f"{what} at the treadmill console")
            return NO_ACTIONS
        if isinstance(event, ConsoleStarted):
            if self._state is GovernorState.RUNNING:
                return NO_ACTIONS
            self._enter_halt(
                now, self._halt_reason or "started at the console while halted", force=True
            )
            return Actions(commands=(Stop("belt started while halted", emergency=True),))
        if isinstance(event, TargetSpeedChanged):
            limit = self._caps.max_speed_kmh + self.limits.overspeed_margin_kmh
            if event.kmh > limit + _EPS:
                return self._halt(
                    AlarmKind.OVERSPEED,
                    f"The treadmill's target speed was set to {self._fmt(event.kmh)}, above "
                    f"{self._caps.max_speed_source} {self._fmt(self._caps.max_speed_kmh)}. "
                    "Stopped.",
                    now,
                )
            self._note_console_target(event.kmh, now)
            return NO_ACTIONS
        if isinstance(event, TargetInclineChanged):
            return NO_ACTIONS
        if isinstance(event, HeartRate):
            return self._on_heart_rate(event, now)
        if isinstance(event, HeartRateDisconnected):
            return self._on_heart_rate_disconnected(event, now)
        # DeviceRanges
        self._device = event
        self._caps = self._compute_caps()
        if self._target_speed > self._caps.max_speed_kmh + _EPS:
            return self._halt(
                AlarmKind.OVERSPEED,
                f"The commanded speed {self._fmt(self._target_speed)} is above the new cap "
                f"{self._fmt(self._caps.max_speed_kmh)}. Stopped.",
                now,
            )
        if self._state is GovernorState.RUNNING and self._target_speed > 0:
            # A coarser increment: the treadmill may round the running target up; go down to
            # the new grid (a decrease) or stop when no step is left above the minimum.
            on_grid = self._floor_step(self._target_speed)
            if on_grid < self._target_speed - _EPS:
                if on_grid < self._caps.min_running_speed_kmh - _EPS:
                    return self._halt(
                        AlarmKind.SETPOINT_NOT_REACHED,
                        f"The treadmill's new speed steps ({self._caps.speed_step_kmh:g} km/h) "
                        f"leave no speed at or below {self._fmt(self._target_speed)}. Stopped.",
                        now,
                    )
                request = Request(SetSpeed(on_grid), Source.GOVERNOR)
                decision = self._approve_speed(
                    request, on_grid, now, Verdict.REPLACED, "new treadmill speed steps"
                )
                return Actions(commands=decision.commands)
        return NO_ACTIONS

    def _on_telemetry(self, event: Telemetry, now: float) -> Actions:
        if event.incline_pct is not None and math.isfinite(event.incline_pct):
            self._incline = event.incline_pct
        speed = event.speed_kmh
        # A record without a usable speed (absent, NaN, infinite, negative) tells nothing about
        # the belt: it neither confirms a standstill nor feeds the telemetry watchdog.
        if speed is None or not math.isfinite(speed) or speed < 0:
            return NO_ACTIONS
        self._last_rx = now
        self._speed = speed
        self._samples.append((now, speed))
        cutoff = now - 2 * _UNIT_SETTLE_S
        while len(self._samples) > 2 and self._samples[1][0] <= cutoff:
            self._samples.pop(0)

        if speed < self.limits.stop_confirm_speed_kmh:
            self._standstill = True
            self._stop_deadline = None
            self._stop_alarm_raised = False
        else:
            self._standstill = False

        # Overspeed: reported above the cap + margin for N consecutive samples.
        if speed > self._caps.max_speed_kmh + self.limits.overspeed_margin_kmh + _EPS:
            self._overspeed_count += 1
            if self._overspeed_count >= self.limits.overspeed_samples:
                return self._halt(
                    AlarmKind.OVERSPEED,
                    f"The belt runs at {self._fmt(speed)}, above "
                    f"{self._caps.max_speed_source} {self._fmt(self._caps.max_speed_kmh)} "
                    "(console override or device fault). Stopped.",
                    now,
                )
        else:
            self._overspeed_count = 0

        if self._state is not GovernorState.RUNNING:
            if self._stop_deadline is None and not self._standstill:
                return self._halt(
                    AlarmKind.UNEXPECTED_MOTION,
                    f"The belt moves at {self._fmt(speed)} while the session is halted. Stopped.",
                    now,
                )
            return NO_ACTIONS

        target = self._target_speed
        if target <= 0:
            return NO_ACTIONS
        # Confirmed only while telemetry shows the setpoint: a belt that passed through the target
        # while accelerating and settled elsewhere must not count as confirmed.
        if abs(speed - target) <= self._tolerance() + _EPS:
            self._setpoint_since = None
            return NO_ACTIONS
        if self._setpoint_since is None:
            self._setpoint_since = now
        if self._unit_mismatch(speed, now):
            return self._halt(AlarmKind.UNIT_MISMATCH, self._unit_message(speed), now)
        return NO_ACTIONS

    # ------------------------------------------------------------------ timed checks

    def tick(self, now: float) -> Actions:
        """Run the timed checks at ``now``: telemetry watchdog, setpoint and incline
        confirmation, the escalating stop and the re-sent Stop after a refusal. Returns a Stop
        and an alarm for whatever fired."""
        try:
            now = self._checked_now(now)
            actions = self._tick(now)
            actions += self._tick_incline(now) + self._tick_stop_resend(now)
            return actions + self._hr_tick(now)
        except Exception as exc:  # fail closed
            message = f"internal error: {exc!r}"
            return self._halt(AlarmKind.INTERNAL_ERROR, message, self._safe_now(now))

    def _tick(self, now: float) -> Actions:
        lim = self.limits
        if self._state is GovernorState.RUNNING:
            assert self._running_since is not None
            last = self._running_since
            if self._last_rx is not None:
                last = max(last, self._last_rx)
            if now - last >= lim.telemetry_timeout_s - _EPS:
                return self._halt(
                    AlarmKind.TELEMETRY_TIMEOUT,
                    f"No Treadmill Data for {now - last:.1f} s while the belt should be moving. "
                    "Stopped.",
                    now,
                )
            if (
                self._setpoint_since is not None
                and now - self._setpoint_since >= lim.setpoint_timeout_s - _EPS
            ):
                if (
                    self._speed is not None
                    and not self._console_target
                    and self._unit_ratio_matches(self._speed)
                ):
                    return self._halt(AlarmKind.UNIT_MISMATCH, self._unit_message(self._speed), now)
                actual = "unknown" if self._speed is None else self._fmt(self._speed)
                return self._halt(
                    AlarmKind.SETPOINT_NOT_REACHED,
                    f"The treadmill did not reach or hold {self._fmt(self._target_speed)} "
                    f"for {lim.setpoint_timeout_s:g} s (belt at {actual}); it may be ignoring "
                    "speed commands. Stopped.",
                    now,
                )
        if (
            self._stop_deadline is not None
            and now >= self._stop_deadline - _EPS
            and not self._stop_alarm_raised
        ):
            self._stop_alarm_raised = True
            alarm = self._raise(
                AlarmKind.STOP_NOT_CONFIRMED,
                f"PULL THE SAFETY KEY: the belt has not confirmed a stop within "
                f"{lim.stop_confirm_timeout_s:g} s of the Stop command.",
                now,
            )
            return Actions(
                commands=(Stop("stop not confirmed: repeating Stop", emergency=True),),
                alarms=(alarm,) if alarm else (),
            )
        return NO_ACTIONS

    # ------------------------------------------------------------------ refusals, console
    # targets, incline confirmation, fresh data for Start (DESIGN safety defaults)

    def start_stale(self, now: float) -> str:
        """Why a Start may not go out at ``now`` for want of fresh data (``""`` when Treadmill
        Data younger than :data:`START_DATA_MAX_AGE_S` shows the belt at a standstill)."""
        stale = self.telemetry_stale(now, START_DATA_MAX_AGE_S)
        if stale:
            return stale
        if not self._standstill:
            return "the latest Treadmill Data does not show the belt at a standstill"
        return ""

    def classify_unit_mismatch(
        self, target_kmh: float, reported_kmh: float
    ) -> tuple[AlarmKind, str] | None:
        """The FTMS client's units self-test saw the belt settle near 1.609x or 1/1.609x of
        ``target_kmh``: the alarm to raise (pass it to :meth:`fault`), or ``None`` when a console
        target change (status 0x05) since the last setpoint explains the speed. A speed above
        the cap + overspeed margin is an overspeed, whatever its ratio."""
        limit = self._caps.max_speed_kmh + self.limits.overspeed_margin_kmh
        if not math.isfinite(reported_kmh) or reported_kmh > limit + _EPS:
            return (
                AlarmKind.OVERSPEED,
                f"The belt runs at {self._fmt(reported_kmh)}, above "
                f"{self._caps.max_speed_source} {self._fmt(self._caps.max_speed_kmh)} "
                "(console override or device fault). Stopped.",
            )
        if self._console_target:
            return None
        ratio = reported_kmh / target_kmh if target_kmh > 0 else math.nan
        return (
            AlarmKind.UNIT_MISMATCH,
            f"Unit mismatch: target {self._fmt(target_kmh)}, belt {self._fmt(reported_kmh)} "
            f"(ratio {ratio:.2f}); the treadmill mixes up km/h and mph. Stopped.",
        )

    def _note_console_target(self, kmh: float, now: float) -> None:
        # The treadmill's echo of our setpoint is the first 0x05 after it (or the same value
        # again). Near 1.609x or 1/1.609x of ours and within ECHO_WINDOW_S, that echo is our
        # command in the other unit (evidence of a mix-up); any other target was set at the
        # console, even inside the window (the fault campaign found a console change 2.9 s after
        # an echoed setpoint).
        if self._state is not GovernorState.RUNNING:
            return
        tolerance = self._tolerance() + _EPS
        echoed = self._echo_kmh
        if echoed is None:
            self._echo_kmh = kmh
        if abs(kmh - self._target_speed) <= tolerance:
            return
        is_echo = echoed is None or abs(kmh - echoed) <= tolerance
        recent = self._target_since is not None and now - self._target_since <= ECHO_WINDOW_S
        if not (recent and is_echo and self._unit_ratio_matches(kmh)):
            self._console_target = True

    def _belt_words(self) -> str:
        if self._speed is None:
            return "the belt speed is not known"
        return f"the belt was last seen at {self._fmt(self._speed)}"

    def _on_refusal(
        self, event: StopRefused | ControlRefused | SetpointRefused, now: float
    ) -> Actions:
        if isinstance(event, StopRefused):
            if self._standstill and self._speed is not None:
                return NO_ACTIONS  # telemetry shows the belt at rest: nothing was refused
            if event.already_stopped and not self._rx_since_link_up:
                # "Already stopped" with the belt unknown (just reconnected): the next
                # Treadmill Data record decides.
                self._stop_claim = event
                return NO_ACTIONS
            self._enter_halt(now, "the treadmill refused the stop")
            if self._stop_deadline is None:
                self._stop_deadline = now + self.limits.stop_confirm_timeout_s
            self._stop_alarm_raised = True
            if self._stop_refused:
                return NO_ACTIONS  # refused again: the next Stop goes out on the 1 s schedule
            self._stop_refused = True
            self._stop_resend_at = now + STOP_RESEND_S
            detail = f" ({event.detail})" if event.detail else ""
            alarm = self._raise(
                AlarmKind.STOP_NOT_CONFIRMED,
                f"The treadmill refused the stop{detail}: PULL THE SAFETY KEY. "
                f"{self._belt_words().capitalize()}; Stop is sent again every "
                f"{STOP_RESEND_S:g} s while it moves.",
                now,
            )
            # Control is requested again only after 0x05 "control not permitted": a second
            # Request Control drops the link on some treadmills (FITSHOW / Sunny).
            stop = Stop(
                "the treadmill refused the stop: sending it again",
                emergency=True,
                request_control=event.control_not_permitted,
            )
            return Actions(commands=(stop,), alarms=(alarm,) if alarm else ())
        if self._state is GovernorState.HALTED:
            return NO_ACTIONS  # already halted: the Stop (and its refusal) is handled above
        if isinstance(event, ControlRefused):
            why = f" ({event.reason})" if event.reason else ""
            return self._halt(
                AlarmKind.CONTROL_LOST,
                f"The treadmill refused or withdrew control{why}: it may not follow the session. "
                "Halted; re-arm to continue.",
                now,
            )
        command = event.command
        if isinstance(command, SetSpeed):
            if abs(command.kmh - self._target_speed) > _EPS:
                return NO_ACTIONS  # an older target, already replaced
            what = f"the speed {self._fmt(command.kmh)}"
        else:
            if self._target_incline is None or abs(command.pct - self._target_incline) > _EPS:
                return NO_ACTIONS
            what = f"the incline {command.pct:g} %"
        detail = f" ({event.detail})" if event.detail else ""
        return self._halt(
            AlarmKind.SETPOINT_NOT_REACHED,
            f"The treadmill refused {what}{detail}; it will not follow the session. Stopped.",
            now,
        )

    def _check_stop_claim(self, event: Telemetry, now: float) -> Actions:
        speed = event.speed_kmh
        if speed is None or not math.isfinite(speed) or speed < 0:
            return NO_ACTIONS
        self._rx_since_link_up = True
        claim, self._stop_claim = self._stop_claim, None
        if speed < self.limits.stop_confirm_speed_kmh:
            self._stop_refused = False  # at rest: a later refusal starts a new chain
            self._stop_resend_at = None
            return NO_ACTIONS
        if claim is None:
            return NO_ACTIONS
        detail = f"{claim.detail}, yet the belt moves" if claim.detail else "the belt moves"
        return self._on_refusal(StopRefused(detail), now)

    def _tick_stop_resend(self, now: float) -> Actions:
        if not self._stop_refused:
            return NO_ACTIONS
        if self._standstill and self._stop_deadline is None:
            self._stop_refused = False
            self._stop_resend_at = None
            return NO_ACTIONS
        if not self._link_up or self._stop_resend_at is None or now < self._stop_resend_at - _EPS:
            return NO_ACTIONS
        self._stop_resend_at = now + STOP_RESEND_S
        # The Stop op code itself, not Request Control first: each re-send pre-empts the one
        # before, and a Request Control unanswered within the second (a silent control point,
        # answers taking 2-5 s) would keep the Stop from ever being written again. A Stop
        # answered 0x05 still gets its Request Control from the control-point machine.
        stop = Stop("the belt still moves: Stop again", emergency=True)
        return Actions(commands=(stop,))

    def _incline_tolerance(self) -> float:
        increment = self._device.incline_increment_pct
        if increment is not None and math.isfinite(increment) and increment > 0:
            return max(INCLINE_TOLERANCE_PCT, increment)
        return INCLINE_TOLERANCE_PCT

    def _on_incline(self, event: Telemetry, now: float) -> Actions:
        incline = event.incline_pct
        if incline is None or not math.isfinite(incline):
            return NO_ACTIONS
        # A cap below the floor allows no incline change; it does not make the floor a fault.
        cap = max(self._caps.max_incline_pct, self._caps.min_incline_pct)
        if incline > cap + INCLINE_OVER_CAP_PCT + _EPS:
            self._incline_over_count += 1
            at_rest = self._state is GovernorState.HALTED and self.standstill
            if self._incline_over_count >= INCLINE_OVER_CAP_SAMPLES and not at_rest:
                return self._halt(
                    AlarmKind.OVERSPEED,
                    f"The treadmill reports an incline of {incline:g} %, above "
                    f"{self._caps.max_incline_source} {cap:g} % (raised at the console or a "
                    "device fault). Stopped.",
                    now,
                )
        else:
            self._incline_over_count = 0
        target = self._target_incline
        if self._state is not GovernorState.RUNNING or target is None:
            self._incline_off_since = None
            return NO_ACTIONS
        if abs(incline - target) <= self._incline_tolerance() + _EPS:
            self._incline_off_since = None
        elif self._incline_off_since is None:
            # Like a speed setpoint: the window runs from the first target not reached; a new
            # target does not restart it (a profile changing incline every few seconds would
            # otherwise never be checked), only reaching a target ends it.
            self._incline_off_since = now
        return NO_ACTIONS

    def _tick_incline(self, now: float) -> Actions:
        since = self._incline_off_since
        if self._state is not GovernorState.RUNNING or since is None:
            return NO_ACTIONS
        if now - since < INCLINE_CONFIRM_S - _EPS:
            return NO_ACTIONS
        actual = "unknown" if self._incline is None else f"{self._incline:g} %"
        target = self._target_incline
        return self._halt(
            AlarmKind.SETPOINT_NOT_REACHED,
            f"The treadmill did not reach or hold the incline {target:g} % for "
            f"{INCLINE_CONFIRM_S:g} s (reported {actual}); it may be ignoring incline commands. "
            "Stopped.",
            now,
        )

    # ------------------------------------------------------------------ internals

    def _halt(self, kind: AlarmKind, message: str, now: float) -> Actions:
        """Fail closed: latch the halt, send Stop, raise the alarm (once per active kind)."""
        self._enter_halt(now, message)
        alarm = self._raise(kind, message, now)
        return Actions(commands=(Stop(message, emergency=True),), alarms=(alarm,) if alarm else ())

    def _raise(self, kind: AlarmKind, message: str, now: float) -> Alarm | None:
        if any(a.kind is kind for a in self._alarms):
            return None
        alarm = Alarm(kind, message, now)
        self._alarms.append(alarm)
        return alarm

    def _enter_halt(self, now: float, reason: str, *, force: bool = False) -> None:
        was_moving = self._state is GovernorState.RUNNING or not self._standstill
        if self._state is not GovernorState.HALTED or force or not self._halt_reason:
            self._halt_reason = reason
        self._state = GovernorState.HALTED
        self._countdown_ends = None
        self._running_since = None
        self._start_step_pending = False
        self._target_speed = 0.0
        self._previous_target = 0.0
        self._target_since = None
        self._setpoint_since = None
        self._speed_history = []
        if (was_moving or force) and self._ever_connected and self._stop_deadline is None:
            self._stop_deadline = now + self.limits.stop_confirm_timeout_s
            self._stop_alarm_raised = False

    def _reject(self, request: Request, reason: str) -> Decision:
        return Decision(Verdict.REJECTED, request, None, reason)

    def _not_allowed(self, command: type[Command]) -> str:
        if command in ALLOWED[self._state]:
            return "not allowed now"
        return _NOT_ALLOWED_REASON[self._state].format(why=self._halt_reason or "stopped")

    def _incline_base(self) -> float:
        if self._target_incline is not None:
            return self._target_incline
        return self._incline if self._incline is not None else 0.0

    @staticmethod
    def _window(history: list[tuple[float, float]], now: float, width: float) -> list[float]:
        """Values in effect at any time in ``[now - width, now]``; prunes older entries."""
        start = now - width
        while len(history) > 1 and history[1][0] <= start:
            history.pop(0)
        return [v for _, v in history]

    def _rate_allowance(self, now: float) -> float:
        window = self._window(self._speed_history, now, self.limits.speed_increase_window_s)
        base = min(window) if window else self._target_speed
        return base + self.limits.speed_increase_kmh

    def _next_increase_in(self, now: float) -> float:
        history = self._speed_history
        if not history:
            return 0.0
        lowest = min(v for _, v in history)
        # The lowest value leaves the window when the value after it was set `window` ago.
        last = max(i for i, (_, v) in enumerate(history) if v == lowest)
        if last + 1 >= len(history):
            return 0.0
        return max(0.0, history[last + 1][0] + self.limits.speed_increase_window_s - now)

    def _checked_now(self, now: float) -> float:
        """``now`` when it is a finite number; else raise (the caller fails closed): with a NaN
        clock every deadline comparison is False, so countdowns pass and watchdogs never fire."""
        if not math.isfinite(now):
            raise ValueError(f"the session clock is broken (now = {now!r})")
        self._clock = now
        return now

    def _safe_now(self, now: float) -> float:
        return now if math.isfinite(now) else self._clock

    def telemetry_stale(self, now: float, timeout: float | None = None) -> str:
        """Why the belt's state is not known at ``now`` (``""`` when a Treadmill Data record with
        a usable speed arrived within ``timeout``, by default the telemetry timeout): a Start
        needs fresh data, arming data within twice the timeout."""
        if timeout is None:
            timeout = self.limits.telemetry_timeout_s
        if self._last_rx is None:
            return "no Treadmill Data with a belt speed has arrived yet"
        if now - self._last_rx > timeout + _EPS:
            return (
                f"no Treadmill Data for {now - self._last_rx:.1f} s (more than {timeout:g} s): "
                "the belt's state is not known"
            )
        return ""

    def _step_centi(self) -> int:
        step = self._caps.speed_step_kmh
        return max(1, round(step * 100))

    def _floor_step(self, kmh: float) -> float:
        """``kmh`` rounded down to the speed step (never below 0)."""
        if kmh <= 0:
            return 0.0
        step = self._step_centi()
        centi = math.floor(kmh * 100 + 1e-6)
        return (centi // step) * step / 100

    def incline_on_grid(self, pct: float) -> float:
        """``pct`` as :meth:`decide` would send it: on the treadmill's incline steps (at least the
        wire's 0.1 %), rounded towards the current target incline."""
        return self._incline_on_grid(pct, up=pct > self._incline_base())

    def _incline_on_grid(self, pct: float, *, up: bool) -> float:
        """``pct`` on the incline steps: rounded down when going up, up when going down."""
        increment = self._device.incline_increment_pct
        step = 1
        if increment is not None and math.isfinite(increment) and increment > 0.1:
            step = max(1, round(increment * 10))
        tenths = pct * 10
        units = math.floor(tenths / step + 1e-6) if up else math.ceil(tenths / step - 1e-6)
        return units * step / 10

    def _next_step(self, kmh: float) -> float:
        """The first speed step above ``kmh``."""
        return self._floor_step(kmh) + self._step_centi() / 100

    def _nearest_step(self, kmh: float) -> float:
        """``kmh`` rounded to the nearest speed step (halves up; never below 0)."""
        if kmh <= 0:
            return 0.0
        step = self._step_centi()
        units = math.floor(kmh * 100 / step + 0.5 + 1e-6)
        return units * step / 100

    def _ceil_step(self, kmh: float) -> float:
        """``kmh`` rounded up to the speed step."""
        step = self._step_centi()
        centi = math.ceil(kmh * 100 - 1e-6)
        return -(-centi // step) * step / 100

    def _tolerance(self) -> float:
        return max(self.limits.setpoint_tolerance_kmh, self._device.speed_increment_kmh or 0.0)

    def _unit_ratio_matches(self, speed: float) -> bool:
        target = self._target_speed
        if target <= 0 or speed < _UNIT_MIN_SPEED_KMH:
            return False
        ratio = speed / target
        tol = self.limits.unit_mismatch_tolerance
        return abs(ratio - KMH_PER_MPH) <= tol or abs(ratio - 1 / KMH_PER_MPH) <= tol

    def _unit_mismatch(self, speed: float, now: float) -> bool:
        """The belt settled (steady for 1 s) near 1.609x or 1/1.609x of a target commanded at
        least 3 s ago, and not at the previous target (a slow device would still be there)."""
        if self._target_since is None or now - self._target_since < _UNIT_MIN_AGE_S:
            return False
        if self._console_target:
            return False
        if not self._unit_ratio_matches(speed):
            return False
        if abs(speed - self._previous_target) <= self._tolerance():
            return False
        earlier = [v for t, v in self._samples if t <= now - _UNIT_SETTLE_S]
        return bool(earlier) and abs(earlier[-1] - speed) <= _UNIT_SETTLE_KMH

    def _unit_message(self, speed: float) -> str:
        return (
            f"Unit mismatch: the belt reports {self._fmt(speed)} for a target of "
            f"{self._fmt(self._target_speed)} (about {speed / self._target_speed:.2f}x): the "
            "treadmill confuses km/h and mph. Stopped."
        )

    def _compute_caps(self) -> Caps:
        lim, dev = self.limits, self._device
        speed_caps = [("the safety cap", lim.max_speed_kmh)]
        if self._profile_max_speed is not None:
            speed_caps.append(("the profile cap", self._profile_max_speed))
        if dev.max_speed_kmh is not None and dev.max_speed_kmh > 0:
            speed_caps.append(("the device maximum", dev.max_speed_kmh))
        speed_source, max_speed = min(speed_caps, key=lambda c: c[1])
        incline_caps = [("the safety cap", lim.max_incline_pct)]
        if self._profile_max_incline is not None:
            incline_caps.append(("the profile cap", self._profile_max_incline))
        if dev.max_incline_pct is not None:
            incline_caps.append(("the device maximum", dev.max_incline_pct))
        incline_source, max_incline = min(incline_caps, key=lambda c: c[1])
        min_incline = max(lim.min_incline_pct, dev.min_incline_pct or lim.min_incline_pct)
        increment = dev.speed_increment_kmh
        step = 0.01
        if increment is not None and math.isfinite(increment) and increment > step:
            step = round(increment, 2)
        return Caps(
            max_speed_kmh=max(0.0, max_speed),
            max_speed_source=speed_source,
            min_running_speed_kmh=max(lim.min_running_speed_kmh, dev.min_speed_kmh or 0.0),
            max_start_speed_kmh=min(lim.max_start_speed_kmh, max(0.0, max_speed)),
            max_incline_pct=max_incline,
            max_incline_source=incline_source,
            # A cap below the floor (a profile's [limits] max_incline = -2, a device range below
            # 0 %) leaves no allowed incline; it never lowers the floor.
            min_incline_pct=min_incline,
            speed_step_kmh=step,
        )

    def _fmt(self, kmh: float) -> str:
        return format_speed(kmh, self.units, 2)

    # ------------------------------------------------------------------ heart rate

    def _init_heart_rate(self) -> None:
        self._hr_bpm: float | None = None
        """The last measurement (a sample with contact and above 0 bpm)."""
        self._hr_last: float | None = None
        """When it arrived."""
        self._hr_source = ""
        self._hr_connected = True
        self._hr_no_contact = False
        """The latest sample reported no skin contact or 0 bpm."""
        self._hr_lost_at: float | None = None
        """When the heart rate was lost (``None`` while it is live or was never seen)."""
        self._hr_lost_why = ""
        self._hr_slow_sent = False
        self._hr_slowed = False
        """The belt was slowed for a lost heart rate: increases wait for an operator action."""

    def heart_rate_status(self, now: float) -> HeartRateStatus:
        """The heart rate as the governor sees it at ``now``, for display (see
        :class:`HeartRateStatus`)."""
        lim = self.limits
        lost_at = self._hr_lost_at
        slow_at = None if lost_at is None else lost_at + lim.hr_slow_after_s
        stop_at = None if lost_at is None else lost_at + lim.hr_stop_after_s
        return HeartRateStatus(
            bpm=self._hr_bpm,
            source=self._hr_source,
            live=not self._hr_not_live(now),
            limited=lim.heart_rate_limited,
            max_bpm=lim.max_heart_rate_bpm,
            hold_bpm=lim.hr_hold_above_bpm,
            holding=self._hr_holding(now),
            lost_since=lost_at,
            lost_reason=self._hr_lost_why,
            slow_at=slow_at,
            stop_at=stop_at,
            slowed=self._hr_slowed,
        )

    def confirm_heart_rate(self, now: float) -> ArmResult:
        """The operator lets a ramp that was slowed for a lost heart rate continue (increases are
        refused until then). Refused while the heart rate is not live."""
        if not math.isfinite(now):
            return ArmResult(False, f"the session clock is broken (now = {now!r})")
        if not self._hr_slowed:
            return ArmResult(False, "the ramp was not slowed for a lost heart rate")
        why = self._hr_not_live(now)
        if why:
            return ArmResult(False, f"the heart rate is not live: {why}")
        self._hr_slowed = False
        return ArmResult(True)

    def _hr_warning_persists(self, alarm: Alarm) -> bool:
        return alarm.warning and self._hr_lost_at is not None

    def _hr_not_live(self, now: float) -> str:
        """Why there is no live heart rate at ``now`` (``""`` when there is one)."""
        if self._hr_last is None:
            return "no heart-rate measurement has arrived yet"
        if not self._hr_connected:
            return "the heart-rate sensor is disconnected"
        if self._hr_lost_at is not None:
            return self._hr_lost_why
        age = now - self._hr_last
        if age > self.limits.hr_lost_after_s + _EPS:
            return f"no heart-rate measurement for {age:.1f} s"
        return ""

    def _hr_start_refusal(self) -> str:
        """Why a Start (or arming) is refused for the heart rate: with a limit set, it needs a
        live heart rate below the hold (``""`` when it may go)."""
        if not self.limits.heart_rate_limited:
            return ""
        why = self._hr_not_live(self._clock)
        if why:
            return f"a heart-rate limit is set and there is no live heart rate ({why})"
        if self._hr_holding(self._clock):
            return (
                f"the heart rate {self._hr_bpm:.0f} bpm is at or above the hold "
                f"{self.limits.hr_hold_above_bpm:.0f} bpm"
            )
        return ""

    def _hr_holding(self, now: float) -> bool:
        bpm = self._hr_bpm
        return (
            bpm is not None
            and not self._hr_not_live(now)
            and bpm >= self.limits.hr_hold_above_bpm - _EPS
        )

    def _hr_increase_refusal(self, what: str) -> str:
        """Why a speed or incline increase is refused for the heart rate (``""`` if it is not)."""
        if not self.limits.heart_rate_limited:
            return ""
        now = self._clock
        lost = self._hr_not_live(now)
        if lost:
            return f"no {what} increase: the heart rate is lost ({lost})"
        if self._hr_slowed:
            return (
                f"no {what} increase: the belt was slowed after the heart rate was lost; an "
                "operator must confirm before the profile continues"
            )
        if self._hr_holding(now):
            return (
                f"no {what} increase: the heart rate {self._hr_bpm:.0f} bpm is at or above the "
                f"hold {self.limits.hr_hold_above_bpm:.0f} bpm (the profile holds)"
            )
        return ""

    def _on_heart_rate(self, event: HeartRate, now: float) -> Actions:
        self._hr_source = event.source or self._hr_source
        self._hr_connected = True
        bpm = event.bpm
        if not math.isfinite(bpm) or bpm <= 0 or event.contact_detected is False:
            # Not a measurement (no skin contact, 0 bpm): it neither heals a loss nor counts
            # towards or against the cap; a loss is declared once this lasts (tick).
            self._hr_no_contact = True
            return NO_ACTIONS
        self._hr_no_contact = False
        self._hr_bpm = bpm
        self._hr_last = now
        if self._hr_lost_at is not None:
            self._hr_lost_at = None
            self._hr_lost_why = ""
            self._hr_slow_sent = False
            self._alarms = [
                a for a in self._alarms if not (a.kind is AlarmKind.HEART_RATE_LOST and a.warning)
            ]
        limit = self.limits.max_heart_rate_bpm
        if bpm <= limit:
            self._heart_rate_count = 0
            return NO_ACTIONS
        self._heart_rate_count += 1
        if self._heart_rate_count < self.limits.heart_rate_samples:
            return NO_ACTIONS
        if self._state is GovernorState.HALTED and self.standstill:
            return NO_ACTIONS  # already at rest: nothing to stop
        return self._halt(
            AlarmKind.HEART_RATE,
            f"Heart rate {bpm:.0f} bpm is above the limit {limit:.0f} bpm. Stopped: "
            "rest before continuing.",
            now,
        )

    def _on_heart_rate_disconnected(self, event: HeartRateDisconnected, now: float) -> Actions:
        self._hr_source = event.source or self._hr_source
        self._hr_connected = False
        if self._hr_lost_at is not None or self._hr_last is None:
            return NO_ACTIONS
        return self._hr_lose(now, "the heart-rate sensor disconnected")

    def _hr_lose(self, now: float, why: str) -> Actions:
        """Declare the heart rate lost at ``now``: a warning (no Stop), no increases from now."""
        self._hr_lost_at = now
        self._hr_lost_why = why
        self._hr_slow_sent = False
        if not self.limits.heart_rate_limited:
            return NO_ACTIONS
        lim = self.limits
        alarm = Alarm(
            AlarmKind.HEART_RATE_LOST,
            f"HEART RATE LOST: {why}. No speed or incline increases; the belt slows to the "
            f"minimum running speed in {lim.hr_slow_after_s:g} s and stops in "
            f"{lim.hr_stop_after_s:g} s unless the heart rate is back.",
            now,
            warning=True,
        )
        self._alarms = [a for a in self._alarms if a.kind is not AlarmKind.HEART_RATE_LOST]
        self._alarms.append(alarm)
        return Actions(alarms=(alarm,))

    def _hr_tick(self, now: float) -> Actions:
        lim = self.limits
        if not lim.heart_rate_limited or self._hr_last is None:
            return NO_ACTIONS
        if self._hr_lost_at is None:
            if now - self._hr_last < lim.hr_lost_after_s - _EPS:
                return NO_ACTIONS
            why = (
                "contact not detected or 0 bpm"
                if self._hr_no_contact
                else f"no measurement for {lim.hr_lost_after_s:g} s"
            )
            actions = self._hr_lose(self._hr_last + lim.hr_lost_after_s, why)
            return actions + self._hr_act_on_loss(now)
        return self._hr_act_on_loss(now)

    def _hr_act_on_loss(self, now: float) -> Actions:
        """The lost heart rate's deadlines: the minimum running speed, then Stop."""
        lost_at = self._hr_lost_at
        if lost_at is None or self._state is not GovernorState.RUNNING:
            return NO_ACTIONS
        lim = self.limits
        if now >= lost_at + lim.hr_stop_after_s - _EPS:
            self._alarms = [a for a in self._alarms if a.kind is not AlarmKind.HEART_RATE_LOST]
            return self._halt(
                AlarmKind.HEART_RATE_LOST,
                f"The heart rate has been lost for {now - lost_at:.0f} s ({self._hr_lost_why}). "
                "Stopped; the session is over.",
                now,
            )
        if now >= lost_at + lim.hr_slow_after_s - _EPS and not self._hr_slow_sent:
            self._hr_slow_sent = True
            self._hr_slowed = True
            slow = self.speed_on_grid(self._caps.min_running_speed_kmh)
            if self._target_speed <= slow + _EPS:
                return NO_ACTIONS
            request = Request(SetSpeed(slow), Source.GOVERNOR)
            decision = self._approve_speed(
                request,
                slow,
                now,
                Verdict.REPLACED,
                f"heart rate lost for {lim.hr_slow_after_s:g} s: slowing to the minimum running "
                "speed",
            )
            return Actions(commands=decision.commands)
        return NO_ACTIONS


__all__ = [
    "ALLOWED",
    "NEXT_STATE",
    "ArmResult",
    "Caps",
    "GovernorState",
    "GovernorStatus",
    "HeartRateStatus",
    "SafetyGovernor",
]
