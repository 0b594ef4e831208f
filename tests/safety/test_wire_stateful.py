"""A hypothesis state machine that drives the governor alone and judges it at the WIRE: every
Set Target Speed is encoded as the bytes the FTMS client writes (``SetTargetSpeed.build()``,
0.01 km/h) and then rounded to the treadmill's increment the way treadmills do (nearest step).
Caps (clinic, profile in mph, device range, which changes mid-run) and the increase rate limit
must hold for what the treadmill RUNS; Stop is immediate; nothing moves without an operator arm.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from protocols.ftms import SetTargetSpeed
from retro_treadmill.safety.commands import (
    Command,
    ConsoleStarted,
    ConsoleStopped,
    ControlLost,
    DeviceRanges,
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
    Telemetry,
    UnknownStatus,
)
from retro_treadmill.safety.governor import SafetyGovernor
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import mph_to_kmh

EPS = 1e-9
LIMITS = SafetyLimits()
increments = st.sampled_from([None, 0.01, 0.1, 0.16, 0.32, 0.5])
device_max = st.sampled_from([None, 1.8, 2.0, 2.4, 2.42, 6.0])


def wire(kmh: float) -> float:
    raw = SetTargetSpeed(kmh).build()
    return int.from_bytes(raw[1:3], "little") / 100


def run_at(kmh: float, increment: float | None) -> float:
    """What a treadmill with ``increment`` runs for a Set Target Speed of ``kmh``."""
    value = wire(kmh)
    if increment:
        value = round(round(value / increment) * increment, 2)
    return value


class WireMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.gov = SafetyGovernor()
        self.increment: float | None = None
        self.dev_max: float | None = None
        self.profile_cap: float | None = None
        self.belt = 0.0
        self.link = True
        self.permitted = False
        self.permit_at = 0.0
        self.started = False
        self.first_speed = True
        self.runs: list[tuple[float, float]] = []

    @initialize(
        profile_mph=st.sampled_from([None, 0.9, 1.05, 1.2, 1.25, 1.3, 1.45]),
        increment=increments,
        dmax=device_max,
    )
    def setup(self, profile_mph: float | None, increment: float | None, dmax: float | None) -> None:
        self.profile_cap = None if profile_mph is None else mph_to_kmh(profile_mph)
        self.increment, self.dev_max = increment, dmax
        ranges = DeviceRanges(min_speed_kmh=0.5, max_speed_kmh=dmax, speed_increment_kmh=increment)
        self.gov = SafetyGovernor(LIMITS, profile_max_speed_kmh=self.profile_cap, device=ranges)
        self.apply(self.gov.handle(LinkUp(), self.now).commands)
        self.telemetry()

    # ------------------------------------------------------------------ oracle

    def cap(self) -> float:
        caps = [LIMITS.max_speed_kmh, self.profile_cap, self.dev_max]
        return min(c for c in caps if c is not None)

    def apply(self, commands: tuple[Command, ...]) -> None:
        for command in commands:
            if isinstance(command, Stop | Pause):
                self.permitted = self.started = False
                self.belt = 0.0
            elif isinstance(command, Start):
                assert self.permitted, "Start without an operator arm"
                assert self.now >= self.permit_at + LIMITS.countdown_s - EPS
                self.started, self.first_speed, self.runs = True, True, []
            elif isinstance(command, SetSpeed):
                assert self.permitted, "speed without an operator arm"
                assert self.started, "speed before Start"
                runs = run_at(command.kmh, self.increment)
                assert wire(command.kmh) <= self.cap() + EPS, (command, self.cap())
                assert runs <= self.cap() + EPS, f"the treadmill runs {runs} > cap {self.cap()}"
                if self.first_speed:
                    assert runs <= LIMITS.max_start_speed_kmh + EPS, f"start at {runs}"
                for t, earlier in self.runs:
                    if self.now - t < LIMITS.speed_increase_window_s - EPS:
                        assert runs - earlier <= LIMITS.speed_increase_kmh + EPS, (
                            f"{earlier} -> {runs} in {self.now - t:.2f} s"
                        )
                self.first_speed = False
                self.runs.append((self.now, runs))
                self.belt = runs

    def telemetry(self) -> None:
        if self.link:
            self.apply(self.gov.handle(Telemetry(self.belt, 0.0), self.now).commands)

    # ------------------------------------------------------------------ rules

    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 2.5, 5.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        self.telemetry()
        self.apply(self.gov.tick(self.now).commands)

    @rule()
    def arm_and_start(self) -> None:
        if self.gov.arm(self.now).armed:
            self.permitted, self.permit_at, self.started = True, self.now, False
            self.now += LIMITS.countdown_s
            self.telemetry()
            self.apply(self.gov.decide(Request(Start(), Source.PROFILE), self.now).commands)

    @rule(
        request=st.one_of(
            st.builds(SetSpeed, st.floats(-1.0, 4.0) | st.sampled_from([math.nan, math.inf])),
            st.builds(SpeedChange, st.floats(-1.0, 1.0)),
            st.builds(SetIncline, st.floats(-3.0, 8.0)),
        ),
        source=st.sampled_from(list(Source)),
    )
    def request(self, request: SetSpeed, source: Source) -> None:
        self.apply(self.gov.decide(Request(request, source), self.now).commands)

    @rule(increment=increments, dmax=device_max)
    def device_ranges(self, increment: float | None, dmax: float | None) -> None:
        self.increment, self.dev_max = increment, dmax
        ranges = DeviceRanges(min_speed_kmh=0.5, max_speed_kmh=dmax, speed_increment_kmh=increment)
        commands = self.gov.handle(ranges, self.now).commands
        # the treadmill now rounds the running target to its new increment
        if self.belt > 0 and not commands:
            assert run_at(self.gov.target_speed_kmh, increment) <= self.cap() + EPS
        self.apply(commands)

    @rule(
        event=st.sampled_from(
            [
                SafetyKeyStop(),
                ControlLost(),
                ConsoleStopped(),
                ConsoleStarted(),
                LinkLost(),
                MachineReset(),
                UnknownStatus(0x42),
            ]
        )
    )
    def status(self, event: object) -> None:
        stops = (
            SafetyKeyStop | ControlLost | ConsoleStopped | LinkLost | MachineReset | UnknownStatus
        )
        if isinstance(event, stops):
            self.permitted = self.started = False
        if isinstance(event, LinkLost):
            self.link = False
        if isinstance(event, ConsoleStopped):
            self.belt = 0.0
        self.apply(self.gov.handle(event, self.now).commands)  # type: ignore[arg-type]

    @rule()
    def reconnect(self) -> None:
        if not self.link:
            self.link = True
            out = self.gov.handle(LinkUp(), self.now)
            assert isinstance(out.commands[0], Stop), "the first command after a reconnect"
            self.apply(out.commands)

    @rule(source=st.sampled_from(list(Source)))
    def stop(self, source: Source) -> None:
        decision = self.gov.decide(Request(Stop("stop"), source), self.now)
        assert isinstance(decision.command, Stop)
        self.apply(decision.commands)

    @invariant()
    def target_within_cap(self) -> None:
        assert self.gov.target_speed_kmh <= self.cap() + EPS


TestWireMachine = WireMachine.TestCase
TestWireMachine.settings = settings(
    max_examples=250,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
