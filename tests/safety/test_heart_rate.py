"""Heart rate in the safety loop (issue 10): the cap, the hold, a lost heart rate and the Start
that needs a live one, driven through the governor's public inputs with ``now``."""

from __future__ import annotations

import math

import pytest

from retro_treadmill.safety.commands import (
    AlarmKind,
    Command,
    HeartRate,
    HeartRateDisconnected,
    LinkUp,
    SetIncline,
    SetSpeed,
    Source,
    Start,
    Stop,
    Telemetry,
)
from retro_treadmill.safety.governor import GovernorState, SafetyGovernor
from retro_treadmill.safety.limits import SafetyLimits

from .helpers import MPH, ask, is_stop, kmh

LIMITS = SafetyLimits(max_heart_rate_bpm=150, hr_hold_above_bpm=130)
START = MPH


def walking(limits: SafetyLimits = LIMITS, bpm: float = 90) -> SafetyGovernor:
    """Running at 1.0 mph at t=0 with a live heart rate, Treadmill Data and heart rate at 1 Hz
    from then on through :func:`beat`."""
    gov = SafetyGovernor(limits)
    gov.handle(LinkUp(), -6.0)
    gov.handle(Telemetry(0.0, 0.0), -6.0)
    gov.handle(HeartRate(bpm, True, "strap"), -6.0)
    assert gov.arm(-6.0).armed
    gov.handle(Telemetry(0.0, 0.0), 0.0)
    gov.handle(HeartRate(bpm, True, "strap"), 0.0)
    assert ask(gov, Start(), 0.0).command == Start()
    assert kmh(ask(gov, SetSpeed(START), 0.0, Source.PROFILE)) == pytest.approx(START, abs=0.01)
    gov.handle(Telemetry(gov.target_speed_kmh, 0.0), 0.0)
    return gov


def beat(
    gov: SafetyGovernor, start: float, end: float, bpm: float | None = 90, contact: bool = True
) -> list[tuple[float, Command]]:
    """Treadmill Data each second and, unless ``bpm`` is ``None``, a heart-rate sample, plus ticks
    every 0.1 s; returns every command sent, with its time."""
    sent: list[tuple[float, Command]] = []
    t = start
    while t <= end + 1e-9:
        if abs(t - round(t)) < 1e-9:
            actions = gov.handle(Telemetry(gov.target_speed_kmh, 0.0), t)
            sent += [(t, c) for c in actions.commands]
            if bpm is not None:
                actions = gov.handle(HeartRate(bpm, contact, "strap"), t)
                sent += [(t, c) for c in actions.commands]
        actions = gov.tick(t)
        sent += [(t, c) for c in actions.commands]
        t = round(t + 0.1, 6)
    return sent


def test_two_samples_above_the_cap_stop_at_the_second() -> None:
    gov = walking()
    assert not gov.handle(HeartRate(155, True), 1.0)
    assert not gov.handle(HeartRate(120, True), 2.0)
    assert not gov.handle(HeartRate(155, True), 3.0)
    assert not gov.handle(HeartRate(0, False), 3.5)  # no contact: not a measurement
    actions = gov.handle(HeartRate(160, True), 4.0)
    assert is_stop(actions.commands)
    assert [a.kind for a in actions.alarms] == [AlarmKind.HEART_RATE]


def test_at_or_above_the_hold_increases_are_refused_with_the_reason_decreases_pass() -> None:
    gov = walking()
    gov.handle(HeartRate(130, True), 6.0)
    up = ask(gov, SetSpeed(START + 0.1), 6.0, Source.PROFILE)
    assert up.command is None
    assert "130 bpm is at or above the hold 130 bpm" in up.reason
    assert ask(gov, SetIncline(0.5), 6.0).command is None
    assert kmh(ask(gov, SetSpeed(START - 0.2), 6.0)) == pytest.approx(START - 0.2, abs=0.01)
    gov.handle(HeartRate(129, True), 12.0)  # below the hold again: the profile goes on
    assert (kmh(ask(gov, SetSpeed(START), 12.0)) or 0) > START - 0.2 + 0.01


@pytest.mark.parametrize(
    ("how", "warned_at"),
    [("silence", 5.0), ("no-contact", 5.0), ("zero", 5.0), ("disconnect", 0.5)],
)
def test_a_lost_heart_rate_warns_slows_at_30_s_and_stops_at_60_s(
    how: str, warned_at: float
) -> None:
    gov = walking()
    beat(gov, 1.0, 10.0)
    lost_from = 10.0  # the last measurement
    if how == "disconnect":
        actions = gov.handle(HeartRateDisconnected("strap"), lost_from + 0.5)
        assert [(a.kind, a.warning) for a in actions.alarms] == [(AlarmKind.HEART_RATE_LOST, True)]
        assert not actions.commands  # a warning: the belt keeps going
        sent = beat(gov, 11.0, 80.0, bpm=None)
    else:
        bpm, contact = {"silence": (None, True), "no-contact": (0, False), "zero": (0, True)}[how]
        sent = beat(gov, 11.0, 80.0, bpm=bpm, contact=contact)
    status = gov.heart_rate_status(lost_from + warned_at)
    lost_at = status.lost_since
    assert lost_at is not None
    assert lost_at == pytest.approx(lost_from + warned_at)
    assert [a.kind for a in gov.alarms] == [AlarmKind.HEART_RATE_LOST]
    speeds = [(t, c) for t, c in sent if isinstance(c, SetSpeed)]
    stops = [(t, c) for t, c in sent if isinstance(c, Stop)]
    assert [c for _, c in speeds] == [SetSpeed(gov.speed_on_grid(gov.caps.min_running_speed_kmh))]
    assert speeds[0][0] == pytest.approx(lost_at + 30.0, abs=0.11)
    assert stops[0][0] == pytest.approx(lost_at + 60.0, abs=0.11)
    assert gov.state is GovernorState.HALTED
    assert [(a.kind, a.warning) for a in gov.alarms] == [(AlarmKind.HEART_RATE_LOST, False)]


