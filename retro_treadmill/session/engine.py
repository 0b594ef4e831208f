"""The session state machine: a profile turned into governed setpoints over time.

Pure and synchronous (sans-IO): every input comes with ``now`` (seconds on the session clock) and
returns a :class:`SessionOutput` with the commands to write to the treadmill (already decided by
the :class:`~retro_treadmill.safety.governor.SafetyGovernor`; send them in order, nothing else) and
the alarms to raise. The service's whole job is::

    engine = SessionEngine(profile, limits=limits, device=ranges, units="mph")
    out = engine.prepare(now)                         # -> preflight
    out = engine.handle(Telemetry(kmh, pct), now)     # every Treadmill Data record, link event,
    out = engine.handle(LinkLost(), now)              #   Fitness Machine Status, ...
    out = engine.tick(now)                            # ~10 Hz: countdown, profile, watchdogs
    out = engine.start(now)                           # operator: checklist done -> countdown
    out = engine.stop(now, Source.KEYBOARD)           # Stop at once, in every state
    out = engine.pause(now, ...); engine.resume(now)  # resume / "turned around" confirmation
    out = engine.request(Request(SpeedChange(+0.16), Source.KEYBOARD), now)  # +/-, MQTT
    out = engine.fault(AlarmKind.UNIT_MISMATCH, "...", now)  # a fault found by the service
    view = engine.status(now)                         # for the UI, MQTT, the progress line
    # for each call: send out.commands in order; show out.alarms; show out.rejection

States (``SessionState``; values match :class:`retro_treadmill.tui.model.SessionState`)::

    idle -> preflight -> countdown -> running <-> paused -> stopping -> finished
                                          \\-> alarm (from any state on a governor alarm)

- ``countdown``: the operator armed (``start`` or ``resume``); after the governor's countdown
  (5 s) the engine sends Start and the segment's speed, at most the start speed (1.0 mph).
- ``running``: the profile's speed and incline at the current segment time, plus the operator's
  +/- offset, clamped to the caps, are requested in steps the governor allows (speed increases of
  0.1 mph per 5 s, incline 0.5 % per 5 s). Segment time counts only while telemetry confirms the
  belt at the setpoint and the setpoint is on the profile (a ramp steeper than the rate limit is
  stretched, never skipped).
- Between a forward and a backward segment: Stop, then ``paused`` with ``turn_around`` set and a
  "turn around" prompt; continuing needs :meth:`SessionEngine.resume` (operator) at a standstill.
- Every start (the first, after a turn-around, after a pause) is a straddle start
  (:mod:`retro_treadmill.session.coaching`): the walker stands on the side rails while the belt
  starts (``SessionStatus.straddle``); ``step_on`` turns true once the governor confirms the first
  setpoint since that start from telemetry, and the prompt says STEP ON. Backward segments rotate
  posture cues (``SessionStatus.cue``).
- ``paused``: the belt is stopped (operator pause, console stop/pause, turn around); only
  :meth:`SessionEngine.resume` continues, through a new countdown.
- ``stopping``: Stop sent (operator stop or profile complete); ``finished`` once telemetry shows
  the belt stopped. Nothing starts again from ``finished``.
- ``alarm``: the governor raised an alarm and stopped the belt. :meth:`acknowledge` clears the
  alarms whose cause is over (-> ``paused``); :meth:`resume` re-arms and continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from retro_treadmill.safety.commands import (
    Actions,
    Alarm,
    AlarmKind,
    Command,
    Decision,
    DeviceRanges,
    Event,
    InclineChange,
    Pause,
    Request,
    SetIncline,
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
    Verdict,
)
from retro_treadmill.safety.governor import GovernorState, SafetyGovernor
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session import coaching
from retro_treadmill.session.plan import (
    CONSTANT_SPEED_PROFILE,
    STEP_QUIRK,
    SpeedPlan,
    speed_plan,
)
from retro_treadmill.session.profile import Profile, Segment
from retro_treadmill.units import SpeedUnit, format_speed

_EPS = 1e-6
_SPEED_EXACT_KMH = 0.005
"""Setpoints closer than this to the current target are not re-sent."""
_INCLINE_EXACT_PCT = 0.05


class SessionState(StrEnum):
    """The session's states (values match :class:`retro_treadmill.tui.model.SessionState`)."""

    IDLE = "idle"
    PREFLIGHT = "preflight"
    COUNTDOWN = "countdown"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    ALARM = "alarm"


