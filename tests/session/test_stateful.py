"""Acceptance (issue 5): a hypothesis state machine drives the session engine and its governor with
random sequences of profile steps, keyboard/MQTT commands, operator actions, telemetry (following
the belt, overspeed, unit mismatch, silence), link drops, machine status (0x02, 0x03, 0x04, 0x05,
0xFF) and clock advances, and checks the safety invariants on every command after every step:

- every Set Target Speed is > 0, at least the minimum running speed and at most every cap
  (safety cap, profile cap, device maximum), computed here independently of the governor, also
  as the treadmill runs it (the 0.01 km/h wire value rounded to its increment, which changes
  mid-run);
- speed increases stay within 0.1 mph per 5 s (the first speed after a Start at most 1.0 mph);
  inclines stay within the caps and change at most 0.5 % per 5 s;
- after any stop (Stop, Pause, alarm, console stop, safety key, control lost, link loss) no Start
  and no speed is sent until an operator action (start/resume) succeeded, and a Start only after
  the 5 s countdown that action began;
- a stop request, in every state, returns a Stop as the one command of that very call;
- heart rate (issue 10; a strap that measures, falls silent, loses contact, sends 0 bpm, sends
  brief zero bursts, disconnects and comes back): two measurements above the cap in a row stop a
  moving belt in that very call; while the heart rate is lost (no measurement for 5 s, or the
  strap gone), at or above the hold, or after the slow-down until an operator confirms, no speed
  or incline increase is sent; a loss not healed ends the run with a Stop by 60 s; no Start
  without a live heart rate below the hold.

The oracle below tracks its own view from the commands actually emitted; it never asks the
governor whether something was allowed.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocols.ftms import SetTargetSpeed
from retro_treadmill.safety.commands import (
    AlarmKind,
    Command,
    ConsoleStarted,
    ConsoleStopped,
    ControlLost,
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
    SetSpeed,
    Source,
    SpeedChange,
    Start,
    Stop,
    TargetSpeedChanged,
    Telemetry,
    UnknownStatus,
)
from retro_treadmill.safety.governor import GovernorState
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.session.engine import SessionEngine, SessionOutput
from retro_treadmill.session.profile import Profile, ProfileLimits
from retro_treadmill.units import KMH_PER_MPH, mph_to_kmh

from .belt import Belt, segment

LIMITS = SafetyLimits(max_heart_rate_bpm=150.0, hr_hold_above_bpm=135.0)
EPS = 1e-6
ONE = mph_to_kmh(1.0)
CAP = mph_to_kmh(1.5)

PROFILE_SEGMENTS = (
    segment("ramp", (ONE, CAP), 15.0, direction="backward", incline=(0.0, 3.0)),
    segment("hold", (CAP, CAP), 10.0, direction="backward", incline=(3.0, 3.0)),
    segment("interval", (CAP, 0.9), 6.0, direction="backward", incline=(3.0, 1.0)),
    segment("hold", (1.2, 1.2), 6.0, direction="forward"),
    segment("cool-down", (1.2, 0.8), 5.0, direction="forward"),
)

speeds = st.one_of(
    st.floats(min_value=-3.0, max_value=8.0, allow_nan=False),
    st.sampled_from([0.0, ONE, CAP, CAP + 0.2, 2.0 * CAP, -0.0, math.nan, math.inf]),
)
inclines = st.one_of(
    st.floats(min_value=-5.0, max_value=15.0, allow_nan=False),
    st.sampled_from([0.0, 0.5, 5.0, 5.5, math.nan]),
)
sources = st.sampled_from([Source.KEYBOARD, Source.MQTT, Source.PROFILE, Source.SERVICE])
requests = st.one_of(
    st.builds(SetSpeed, speeds),
    st.builds(SpeedChange, st.floats(min_value=-2.0, max_value=2.0)),
    st.builds(SetIncline, inclines),
    st.builds(InclineChange, st.floats(min_value=-3.0, max_value=3.0)),
    st.just(Start()),
    st.just(Pause("random pause")),
)
statuses = st.sampled_from(
    [
        SafetyKeyStop(),
        ControlLost(),
        ConsoleStopped(paused=False),
        ConsoleStopped(paused=True),
        ConsoleStarted(),
        TargetSpeedChanged(ONE),
        TargetSpeedChanged(2 * CAP),
        MachineReset(),
        UnknownStatus(0x42),
    ]
)


class SessionMachine(RuleBasedStateMachine):
    """Random use and abuse of one session; the oracle checks every emitted command."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.belt = Belt()
        self.link_up = True
        self.engine: SessionEngine | None = None
        self.ranges = DeviceRanges()
        self.speed_cap = CAP
        self.min_running = mph_to_kmh(0.5)
        self.incline_range = (0.0, 5.0)
        self.increment: float | None = 0.1
        self.profile_cap: float | None = None
        # oracle
        self.permitted = False
        """An operator action succeeded and no stop happened since."""
        self.permit_time = 0.0
        self.started = False
        """A Start was emitted since the last permit."""
        self.run_speeds: list[tuple[float, float]] = []
        self.run_inclines: list[tuple[float, float]] = []
        self.steps = 0
        self.over_count = 0
        self.last_telemetry = 0.0
        self.start_time = 0.0
        self.speeds_sent = 0
        self.starts = 0
        self.alarm_kinds: set[str] = set()
        self.states: set[str] = set()
        # the strap and the oracle's view of the heart rate
        self.strap_mode = "ok"
        """ok | silent | no-contact | zero | gone"""
        self.bpm = 90.0
        self.zero_burst = 0
        """Samples of 0 bpm still to come (a strap regaining contact)."""
        self.hr_last: float | None = None
        """When the last measurement (contact, above 0 bpm) was sent."""
        self.hr_last_bpm = 0.0
        self.hr_gone_at: float | None = None
        """The strap disconnected at this time and has sent no measurement since."""
        self.hr_high = 0
        self.slowed = False
        """A loss lasted 30 s while running: no increase until an operator action."""
        self.last_incline = 0.0
        self.hr_kinds: set[str] = set()

    # ------------------------------------------------------------------ set-up

    @initialize(
        device_max=st.sampled_from([None, 2.0, 6.0]),
        device_min=st.sampled_from([None, 0.5, 1.0]),
        device_incline=st.sampled_from([None, 0.0, 2.0, 15.0]),
        profile_cap=st.sampled_from([None, 2.2]),
        mph_confused=st.sampled_from([False, False, False, True]),
        autostart=st.sampled_from([True, True, True, False]),
    )
    def setup(
        self,
        device_max: float | None,
        device_min: float | None,
        device_incline: float | None,
        profile_cap: float | None,
        mph_confused: bool,
        autostart: bool,
    ) -> None:
        ranges = DeviceRanges(
            min_speed_kmh=device_min,
            max_speed_kmh=device_max,
            speed_increment_kmh=0.1,
            min_incline_pct=0.0 if device_incline is not None else None,
            max_incline_pct=device_incline,
        )
        profile = Profile(
            name="stateful",
            description="",
            audience="tests",
            units="mph",
            segments=PROFILE_SEGMENTS,
            limits=ProfileLimits(max_speed_kmh=profile_cap),
        )
        self.ranges = ranges
        self.profile_cap = profile_cap
        self.engine = SessionEngine(profile, limits=LIMITS, device=ranges)
        self.speed_cap = min(
            c for c in (LIMITS.max_speed_kmh, profile_cap, device_max) if c is not None
        )
        self.min_running = max(LIMITS.min_running_speed_kmh, device_min or 0.0)
        high = min(c for c in (LIMITS.max_incline_pct, device_incline) if c is not None)
        self.incline_range = (0.0, high)
        self.belt.factor = KMH_PER_MPH if mph_confused else 1.0
        self._apply(self.engine.handle(LinkUp(), self.now))
        self._apply(self.engine.handle(Telemetry(0.0, 0.0), self.now))
        self._beat()
        self._apply(self.engine.prepare(self.now))
        if autostart:  # most examples begin walking, so that faults hit a moving belt
            out = self.engine.start(self.now)
            if not out.rejection:
                self.permitted = True
                self.permit_time = self.now
            self._apply(out)
            self._run(6.0, telemetry=True)

    # ------------------------------------------------------------------ the oracle

    def _apply(self, out: SessionOutput) -> SessionOutput:
        """Check every command of one output against the invariants, then let the belt act."""
        for command in out.commands:
            self._check(command)
        if any(not a.warning for a in out.alarms):  # a warning (heart rate lost) does not halt
            self.permitted = False
        self.alarm_kinds.update(
            a.kind.value + (" warning" if a.warning else "") for a in out.alarms
        )
        if self.link_up:
            self.belt.apply(self.now, out.commands)
        return out

    def _check(self, command: Command) -> None:
        now = self.now
        previous = self.run_speeds[-1][1] if self.run_speeds else math.inf
        lost = self._hr_lost_since() is not None
        if lost and isinstance(command, SetSpeed) and command.kmh < previous - EPS:
            self.hr_kinds.add("slowed while lost")
        if isinstance(command, Stop | Pause):
            self.permitted = False
            self.started = False
        elif isinstance(command, Start):
            assert self.permitted, "Start without an operator action since the last stop"
            assert not self._hr_lost(), "Start without a live heart rate"
            assert self.hr_last_bpm < LIMITS.hr_hold_above_bpm, "Start at or above the hold"
            assert now >= self.permit_time + LIMITS.countdown_s - EPS, "Start before countdown"
            assert not self.started, "a second Start in one run"
            self.started = True
            self.start_time = now
            self.starts += 1
            self.run_speeds = []
            self.run_inclines = []
        elif isinstance(command, SetSpeed):
            v = command.kmh
            assert self.permitted, f"speed {v} without an operator action since the last stop"
            assert self.started, f"speed {v} before Start"
            assert math.isfinite(v)
            assert v > 0, f"non-positive speed {v}"
            assert v <= self.speed_cap + EPS, f"speed {v} above the cap {self.speed_cap}"
            # ... and so is what the treadmill runs: the wire's 0.01 km/h, then its increment
            runs = int.from_bytes(SetTargetSpeed(v).build()[1:3], "little") / 100
            if self.increment:
                runs = round(round(runs / self.increment) * self.increment, 2)
            assert runs <= self.speed_cap + EPS, f"the treadmill runs {runs} > {self.speed_cap}"
            assert v >= self.min_running - EPS, f"speed {v} below the minimum {self.min_running}"
            if self.run_speeds and v > self.run_speeds[-1][1] + EPS:
                assert not self._hr_lost(), f"speed increase to {v} with the heart rate lost"
                assert not self.slowed, f"speed increase to {v} after the slow-down"
                assert not self._hr_holding(), f"speed increase to {v} at the hold"
            if not self.run_speeds:
                assert v <= LIMITS.max_start_speed_kmh + EPS, f"start speed {v}"
            for t, earlier in self.run_speeds:
                if now - t < LIMITS.speed_increase_window_s - EPS:
                    assert v - earlier <= LIMITS.speed_increase_kmh + EPS, (
                        f"increase {earlier} -> {v} in {now - t:.2f} s"
                    )
            self.run_speeds.append((now, v))
            self.speeds_sent += 1
        elif isinstance(command, SetIncline):
            p = command.pct
            assert self.permitted
            assert self.started
            assert math.isfinite(p)
            low, high = self.incline_range
            assert low - EPS <= p <= high + EPS, f"incline {p} outside {self.incline_range}"
            if p > self.last_incline + EPS:
                assert not self._hr_lost(), f"incline increase to {p} with the heart rate lost"
                assert not self.slowed, f"incline increase to {p} after the slow-down"
                assert not self._hr_holding(), f"incline increase to {p} at the hold"
            self.last_incline = p
            for t, earlier in self.run_inclines:
                if now - t < LIMITS.incline_change_window_s - EPS:
                    assert abs(p - earlier) <= LIMITS.incline_change_pct + EPS
            self.run_inclines.append((now, p))

    def _event(self, event: Event) -> SessionOutput:
        assert self.engine is not None
        if isinstance(
            event,
            LinkLost | SafetyKeyStop | ControlLost | ConsoleStopped | MachineReset | UnknownStatus,
        ):
            self.permitted = False  # the governor must halt: nothing moving may follow
            self.started = False
        out = self._apply(self.engine.handle(event, self.now))
        must_stop = isinstance(event, SafetyKeyStop | ControlLost) or (
            isinstance(event, TargetSpeedChanged)
            and event.kmh > self.speed_cap + LIMITS.overspeed_margin_kmh + 1e-3
        )
        if must_stop:
            assert any(isinstance(c, Stop) for c in out.commands), f"no Stop on {event}"
        if isinstance(event, LinkLost) and self.link_up:
            active = {a.kind for a in out.alarms} | {a.kind for a in self.engine.governor.alarms}
            assert AlarmKind.LINK_LOSS in active, "no alarm on link loss"
        return out

    def _telemetry(self, speed: float) -> None:
        if not self.link_up:
            return
        self.last_telemetry = self.now
        threshold = self.speed_cap + LIMITS.overspeed_margin_kmh
        self.over_count = self.over_count + 1 if speed > threshold + 1e-3 else 0
        out = self._event(Telemetry(speed, self.belt.incline))
        if self.over_count >= LIMITS.overspeed_samples:
            assert any(isinstance(c, Stop) for c in out.commands), "overspeed without Stop"

    # ------------------------------------------------------------------ rules: time and belt

    def _run(self, seconds: float, telemetry: bool) -> None:
        """Walk the clock in 0.5 s slices so telemetry and ticks interleave like the service's."""
        assert self.engine is not None
        remaining = seconds
        while remaining > EPS:
            step = min(0.5, remaining)
            remaining -= step
            self.now += step
            self.belt.step(step)
            if telemetry:
                self._telemetry(self.belt.speed)
            self._beat()
            self._apply(self.engine.tick(self.now))
            self._check_heart_rate_deadlines()

    # ------------------------------------------------------------------ heart rate

    def _hr_lost(self) -> bool:
        """The oracle's view: no live heart rate (none yet, the strap gone since its last
        measurement, or none for more than 5 s)."""
        if self.hr_last is None or self.hr_gone_at is not None:
            return True
        return self.now - self.hr_last > LIMITS.hr_lost_after_s + EPS

    def _hr_lost_since(self) -> float | None:
        if self.hr_last is None:
            return None
        silent = self.hr_last + LIMITS.hr_lost_after_s
        if self.hr_gone_at is not None:
            return min(self.hr_gone_at, silent)
        return silent if self.now >= silent - EPS else None

    def _hr_holding(self) -> bool:
        return not self._hr_lost() and self.hr_last_bpm >= LIMITS.hr_hold_above_bpm - EPS

    def _heart_rate(self, bpm: float, contact: bool | None) -> None:
        """One sample from the strap; the cap's two-in-a-row rule checked on the spot."""
        valid = bpm > 0 and contact is not False
        if valid:
            self.hr_last = self.now
            self.hr_last_bpm = bpm
            self.hr_gone_at = None
            self.hr_high = self.hr_high + 1 if bpm > LIMITS.max_heart_rate_bpm else 0
        moving = self.started
        out = self._event(HeartRate(bpm, contact, "strap"))
        if valid and self.hr_high >= LIMITS.heart_rate_samples and moving:
            assert any(isinstance(c, Stop) for c in out.commands), f"{bpm} bpm twice: no Stop"
            self.hr_kinds.add("cap stop")

    def _beat(self) -> None:
        """What the strap sends now (if anything)."""
        if self.strap_mode == "ok":
            if self.zero_burst:
                self.zero_burst -= 1
                self._heart_rate(0.0, True)
            else:
                self._heart_rate(self.bpm, True)
        elif self.strap_mode == "no-contact":
            self._heart_rate(0.0, False)
        elif self.strap_mode == "zero":
            self._heart_rate(0.0, True)

    def _check_heart_rate_deadlines(self) -> None:
        lost = self._hr_lost_since()
        if lost is None or not self.started:
            return
        # ticks come every 0.5 s here; the oracle's loss time may lead the governor's by a tick
        if self.now >= lost + LIMITS.hr_slow_after_s + 1.0:
            self.slowed = True
        assert self.now < lost + LIMITS.hr_stop_after_s + 1.0, (
            f"still running {self.now - lost:.1f} s after the heart rate was lost"
        )

    @rule(
        mode=st.sampled_from(["silent", "no-contact", "zero", "gone"]),
        seconds=st.sampled_from([20, 35, 65]),
        back=st.booleans(),
    )
    def strap_lost_while_walking(self, mode: str, seconds: int, back: bool) -> None:
        """The heart rate is lost for a while as the belt runs (long enough for the slow-down
        and the Stop), then possibly comes back."""
        self.strap(mode, self.bpm)
        self._run(float(seconds), telemetry=True)
        if back:
            self.strap("ok", 90.0)
            self._run(2.0, telemetry=True)
            self._press_up()

    @rule(bpm=st.sampled_from([134.0, 135.0, 140.0]), seconds=st.sampled_from([2, 6, 12]))
    def heart_rate_near_the_hold(self, bpm: float, seconds: int) -> None:
        """The heart rate climbs to about the hold while walking; the operator presses up."""
        self.strap("ok", bpm)
        self._run(float(seconds), telemetry=True)
        self._press_up()

    def _press_up(self) -> None:
        assert self.engine is not None
        for command in (SpeedChange(mph_to_kmh(0.1)), InclineChange(0.5)):
            self._apply(self.engine.request(Request(command, Source.KEYBOARD), self.now))

    @rule(
        mode=st.sampled_from(["ok", "ok", "silent", "no-contact", "zero", "zero-burst", "gone"]),
        bpm=st.sampled_from([70.0, 90.0, 90.0, 120.0, 134.0, 135.0, 140.0, 151.0, 180.0]),
    )
    def strap(self, mode: str, bpm: float) -> None:
        """The strap changes: another heart rate, silence, contact lost, 0 bpm, a burst of
        zeros after contact comes back, a disconnect; "ok" is it back."""
        assert self.engine is not None
        self.hr_kinds.add(mode)
        if mode == "gone":
            if self.strap_mode != "gone":
                self.strap_mode = "gone"
                if self.hr_gone_at is None:
                    self.hr_gone_at = self.now
                self._event(HeartRateDisconnected("strap"))
            return
        if mode == "zero-burst":
            self.strap_mode, self.zero_burst = "ok", 3
            return
        self.strap_mode = mode
        self.bpm = bpm

    @rule(
        dt=st.sampled_from([0.05, 0.1, 0.5, 1.0, 2.0, 3.5, 6.0]),
        telemetry=st.sampled_from([True] * 7 + [False]),
    )
    def advance(self, dt: float, telemetry: bool) -> None:
        self._run(dt, telemetry)

    @rule(seconds=st.integers(min_value=5, max_value=30))
    def walk(self, seconds: int) -> None:
        """A stretch of normal walking: the belt reports every 0.5 s."""
        self._run(float(seconds), telemetry=True)

    @rule(
        kind=st.sampled_from(
            [
                "overspeed",
                "unit-fast",
                "unit-slow",
                "zero",
                "noise",
                "console-speed-up",
                "link-drop",
                "status",
                "heart-rate",
                "service-fault",
            ]
        ),
        value=st.floats(min_value=0.0, max_value=10.0),
        status=statuses,
    )
    def fault(self, kind: str, value: float, status: Event) -> None:
        if kind == "heart-rate":
            self._heart_rate(120.0 + 10 * value, None)
        elif kind == "service-fault":
            assert self.engine is not None
            out = self.engine.fault(AlarmKind.INTERNAL_ERROR, "an exception in the UI", self.now)
            assert out.commands, "no Stop on a fault"
            assert isinstance(out.commands[0], Stop)
            self.permitted = False
            self.started = False
            self._apply(out)
        elif kind == "link-drop":
            self._event(LinkLost())
            self.link_up = False
        elif kind == "status":
            self._status(status)
        elif kind == "console-speed-up":
            if self.belt.running:
                self.belt.speed = self.belt.target = self.speed_cap + 0.5 + value / 4
        else:
            speed = {
                "overspeed": self.speed_cap + mph_to_kmh(0.2) + 0.05 + value,
                "unit-fast": self.belt.speed * KMH_PER_MPH,
                "unit-slow": self.belt.speed / KMH_PER_MPH,
                "zero": 0.0,
                "noise": value,
            }[kind]
            self._telemetry(speed)

    @rule(
        increment=st.sampled_from([None, 0.1, 0.32, 0.5]),
        device_max=st.sampled_from([None, 2.0, 6.0]),
    )
    def device_ranges(self, increment: float | None, device_max: float | None) -> None:
        """The supported ranges arrive (again) with another increment or maximum, mid-run."""
        ranges = DeviceRanges(
            min_speed_kmh=self.ranges.min_speed_kmh,
            max_speed_kmh=device_max,
            speed_increment_kmh=increment,
            min_incline_pct=self.ranges.min_incline_pct,
            max_incline_pct=self.ranges.max_incline_pct,
        )
        self.ranges, self.increment = ranges, increment
        self.speed_cap = min(
            c for c in (LIMITS.max_speed_kmh, self.profile_cap, device_max) if c is not None
        )
        self._event(ranges)

    # ------------------------------------------------------------------ rules: link and status

    @precondition(lambda self: not self.link_up)
    @rule(belt_stops=st.booleans())
    def link_back(self, belt_stops: bool) -> None:
        if belt_stops:
            self.belt.running = False
            self.belt.target = 0.0
        self.link_up = True
        out = self._event(LinkUp())
        assert out.commands, "no Stop after a reconnect"
        assert isinstance(out.commands[0], Stop), "the first command after a reconnect"

    def _status(self, status: Event) -> None:
        if not self.link_up:
            return
        if isinstance(status, SafetyKeyStop | ConsoleStopped):
            self.belt.running = False
            self.belt.target = 0.0
        if isinstance(status, ConsoleStarted):
            self.belt.running = True
            self.belt.target = self.belt.default_kmh
        self._event(status)

    # ------------------------------------------------------------------ rules: requests

    @rule(command=requests, source=sources)
    def operator_or_remote_request(self, command: SetSpeed, source: Source) -> None:
        assert self.engine is not None
        self._apply(self.engine.request(Request(command, source), self.now))

    @rule(command=requests)
    def raw_profile_step(self, command: SetSpeed) -> None:
        """A profile step straight to the governor (a buggy caller bypassing the engine)."""
        assert self.engine is not None
        decision = self.engine.governor.decide(Request(command, Source.PROFILE), self.now)
        self._apply(SessionOutput(commands=decision.commands))

    @rule(source=sources, via=st.sampled_from(["stop", "request", "governor", "governor"]))
    def stop(self, source: Source, via: str) -> None:
        assert self.engine is not None
        if via == "stop":
            out = self.engine.stop(self.now, source)
        elif via == "request":
            out = self.engine.request(Request(Stop("stop request"), source), self.now)
        else:
            decision = self.engine.governor.decide(Request(Stop("direct"), source), self.now)
            out = SessionOutput(commands=decision.commands)
        assert len(out.commands) == 1, out.commands
        assert isinstance(out.commands[0], Stop)
        self._apply(out)

    # ------------------------------------------------------------------ rules: operator

    @rule(action=st.sampled_from(["start", "resume", "acknowledge", "pause"]))
    def operator(self, action: str) -> None:
        assert self.engine is not None
        engine = self.engine
        running = engine.state.value == "running"
        if action == "start":
            out = engine.start(self.now)
        elif action == "resume":
            out = engine.resume(self.now)
        elif action == "acknowledge":
            out = engine.acknowledge(self.now)
        else:
            out = engine.pause(self.now, Source.KEYBOARD)
        if action == "resume" and running and not out.rejection:
            assert self.slowed or self._hr_lost_since() is not None, "resume while running"
            assert not self._hr_lost(), "a slowed ramp continued without a live heart rate"
            self.slowed = False  # the operator's go-ahead after the heart rate came back
        elif action in ("start", "resume") and not out.rejection:
            self.permitted = True
            self.permit_time = self.now
            self.started = False
            self.slowed = False
        self._apply(out)

    @precondition(
        lambda self: (
            self.link_up and self.engine is not None and self.engine.state.value == "finished"
        )
    )
    @rule()
    def new_session(self) -> None:
        """The session is over; the service starts a fresh one on the same treadmill."""
        assert self.engine is not None
        old = self.engine
        self.engine = SessionEngine(old.profile, limits=LIMITS, device=self.ranges)
        self.permitted = False
        self.started = False
        self.over_count = 0  # a new governor counts overspeed samples afresh
        self.hr_high = 0
        self.hr_last = None  # ... and has seen no heart rate yet
        self.hr_gone_at = None
        self.slowed = False
        self._event(LinkUp())

    @rule()
    def recover(self) -> None:
        """The operator deals with whatever happened: acknowledge, then start or resume."""
        assert self.engine is not None
        self._apply(self.engine.acknowledge(self.now))
        running = self.engine.state.value == "running"
        action = self.engine.start if self.engine.state.value == "preflight" else self.engine.resume
        out = action(self.now)
        if running and not out.rejection:  # going on after a slow-down for a lost heart rate
            assert not self._hr_lost(), "a slowed ramp continued without a live heart rate"
            self.slowed = False
        elif not out.rejection:
            self.permitted = True
            self.permit_time = self.now
            self.started = False
            self.slowed = False
        self._apply(out)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def status_is_sane(self) -> None:
        if self.engine is None:
            return
        governor = self.engine.governor
        if governor.state is GovernorState.RUNNING:
            silent = self.now - max(self.last_telemetry, self.start_time)
            assert silent < LIMITS.telemetry_timeout_s + 0.5, f"running after {silent} s silence"
        self.steps += 1
        status = self.engine.status(self.now)
        self.states.add(status.state.value)
        assert 0.0 <= status.progress <= 1.0
        assert status.target_speed_kmh >= 0.0
        assert status.target_speed_kmh <= self.speed_cap + EPS

    def teardown(self) -> None:
        event(f"starts: {min(self.starts, 3)}{'+' if self.starts >= 3 else ''}")
        sent = self.speeds_sent
        event(f"speeds sent: {'0' if not sent else '1-9' if sent < 10 else '10+'}")
        for kind in sorted(self.alarm_kinds):
            event(f"alarm {kind}")
        for state in sorted(self.states):
            event(f"state {state}")
        for kind in sorted(self.hr_kinds):
            event(f"heart rate {kind}")


TestSessionStateMachine = SessionMachine.TestCase
TestSessionStateMachine.settings = settings(
    max_examples=300,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