def test_no_increase_while_lost_and_a_slowed_ramp_waits_for_the_operator() -> None:
    gov = walking()
    beat(gov, 1.0, 6.0)
    beat(gov, 7.0, 12.0, bpm=None)  # lost at 11
    refused = ask(gov, SetSpeed(START + 0.1), 12.0, Source.PROFILE)
    assert refused.command is None
    assert "heart rate is lost" in refused.reason
    assert ask(gov, SetIncline(0.5), 12.0).command is None
    # Back within 30 s: the warning clears, increases pass again.
    beat(gov, 13.0, 20.0)
    assert gov.alarms == ()
    assert kmh(ask(gov, SetSpeed(START + 0.1), 20.0)) == pytest.approx(START + 0.1, abs=0.01)
    # Lost again, back only after the slow-down: the belt stays slow until the operator says.
    beat(gov, 21.0, 60.0, bpm=None)  # lost at 25, slowed at 55
    assert gov.target_speed_kmh == pytest.approx(gov.caps.min_running_speed_kmh, abs=0.01)
    beat(gov, 61.0, 90.0)  # back before the Stop at 85
    assert gov.state is GovernorState.RUNNING
    assert gov.alarms == ()
    held = ask(gov, SetSpeed(START), 90.0, Source.PROFILE)
    assert held.command is None
    assert "an operator must confirm" in held.reason
    assert gov.confirm_heart_rate(90.0).armed
    assert kmh(ask(gov, SetSpeed(gov.target_speed_kmh + 0.1), 90.0)) is not None


def test_start_needs_a_live_heart_rate_when_a_limit_is_set() -> None:
    gov = SafetyGovernor(SafetyLimits(max_heart_rate_bpm=150))
    gov.handle(LinkUp(), 0.0)
    gov.handle(Telemetry(0.0, 0.0), 0.0)
    refused = gov.arm(0.0)
    assert not refused.armed
    assert "no live heart rate" in refused.reason
    gov.handle(HeartRate(80, True), 0.5)
    assert gov.arm(0.5).armed
    gov.handle(Telemetry(0.0, 0.0), 5.5)
    gov.handle(HeartRate(0, False), 5.5)  # contact since 0.5 s gone: 5 s without a measurement
    start = ask(gov, Start(), 5.6)
    assert start.command is None
    assert "no live heart rate" in start.reason
    gov.handle(HeartRate(82, True), 5.7)
    assert ask(gov, Start(), 5.7).command == Start()


def test_without_a_limit_heart_rate_is_only_shown() -> None:
    gov = walking(SafetyLimits(), bpm=math.nan)
    beat(gov, 1.0, 80.0, bpm=None)
    assert gov.state is GovernorState.RUNNING
    assert gov.alarms == ()
    gov.handle(HeartRate(200, True, "treadmill"), 81.0)
    status = gov.heart_rate_status(81.0)
    assert (status.bpm, status.source, status.live, status.limited) == (
        200,
        "treadmill",
        True,
        False,
    )


def test_while_held_the_allowances_offer_no_increase_so_a_profile_does_not_ask() -> None:
    gov = walking()
    before = gov.speed_allowance_kmh(6.0)
    assert before > gov.target_speed_kmh
    gov.handle(HeartRate(131, True), 6.0)  # at the hold
    assert gov.speed_allowance_kmh(6.0) == gov.target_speed_kmh
    assert gov.incline_allowance_pct(6.0)[1] == 0.0


@pytest.mark.parametrize("how", ["hold", "lost"])
def test_the_start_step_after_an_approved_start_is_not_held_by_the_heart_rate(how: str) -> None:
    """The Start passed the heart-rate check; the first setpoint only tells the moving belt its
    (slow) start speed. Refusing it as an "increase" left the belt at whatever speed the treadmill
    picks after Start, which the profile could no longer set and the 30 s slow-down (from a target
    of 0) never corrected; ``speed_allowance_kmh`` already offered that step."""
    gov = SafetyGovernor(LIMITS)
    gov.handle(LinkUp(), -6.0)
    gov.handle(Telemetry(0.0, 0.0), -6.0)
    gov.handle(HeartRate(90, True, "strap"), -6.0)
    assert gov.arm(-6.0).armed
    gov.handle(Telemetry(0.0, 0.0), 0.0)
    gov.handle(HeartRate(90, True, "strap"), 0.0)
    assert ask(gov, Start(), 0.0).command == Start()
    if how == "hold":
        gov.handle(HeartRate(135, True, "strap"), 0.2)
    else:
        gov.handle(HeartRateDisconnected("strap"), 0.2)
    allowance = gov.speed_allowance_kmh(0.3)
    assert allowance > 0
    first = ask(gov, SetSpeed(START), 0.3, Source.PROFILE)
    assert kmh(first) == pytest.approx(min(START, allowance), abs=0.01), first.reason
    # ... and after it, increases are held again.
    gov.handle(Telemetry(gov.target_speed_kmh, 0.0), 1.0)
    assert ask(gov, SetSpeed(START + 0.2), 6.0, Source.PROFILE).command is None
