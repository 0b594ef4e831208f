"""Issue 13 acceptance: a hypothesis state machine drives the governor against a model treadmill
that may refuse Stops (error result or failed write, any number of times in a row), whose
incline motor may be stuck, slow or raised at the console, with telemetry once a second.

Invariants, judged on the commands the governor emitted (never by asking it):

- a Stop the treadmill refused while telemetry shows the belt moving raises the escalation
  alarm at once ("refused the stop ... PULL THE SAFETY KEY") and is followed by another Stop at
  once, then at least every 1 s for as long as telemetry shows the belt moving;
- no report says the belt stopped unless telemetry showed it below 0.1 km/h;
- an incline target not reached, or not held, for 30 s halts (Stop + alarm) while running; a
  healthy incline motor never draws an incline alarm;
- a reported incline above the cap + 0.5 % for 2 samples stops the belt.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from retro_treadmill.safety.commands import (
    Actions,
    AlarmKind,
    Command,
    LinkUp,
    Request,
    SetIncline,
    SetSpeed,
    Source,
    Start,
    Stop,
    StopRefused,
    Telemetry,
)
from retro_treadmill.safety.governor import (
    INCLINE_CONFIRM_S,
    INCLINE_OVER_CAP_PCT,
    STOP_RESEND_S,
    GovernorState,
    SafetyGovernor,
)
from retro_treadmill.safety.limits import SafetyLimits

LIMITS = SafetyLimits()
TICK = 0.1
STANDSTILL = LIMITS.stop_confirm_speed_kmh
INCLINE_TOL = 0.5
EPS = 1e-6


class RefusalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gov = SafetyGovernor(LIMITS)
        self.now = 0.0
        self.next_sample = 0.0
        # the model treadmill
        self.belt = 0.0
        self.belt_target = 0.0
        self.incline_now = 0.0
        self.incline_target = 0.0
        self.refusals_left = 0
        self.incline_motor = "healthy"
        self.console_incline: float | None = None
        # what the oracle saw
        self.reported_speed: float | None = None
        self.reported_incline: float | None = None
        self.refused_while_moving = False
        self.last_stop_at: float | None = None
        self.commanded_incline: float | None = None
        self.off_since: float | None = None
        self.over_cap_samples = 0
        self.alarms: list[tuple[AlarmKind, str, float]] = []

    @initialize()
    def connect(self) -> None:
        self.gov.handle(LinkUp(), self.now)
        self.sample()

    # ------------------------------------------------------------------ the model treadmill

    def send(self, actions: Actions | tuple[Command, ...]) -> None:
        commands = actions.commands if isinstance(actions, Actions) else actions
        if isinstance(actions, Actions):
            self.alarms += [(a.kind, a.message, self.now) for a in actions.alarms]
        for command in commands:
            if isinstance(command, Stop):
                self.last_stop_at = self.now
                if self.refusals_left > 0:
                    self.refusals_left -= 1
                    if self.reported_speed is not None and self.reported_speed >= STANDSTILL:
                        self.refused_while_moving = True
                    self.send(self.gov.handle(StopRefused("result 0x04"), self.now))
                else:
                    self.belt_target = 0.0
            elif isinstance(command, Start):
                self.belt_target = 0.5
            elif isinstance(command, SetSpeed):
                assert self.gov.state is GovernorState.RUNNING
                self.belt_target = command.kmh
            elif isinstance(command, SetIncline):
                self.incline_target = command.pct
                self.commanded_incline = command.pct
                # A new target does not restart the window (only reaching one ends it).

    def physics(self, dt: float) -> None:
        step = 0.8 * dt
        if self.belt < self.belt_target:
            self.belt = min(self.belt_target, self.belt + step)
        else:
            self.belt = max(self.belt_target, self.belt - step)
        if self.console_incline is not None:
            self.incline_now = self.console_incline
        elif self.incline_motor != "stuck":
            rate = (0.5 if self.incline_motor == "healthy" else 0.03) * dt
            if self.incline_now < self.incline_target:
                self.incline_now = min(self.incline_target, self.incline_now + rate)
            else:
                self.incline_now = max(self.incline_target, self.incline_now - rate)

    def sample(self) -> None:
        """One Treadmill Data record, and the oracle's view of it."""
        speed, incline = round(self.belt, 2), round(self.incline_now, 1)
        self.reported_speed, self.reported_incline = speed, incline
        if speed < STANDSTILL:
            self.refused_while_moving = False
        if incline > LIMITS.max_incline_pct + INCLINE_OVER_CAP_PCT + EPS:
            self.over_cap_samples += 1
        else:
            self.over_cap_samples = 0
        target = self.commanded_incline
        if self.gov.state is GovernorState.RUNNING and target is not None:
            if abs(incline - target) <= INCLINE_TOL + EPS:
                self.off_since = None
            elif self.off_since is None:
                self.off_since = self.now
        else:
            self.off_since = None
        self.send(self.gov.handle(Telemetry(speed, incline), self.now))
        if self.gov.state is not GovernorState.RUNNING:
            self.off_since = None

    # ------------------------------------------------------------------ rules

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 3.0, 12.0, 35.0]))
    def advance(self, seconds: float) -> None:
        for _ in range(round(seconds / TICK)):
            self.now = round(self.now + TICK, 6)
            self.physics(TICK)
            if self.now >= self.next_sample - EPS:
                self.next_sample = self.now + 1.0
                self.sample()
            self.send(self.gov.tick(self.now))
            self.check_resend()

    @rule()
    def arm_and_start(self) -> None:
        if self.gov.arm(self.now).armed:
            for _ in range(round(LIMITS.countdown_s / TICK)):
                self.now = round(self.now + TICK, 6)
                self.physics(TICK)
                if self.now >= self.next_sample - EPS:
                    self.next_sample = self.now + 1.0
                    self.sample()
                self.send(self.gov.tick(self.now))
            self.sample()
            decision = self.gov.decide(Request(Start(), Source.PROFILE), self.now)
            self.send(decision.commands)
            speed = self.gov.decide(Request(SetSpeed(1.6), Source.PROFILE), self.now)
            self.send(speed.commands)

    @rule(pct=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]))
    def incline(self, pct: float) -> None:
        self.send(self.gov.decide(Request(SetIncline(pct), Source.PROFILE), self.now).commands)

    @rule(count=st.integers(1, 6))
    def treadmill_refuses_stops(self, count: int) -> None:
        self.refusals_left = count

    @rule(motor=st.sampled_from(["healthy", "slow", "stuck"]))
    def incline_motor_is(self, motor: str) -> None:
        self.incline_motor = motor

    @rule(pct=st.sampled_from([None, 3.0, 5.5, 6.0, 8.0]))
    def console_sets_incline(self, pct: float | None) -> None:
        self.console_incline = pct

    @rule()
    def operator_stop(self) -> None:
        decision = self.gov.decide(Request(Stop("operator"), Source.KEYBOARD), self.now)
        assert isinstance(decision.command, Stop)
        self.send(decision.commands)

    # ------------------------------------------------------------------ invariants

    def check_resend(self) -> None:
        if self.refused_while_moving:
            assert self.last_stop_at is not None
            assert self.now - self.last_stop_at <= STOP_RESEND_S + TICK + EPS, (
                f"belt at {self.reported_speed} km/h after a refused Stop; last Stop "
                f"{self.now - self.last_stop_at:.1f} s ago"
            )

    @invariant()
    def refused_stop_raised_the_escalation_alarm(self) -> None:
        if self.refused_while_moving:
            kinds = [a.kind for a in self.gov.alarms]
            assert AlarmKind.STOP_NOT_CONFIRMED in kinds
            message = next(m for k, m, _ in self.alarms if k is AlarmKind.STOP_NOT_CONFIRMED)
            assert "PULL THE SAFETY KEY" in message

    @invariant()
    def no_word_of_a_stopped_belt_unless_telemetry_showed_it(self) -> None:
        for _, message, _ in self.alarms:
            if "belt was stopped" in message.lower():
                assert self.reported_speed is not None
                assert self.reported_speed < STANDSTILL

    @invariant()
    def an_unconfirmed_incline_halts_within_the_window(self) -> None:
        if self.off_since is not None and self.gov.state is GovernorState.RUNNING:
            assert self.now - self.off_since <= INCLINE_CONFIRM_S + 1.0 + TICK + EPS, (
                f"incline {self.reported_incline} % for target {self.commanded_incline} % since "
                f"{self.off_since}"
            )

    @invariant()
    def incline_above_the_cap_stops_the_belt(self) -> None:
        if self.over_cap_samples >= 2:
            assert self.gov.state is GovernorState.HALTED


def _incline_alarm(message: str) -> bool:
    return "incline" in message


class HealthyInclineMachine(RefusalMachine):
    """The same, with no incline fault at all: no incline alarm may ever appear."""

    @rule(motor=st.just("healthy"))
    def incline_motor_is(self, motor: str) -> None:
        self.incline_motor = motor

    @rule(pct=st.just(None))
    def console_sets_incline(self, pct: float | None) -> None:
        self.console_incline = pct

    @invariant()
    def a_healthy_incline_motor_draws_no_incline_alarm(self) -> None:
        assert not [m for _, m, _ in self.alarms if _incline_alarm(m)], self.alarms


_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRefusalMachine = RefusalMachine.TestCase
TestRefusalMachine.settings = _SETTINGS
TestHealthyInclineMachine = HealthyInclineMachine.TestCase
TestHealthyInclineMachine.settings = _SETTINGS