class Outcome(StrEnum):
    """How a session ended (the CLI maps it to an exit code)."""

    COMPLETED = "completed"
    """Every segment walked; the belt stopped at the end."""
    STOPPED = "stopped"
    """An operator (keyboard, MQTT, signal, service) stopped the session."""
    ALARM = "alarm"
    """A safety alarm halted the session and it was stopped without resuming."""


@dataclass(frozen=True, slots=True)
class SessionOutput:
    """What one input to the engine produces.

    ``commands``: write these to the treadmill now, in order (a Stop is always alone and first).
    ``alarms``: new alarms to show (full screen, bell). ``decisions``: every governor decision
    taken for this input (for the audit trail). ``rejection``: why an operator request was refused
    (or, for a replaced one, what was changed); empty otherwise.
    """

    commands: tuple[Command, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    decisions: tuple[Decision, ...] = ()
    rejection: str = ""

    def __bool__(self) -> bool:
        return bool(self.commands or self.alarms or self.rejection)


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """Everything a display needs, as one value (speeds km/h, inclines %, times s)."""

    state: SessionState
    time_s: float
    profile_name: str
    countdown_s: float | None
    """Seconds left in the countdown (state ``countdown``)."""
    segment_index: int | None
    segment_count: int
    segment_name: str
    """E.g. ``segment 2 'ramp'`` (as in the profile file)."""
    segment_kind: str
    direction: str
    prompt: str
    """The instruction for the walker now: the straddle start (countdown, belt starting), STEP ON,
    the segment's prompt, or "turn around ..."."""
    straddle: bool
    """The walker must stay on the side rails: counting down, or the belt started and telemetry
    does not yet confirm it at the start speed."""
    step_on: bool
    """Telemetry confirms the belt at the start speed since the last (re)start: the walker steps
    on (true for :data:`~retro_treadmill.session.coaching.STEP_ON_SHOW_S` after that)."""
    start_speed_kmh: float | None
    """The speed the belt starts at after the countdown (``None`` when nothing is to start)."""
    cue: str
    """A posture cue for a backward segment, rotating (``""`` otherwise)."""
    turn_around: bool
    """Paused for turning around: :meth:`SessionEngine.resume` confirms it."""
    target_speed_kmh: float
    """Last speed approved by the governor (0 when halted)."""
    target_incline_pct: float | None
    profile_speed_kmh: float | None
    """The profile's speed at this point (plus the operator offset), before rate limiting."""
    profile_incline_pct: float | None
    speed_kmh: float | None
    """Reported belt speed (Treadmill Data)."""
    incline_pct: float | None
    standstill: bool
    link_up: bool
    elapsed_s: float
    """Walking time counted so far (only while confirmed at the setpoint)."""
    remaining_s: float
    progress: float
    """Fraction of the profile done, 0..1."""
    segment_elapsed_s: float
    segment_remaining_s: float
    speed_offset_kmh: float
    incline_offset_pct: float
    alarms: tuple[Alarm, ...]
    message: str
    outcome: Outcome | None


class SessionEngine:
    """Runs one profile: see the module docstring.

    ``limits`` are the effective safety limits (clinic config applied); the profile's own
    ``[limits]`` tighten them further. ``device`` is the supported ranges when known (else feed a
    :class:`DeviceRanges` event to :meth:`handle`). ``governor`` may be given for tests; by
    default the engine builds its own.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        limits: SafetyLimits = DEFAULT_LIMITS,
        device: DeviceRanges | None = None,
        units: SpeedUnit = "mph",
        governor: SafetyGovernor | None = None,
    ) -> None:
        if not profile.segments:
            raise ValueError("a profile needs at least one segment")
        self.profile = profile
        self.governor = governor or SafetyGovernor(
            limits,
            profile_max_speed_kmh=profile.limits.max_speed_kmh,
            profile_max_incline_pct=profile.limits.max_incline_pct,
            device=device,
            units=units,
        )
        self._state = SessionState.IDLE
        self._index = 0
        self._seg_elapsed = 0.0
        self._done_s = 0.0
        self._last_update: float | None = None
        self._started_once = False
        self._turn_around = False
        self._profile_done = False
        self._speed_offset = 0.0
        self._incline_offset = 0.0
        self._message = ""
        self._outcome: Outcome | None = None
        self._belt_confirmed_at: float | None = None
        """When telemetry first confirmed the belt at its first setpoint since the last start."""

    # ------------------------------------------------------------------ views

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def segment(self) -> Segment:
        """The current (or next, when paused for turning around) segment."""
        return self.profile.segments[min(self._index, len(self.profile.segments) - 1)]

    @property
    def outcome(self) -> Outcome | None:
        """How the session ended (``None`` while it is not over)."""
        return self._outcome

    def status(self, now: float) -> SessionStatus:
        """The snapshot for display at ``now``."""
        gov = self.governor
        gs = gov.status()
        total = self.profile.total_duration_s
        elapsed = min(total, self._done_s + self._seg_elapsed)
        seg = self.segment
        countdown = None
        if self._state is SessionState.COUNTDOWN and gs.countdown_ends is not None:
            countdown = max(0.0, gs.countdown_ends - now)
        walking = not self._profile_done
        speed, incline = self._desired() if walking else (None, None)
        return SessionStatus(
            state=self._state,
            time_s=now,
            profile_name=self.profile.name,
            countdown_s=countdown,
            segment_index=self._index if walking else None,
            segment_count=len(self.profile.segments),
            segment_name=seg.label if walking else "",
            segment_kind=seg.kind if walking else "",
            direction=seg.direction if walking else "",
            prompt=self._prompt(now),
            straddle=self._straddle(),
            step_on=self._step_on(now),
            start_speed_kmh=self._start_speed_kmh() if walking else None,
            cue=self._cue(now),
            turn_around=self._turn_around,
            target_speed_kmh=gs.target_speed_kmh,
            target_incline_pct=gs.target_incline_pct,
            profile_speed_kmh=speed,
            profile_incline_pct=incline,
            speed_kmh=gs.speed_kmh,
            incline_pct=gs.incline_pct,
            standstill=gs.standstill,
            link_up=gs.link_up,
            elapsed_s=elapsed,
            remaining_s=max(0.0, total - elapsed),
            progress=1.0 if total <= 0 else min(1.0, elapsed / total),
            segment_elapsed_s=self._seg_elapsed if walking else 0.0,
            segment_remaining_s=max(0.0, seg.duration_s - self._seg_elapsed) if walking else 0.0,
            speed_offset_kmh=self._speed_offset,
            incline_offset_pct=self._incline_offset,
            alarms=gs.alarms,
            message=self._message,
            outcome=self._outcome,
        )

    # ------------------------------------------------------------------ operator actions

    def prepare(self, now: float) -> SessionOutput:
        """Connected and profile loaded: show the checklist (``idle`` -> ``preflight``)."""
        if self._state is SessionState.IDLE:
            self._state = SessionState.PREFLIGHT
            self._message = "Complete the preflight checklist, then start."
            return SessionOutput()
        return SessionOutput(rejection=f"cannot prepare in state {self._state}")

    def start(self, now: float) -> SessionOutput:
        """The operator completed the preflight checklist: arm and count down (5 s)."""
        if self._state not in (SessionState.IDLE, SessionState.PREFLIGHT):
            if self._state in (SessionState.PAUSED, SessionState.ALARM):
                return self.resume(now)
            return SessionOutput(rejection=f"cannot start in state {self._state}")
        return self._arm(now, "Starting")

    def resume(self, now: float) -> SessionOutput:
        """Operator: continue after a pause, an alarm or turning around (a new countdown).
        Refused unless the governor confirms the belt at a standstill with the link up.

        While running after the belt was slowed for a lost heart rate (now back), this is the
        operator's go-ahead for the profile to ramp up again."""
        if self._state is SessionState.RUNNING and self.governor.heart_rate_status(now).slowed:
            confirmed = self.governor.confirm_heart_rate(now)
            if not confirmed.armed:
                return SessionOutput(rejection=f"cannot continue the ramp: {confirmed.reason}")
            self._message = "Heart rate back: the profile continues."
            return SessionOutput()
        if self._outcome is Outcome.ALARM:
            return SessionOutput(rejection="the session is over after the heart rate was lost")
        if self._state not in (SessionState.PAUSED, SessionState.ALARM):
            return SessionOutput(rejection=f"nothing to resume in state {self._state}")
        if self._profile_done:
            return SessionOutput(rejection="the profile is complete; nothing to resume")
        return self._arm(now, "Resuming")

    def _arm(self, now: float, verb: str) -> SessionOutput:
        coarse = self._coarse_steps_block()
        if coarse:
            return SessionOutput(rejection=f"cannot start: {coarse}")
        result = self.governor.arm(now)
        if not result.armed:
            return SessionOutput(rejection=f"cannot start: {result.reason}")
        self._state = SessionState.COUNTDOWN
        self._belt_confirmed_at = None
        self._message = f"{verb} in {self.governor.limits.countdown_s:g} s: {self._prompt(now)}"
        return SessionOutput()

    def stop(self, now: float, source: Source = Source.OPERATOR, reason: str = "") -> SessionOutput:
        """Stop the belt now (FTMS Stop), in every state; the session ends (nothing resumes).
        Before the first start it only cancels the countdown."""
        stop = Stop(reason or f"stop ({source})")
        decision = self.governor.decide(Request(stop, source=source), now)
        try:
            if self._state in (SessionState.IDLE, SessionState.PREFLIGHT) or (
                self._state is SessionState.COUNTDOWN and not self._started_once
            ):
                if self._state is SessionState.COUNTDOWN:
                    self._state = SessionState.PREFLIGHT
                self._message = "Stopped."
            elif self._state is not SessionState.FINISHED:
                outcome = Outcome.ALARM if self._state is SessionState.ALARM else None
                self._finish_with_stop(outcome)
                self._message = "Stop sent; waiting for the belt to stop."
                self._check_stopped()
        except Exception as exc:  # the Stop goes out whatever happens to the bookkeeping
            self._state = SessionState.ALARM
            self._message = f"internal error after Stop: {exc!r}"
        return SessionOutput(commands=(stop,), decisions=(decision,))

    def pause(self, now: float, source: Source = Source.OPERATOR) -> SessionOutput:
        """Pause (FTMS Stop or Pause, 0x02): the belt stops; :meth:`resume` continues."""
        decision = self.governor.decide(Request(Pause(f"pause ({source})"), source=source), now)
        if self._state in (SessionState.RUNNING, SessionState.COUNTDOWN) and self._started_once:
            self._state = SessionState.PAUSED
            self._message = "Paused. Resume when ready (the belt must be stopped)."
        elif self._state is SessionState.COUNTDOWN:
            self._state = SessionState.PREFLIGHT
        return self._output(decisions=(decision,))

    def fault(self, kind: AlarmKind, message: str, now: float) -> SessionOutput:
        """A fault found outside the engine (the FTMS client's unit self-test, an exception in
        the service or the UI, a heart-rate limit): Stop, alarm, state ``alarm`` (fail closed).
        Resuming needs the operator, as after any governor alarm."""
        out = self._output(self.governor.fault(kind, message, now))
        self._state = SessionState.ALARM  # also when the same kind was already active
        self._message = message
        return out

    def acknowledge(self, now: float) -> SessionOutput:
        """The operator saw the alarms: clear those whose cause is over. The belt stays stopped;
        an alarm state becomes ``paused`` (or ``finished``) once no alarm is left."""
        remaining = self.governor.acknowledge()
        if self._state is SessionState.ALARM and not remaining:
            if self._outcome is not None or self._profile_done:
                self._state = SessionState.FINISHED
            else:
                self._state = SessionState.PAUSED
                self._message = "Alarm cleared. Resume when ready."
        return SessionOutput()

    def request(self, request: Request, now: float) -> SessionOutput:
        """A command from the keyboard (+/-), MQTT or a script. Stop and Pause act at once;
        speed/incline requests become the operator offset on top of the profile and pass the
        governor (a refusal comes back as ``rejection``); Start is refused (use :meth:`start`)."""
        command = request.command
        if isinstance(command, Stop):
            return self.stop(now, request.source, command.reason)
        if isinstance(command, Pause):
            return self.pause(now, request.source)
        if isinstance(command, Start):
            return SessionOutput(rejection="Start only through the session's start or resume")
        if self._state is not SessionState.RUNNING:
            decision = Decision(
                Verdict.REJECTED, request, None, f"the session is not running ({self._state})"
            )
            return self._output(decisions=(decision,), rejection=decision.reason)
        decision = self.governor.decide(request, now)
        speed, incline = self._desired(with_offset=False)
        if isinstance(decision.command, SetSpeed) and isinstance(command, SetSpeed | SpeedChange):
            self._speed_offset = decision.command.kmh - speed
        elif isinstance(decision.command, SetIncline) and isinstance(
            command, SetIncline | InclineChange
        ):
            self._incline_offset = decision.command.pct - incline
        rejection = decision.reason if decision.verdict is not Verdict.APPROVED else ""
        out = self._output(decisions=(decision,), rejection=rejection)
        self._sync(out.alarms)
        return out

    # ------------------------------------------------------------------ observed inputs

    def handle(self, event: Event, now: float) -> SessionOutput:
        """An observed event (telemetry, link, machine status, ranges): forwarded to the
        governor, then the session follows (alarm, console stop, progress)."""
        actions = self.governor.handle(event, now)
        out = self._output(actions)
        self._sync(out.alarms)
        if isinstance(event, DeviceRanges) and self._state is SessionState.RUNNING:
            coarse = self._coarse_steps_block()
            if coarse:  # learnt while running: halt now rather than stall at the next ramp
                paused = self.pause(now, Source.SERVICE)
                self._message = f"Paused: {coarse}."
                return self._merge(out, paused)
        out = self._merge(out, self._advance(now))
        self._note_belt(now)
        return out

    def tick(self, now: float) -> SessionOutput:
        """Timed work at ``now``: the governor's watchdogs, the countdown, the profile."""
        actions = self.governor.tick(now)
        out = self._output(actions)
        self._sync(out.alarms)
        if self._state is SessionState.COUNTDOWN and not out.commands:
            out = self._merge(out, self._countdown(now))
        out = self._merge(out, self._advance(now))
        self._note_belt(now)
        return out

    # ------------------------------------------------------------------ internals

    def _countdown(self, now: float) -> SessionOutput:
        ends = self.governor.status().countdown_ends
        if ends is None or now < ends - _EPS:
            return SessionOutput()
        stale = self.governor.start_stale(now)
        if stale and now < ends + self.governor.limits.setpoint_timeout_s - _EPS:
            # Treadmill Data jitters: hold the Start until fresh data shows the belt (bounded).
            self._message = f"Waiting for Treadmill Data before starting: {stale}."
            return SessionOutput()
        decision = self.governor.decide(Request(Start(), Source.PROFILE), now)
        if decision.command != Start():
            self._state = SessionState.PAUSED if self._started_once else SessionState.PREFLIGHT
            self._message = f"could not start: {decision.reason}"
            return self._output(decisions=(decision,))
        self._state = SessionState.RUNNING
        self._started_once = True
        self._turn_around = False
        self._last_update = now
        self._message = ""
        return self._output(decisions=(decision,))

    def _advance(self, now: float) -> SessionOutput:
        """Count segment time while on track, move through segments, request setpoints."""
        if self._state is not SessionState.RUNNING:
            self._last_update = now
            return SessionOutput()
        last = now if self._last_update is None else self._last_update
        self._last_update = now
        if self._on_track():
            self._seg_elapsed += max(0.0, now - last)
        while self._seg_elapsed >= self.segment.duration_s - _EPS:
            carry = max(0.0, self._seg_elapsed - self.segment.duration_s)
            self._done_s += self.segment.duration_s
            self._seg_elapsed = 0.0
            if self._index + 1 >= len(self.profile.segments):
                self._profile_done = True
                self._index = len(self.profile.segments)
                decision = self.governor.decide(
                    Request(Stop("profile complete"), Source.PROFILE), now
                )
                self._finish_with_stop(Outcome.COMPLETED)
                self._message = "Profile complete. Stopping the belt."
                return self._output(decisions=(decision,))
            previous = self.segment
            self._index += 1
            if self.segment.direction != previous.direction:
                decision = self.governor.decide(
                    Request(Stop("turn around between segments"), Source.PROFILE), now
                )
                self._state = SessionState.PAUSED
                self._turn_around = True
                self._message = self._prompt(now)
                return self._output(decisions=(decision,))
            self._seg_elapsed = carry
        return self._setpoints(now)

    def _setpoints(self, now: float) -> SessionOutput:
        gov = self.governor
        decisions: list[Decision] = []
        speed, incline = self._desired()
        target = gov.target_speed_kmh
        allowance = gov.speed_allowance_kmh(now)
        quantum = gov.limits.speed_increase_kmh
        constant = abs(self.segment.speed_to_kmh - self.segment.speed_from_kmh) < _EPS
        gap = speed - target
        wanted = target <= 0 or abs(gap) >= quantum - _EPS or (constant and abs(gap) > _EPS)
        if gov.state is not GovernorState.RUNNING:
            return SessionOutput()
        if wanted and abs(gap) > _SPEED_EXACT_KMH:
            # As the governor will send it (on the treadmill's grid), so that a setpoint off the
            # grid is not asked for again at every tick.
            ask = (
                gov.speed_on_grid(speed, ceiling=allowance)
                if gap > 0
                else gov.speed_on_grid(speed, ceiling=target)
            )
            if target <= 0 or abs(ask - target) > _SPEED_EXACT_KMH:
                decisions.append(gov.decide(Request(SetSpeed(ask), Source.PROFILE), now))
        if gov.state is GovernorState.RUNNING:  # a speed decision may have halted it
            current = gov.target_incline_pct
            base = current if current is not None else (gov.status().incline_pct or 0.0)
            inc_gap = incline - base
            inc_constant = abs(self.segment.incline_to_pct - self.segment.incline_from_pct) < _EPS
            inc_quantum = gov.limits.incline_change_pct
            if abs(inc_gap) > _INCLINE_EXACT_PCT and (
                abs(inc_gap) >= inc_quantum - _EPS or inc_constant
            ):
                low, high = gov.incline_allowance_pct(now)
                ask_pct = gov.incline_on_grid(min(max(incline, low), high))
                if abs(ask_pct - base) > _INCLINE_EXACT_PCT:
                    decisions.append(gov.decide(Request(SetIncline(ask_pct), Source.PROFILE), now))
        out = self._output(decisions=tuple(decisions))
        self._sync(out.alarms)
        return out

    def _desired(self, *, with_offset: bool = True) -> tuple[float, float]:
        """The profile's speed and incline at the current segment time, plus the operator
        offsets, clamped to the governor's caps."""
        seg = self.segment
        caps = self.governor.caps
        speed = seg.speed_at(self._seg_elapsed)
        incline = seg.incline_at(self._seg_elapsed)
        if not with_offset:
            return speed, incline
        speed = min(max(speed + self._speed_offset, caps.min_running_speed_kmh), caps.max_speed_kmh)
        incline = min(
            max(incline + self._incline_offset, caps.min_incline_pct), caps.max_incline_pct
        )
        return speed, incline

    def _on_track(self) -> bool:
        gov = self.governor
        if not gov.setpoint_confirmed:
            return False
        speed, incline = self._desired()
        reach = max(gov.limits.speed_increase_kmh, gov.caps.speed_step_kmh)
        if abs(speed - gov.target_speed_kmh) > reach + _EPS:
            return False
        current = gov.target_incline_pct
        base = current if current is not None else (gov.status().incline_pct or 0.0)
        return abs(incline - base) <= gov.limits.incline_change_pct + _EPS

    def speed_plan(self) -> SpeedPlan:
        """The profile's speeds as this treadmill will run them (on its steps, under the caps),
        beside the prescription, and why it cannot run here at all (``refusal``). Ask once the
        treadmill's ranges are known (:class:`DeviceRanges` handled), before the preflight."""
        gov = self.governor
        cap = gov.caps.max_speed_kmh
        coarse = self._coarse_steps_block()
        return speed_plan(
            self.profile.segments,
            lambda kmh: gov.speed_on_grid(min(kmh, cap)),
            gov.caps.speed_step_kmh,
            f"cannot start: {coarse}" if coarse else "",
        )

    def _coarse_steps_block(self) -> str:
        """Why the rest of the profile cannot run on this treadmill (``""`` when it can): its
        speed steps (0x2AD4 minimum increment) are larger than the speed increase limit, so no
        increase is ever allowed, and the profile still has one to make (it would stall)."""
        gov = self.governor
        step, limit = gov.caps.speed_step_kmh, gov.limits.speed_increase_kmh
        if step <= limit + _EPS:
            return ""
        cap = gov.caps.max_speed_kmh
        segments = self.profile.segments[self._index :]
        previous: Segment | None = None
        for seg in segments:
            low = gov.speed_on_grid(min(seg.speed_from_kmh, cap))
            high = gov.speed_on_grid(min(seg.speed_to_kmh, cap))
            rising = high > low + _EPS
            if previous is not None and previous.direction == seg.direction:
                rising = rising or low > gov.speed_on_grid(min(previous.speed_to_kmh, cap)) + _EPS
            if rising:
                return (
                    f"the treadmill changes speed in steps of {step:g} km/h, more than the speed "
                    f"increase limit {format_speed(limit, gov.units, 2)} per "
                    f"{gov.limits.speed_increase_window_s:g} s, and {seg.label} of this profile "
                    "speeds up; it would stall there. On this treadmill run a profile at one "
                    f"speed: the shipped '{CONSTANT_SPEED_PROFILE}' (--profile "
                    f"{CONSTANT_SPEED_PROFILE}). If the treadmill really moves in finer steps than "
                    "it reports (the Urevo E1L reports 0.32 km/h and moves in 0.16), the clinic "
                    f'config can say so: {STEP_QUIRK} = 0.16 in its [quirks."<advertised name>"] '
                    "table"
                )
            previous = seg
        return ""

    def _note_belt(self, now: float) -> None:
        """The STEP ON fact: running, a speed commanded since the (re)start, and the governor's
        setpoint confirmation (telemetry within tolerance of it) holding."""
        gov = self.governor
        if (
            self._belt_confirmed_at is None
            and self._state is SessionState.RUNNING
            and gov.target_speed_kmh > 0
            and gov.setpoint_confirmed
        ):
            self._belt_confirmed_at = now

    def _straddle(self) -> bool:
        if self._profile_done:
            return False
        if self._state is SessionState.COUNTDOWN:
            return True
        return self._state is SessionState.RUNNING and self._belt_confirmed_at is None

    def _step_on(self, now: float) -> bool:
        at = self._belt_confirmed_at
        return (
            self._state is SessionState.RUNNING
            and at is not None
            and now - at < coaching.STEP_ON_SHOW_S
        )

    def _start_speed_kmh(self) -> float:
        """The first speed after the countdown: the segment's, at most the start speed limit,
        on the treadmill's grid (as :meth:`_setpoints` will ask for it)."""
        gov = self.governor
        speed, _ = self._desired()
        return gov.speed_on_grid(min(speed, gov.caps.max_start_speed_kmh))

    def _cue(self, now: float) -> str:
        if (
            self._state is not SessionState.RUNNING
            or self._profile_done
            or self.segment.direction != "backward"
            or self._straddle()
            or self._step_on(now)
        ):
            return ""
        return coaching.cue_at(self.profile.cues or coaching.DEFAULT_BACKWARD_CUES, now)

    def _prompt(self, now: float) -> str:
        if self._profile_done:
            return "Session complete."
        seg = self.segment
        units = self.governor.units
        if self._turn_around and self._state is not SessionState.COUNTDOWN:
            return f"{coaching.turn_around_prompt(seg.direction)} {seg.prompt}".strip()
        if self._state in (SessionState.PREFLIGHT, SessionState.COUNTDOWN):
            return coaching.straddle_prompt(seg.direction, self._start_speed_kmh(), units)
        if self._state is SessionState.RUNNING:
            if self._belt_confirmed_at is None:
                return coaching.waiting_prompt(self._start_speed_kmh(), units)
            if self._step_on(now):
                return coaching.step_on_prompt(seg.direction, self.governor.target_speed_kmh, units)
        if self._state is SessionState.PAUSED:
            return coaching.paused_prompt(seg.direction)
        return seg.prompt

    def _finish_with_stop(self, outcome: Outcome | None) -> None:
        self._state = SessionState.STOPPING
        if self._outcome is None:
            self._outcome = outcome or Outcome.STOPPED

    def _check_stopped(self) -> None:
        if self._state is SessionState.STOPPING and self.governor.standstill:
            self._state = SessionState.FINISHED
            self._message = {
                Outcome.COMPLETED: "Session complete. The belt is stopped.",
                Outcome.STOPPED: "Session stopped. The belt is stopped.",
                Outcome.ALARM: "Session ended after an alarm. The belt is stopped.",
                None: "The belt is stopped.",
            }[self._outcome]

    def _sync(self, alarms: tuple[Alarm, ...]) -> None:
        """Follow the governor: alarms -> ``alarm``; a halt we did not ask for (console stop,
        speed 0) -> ``paused``; a confirmed standstill ends ``stopping``. A warning (heart rate
        lost) changes no state; the heart-rate-lost Stop ends the session."""
        warnings = [a for a in alarms if a.warning]
        alarms = tuple(a for a in alarms if not a.warning)
        if warnings and not alarms:
            self._message = warnings[-1].message
        if alarms:
            self._state = SessionState.ALARM
            self._message = alarms[-1].message
            if any(a.kind is AlarmKind.HEART_RATE_LOST for a in alarms) and self._outcome is None:
                self._outcome = Outcome.ALARM  # session over: nothing resumes it
            return
        halted = self.governor.state is GovernorState.HALTED
        if self._state in (SessionState.RUNNING, SessionState.COUNTDOWN) and halted:
            if self._started_once:
                self._state = SessionState.PAUSED
                reason = self.governor.status().halt_reason
                self._message = f"Halted: {reason}. Resume when ready."
            else:
                self._state = SessionState.PREFLIGHT
        self._check_stopped()

    def _output(
        self,
        actions: Actions | None = None,
        *,
        decisions: tuple[Decision, ...] = (),
        rejection: str = "",
    ) -> SessionOutput:
        commands: list[Command] = list(actions.commands) if actions else []
        for d in decisions:
            commands.extend(d.commands)
        merged = Actions(tuple(commands), actions.alarms if actions else ()) + Actions()
        return SessionOutput(merged.commands, merged.alarms, decisions, rejection)

    @staticmethod
    def _merge(a: SessionOutput, b: SessionOutput) -> SessionOutput:
        merged = Actions(a.commands, a.alarms) + Actions(b.commands, b.alarms)
        return SessionOutput(
            merged.commands, merged.alarms, a.decisions + b.decisions, a.rejection or b.rejection
        )


__all__ = ["Outcome", "SessionEngine", "SessionOutput", "SessionState", "SessionStatus"]
