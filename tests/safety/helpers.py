"""Shared set-ups for the governor tests: a governor brought to a given state with real inputs."""

from __future__ import annotations

from typing import Any

from retro_treadmill.safety.commands import (
    Command,
    Decision,
    DeviceRanges,
    LinkUp,
    Request,
    Requestable,
    SetIncline,
    SetSpeed,
    Source,
    Start,
    Stop,
    Telemetry,
)
from retro_treadmill.safety.governor import SafetyGovernor
from retro_treadmill.safety.limits import SafetyLimits
from retro_treadmill.units import mph_to_kmh

MPH = mph_to_kmh(1.0)
CAP = mph_to_kmh(1.5)
START = mph_to_kmh(1.0)


def ask(
    gov: SafetyGovernor, command: Requestable, now: float, source: Source = Source.KEYBOARD
) -> Decision:
    """Ask the governor for ``command`` at ``now``."""
    return gov.decide(Request(command, source), now)


def connected(
    now: float = 0.0,
    limits: SafetyLimits | None = None,
    device: DeviceRanges | None = None,
    **kwargs: Any,
) -> SafetyGovernor:
    """A governor with the link up and the belt confirmed at a standstill at ``now``."""
    gov = SafetyGovernor(limits or SafetyLimits(), device=device, **kwargs)
    gov.handle(LinkUp(), now)
    gov.handle(Telemetry(0.0, 0.0), now)
    return gov


def started(now: float = 0.0, start_kmh: float = START, **kwargs: Any) -> SafetyGovernor:
    """A running governor: armed at ``now - 5``, started and at ``start_kmh`` (on the speed
    grid), confirmed by telemetry at ``now``."""
    gov = connected(now - 5.0, **kwargs)
    assert gov.arm(now - 5.0).armed
    gov.handle(Telemetry(0.0, 0.0), now)  # Treadmill Data keeps coming during the countdown
    assert ask(gov, Start(), now).command == Start()
    sent = ask(gov, SetSpeed(start_kmh), now, Source.PROFILE).command
    # on the speed grid (nearest step, never above the start limit)
    assert sent == SetSpeed(gov.speed_on_grid(start_kmh, ceiling=gov.caps.max_start_speed_kmh))
    gov.handle(Telemetry(sent.kmh, 0.0), now)
    assert gov.setpoint_confirmed
    return gov


def is_stop(commands: tuple[Command, ...]) -> bool:
    """The commands are exactly one Stop."""
    return len(commands) == 1 and isinstance(commands[0], Stop)


def kmh(decision: Decision) -> float | None:
    """The speed a decision sends (``None`` unless it sends Set Target Speed)."""
    return decision.command.kmh if isinstance(decision.command, SetSpeed) else None


def pct(decision: Decision) -> float | None:
    """The incline a decision sends (``None`` unless it sends Set Target Inclination)."""
    return decision.command.pct if isinstance(decision.command, SetIncline) else None
