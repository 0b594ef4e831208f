"""A minimal pure treadmill model for driving the session engine in tests (no BLE).

It follows the commands the engine emits: Start lets the belt run, Set Target Speed moves the belt
towards the target at a fixed acceleration, Stop/Pause bring it to a standstill the same way.
``factor`` scales the belt against the commanded speed (1.609 = an mph-confused device) and
``ignores_speed`` keeps it at its start speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retro_treadmill.safety.commands import (
    Alarm,
    Command,
    LinkUp,
    Pause,
    SetIncline,
    SetSpeed,
    Start,
    Stop,
    Telemetry,
)
from retro_treadmill.session.engine import SessionEngine, SessionOutput
from retro_treadmill.session.profile import Profile, Segment


@dataclass
class Belt:
    """Belt speed (km/h) and incline (%) following commands with finite acceleration."""

    accel_kmh_s: float = 1.0
    factor: float = 1.0
    ignores_speed: bool = False
    default_kmh: float = 0.8
    speed: float = 0.0
    incline: float = 0.0
    target: float = 0.0
    running: bool = False
    sent: list[tuple[float, Command]] = field(default_factory=list)

    def apply(self, now: float, commands: tuple[Command, ...]) -> None:
        for command in commands:
            self.sent.append((now, command))
            if isinstance(command, Stop | Pause):
                self.running = False
                self.target = 0.0
            elif isinstance(command, Start):
                self.running = True
                self.target = self.default_kmh
            elif isinstance(command, SetSpeed) and self.running and not self.ignores_speed:
                self.target = command.kmh * self.factor
            elif isinstance(command, SetIncline):
                self.incline = command.pct

    def step(self, dt: float) -> None:
        goal = self.target if self.running else 0.0
        delta = goal - self.speed
        move = self.accel_kmh_s * dt
        self.speed = goal if abs(delta) <= move else self.speed + (move if delta > 0 else -move)


@dataclass
class Drive:
    """Runs an engine against a :class:`Belt` on a simulated clock."""

    engine: SessionEngine
    belt: Belt = field(default_factory=Belt)
    now: float = 0.0
    telemetry_period: float = 0.5
    alarms: list[Alarm] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    _next_telemetry: float = 0.0

    def feed(self, out: SessionOutput) -> SessionOutput:
        self.belt.apply(self.now, out.commands)
        self.alarms.extend(out.alarms)
        if out.rejection:
            self.rejections.append(out.rejection)
        return out

    def connect(self) -> None:
        self.feed(self.engine.handle(LinkUp(), self.now))
        self.feed(self.engine.handle(Telemetry(0.0, 0.0), self.now))
        self.feed(self.engine.prepare(self.now))

    def run(self, seconds: float, dt: float = 0.1, *, telemetry: bool = True) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = round(self.now + dt, 6)
            self.belt.step(dt)
            if telemetry and self.now >= self._next_telemetry - 1e-9:
                self._next_telemetry = self.now + self.telemetry_period
                event = Telemetry(self.belt.speed, self.belt.incline)
                self.feed(self.engine.handle(event, self.now))
            self.feed(self.engine.tick(self.now))

    def sent_speeds(self) -> list[tuple[float, float]]:
        return [(t, c.kmh) for t, c in self.belt.sent if isinstance(c, SetSpeed)]


def segment(
    kind: str = "hold",
    speed: tuple[float, float] = (1.609, 1.609),
    duration_s: float = 30.0,
    direction: str = "backward",
    incline: tuple[float, float] = (0.0, 0.0),
    prompt: str = "walk backwards, hold the rails",
) -> Segment:
    return Segment(
        kind=kind,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        speed_from_kmh=speed[0],
        speed_to_kmh=speed[1],
        incline_from_pct=incline[0],
        incline_to_pct=incline[1],
        duration_s=duration_s,
        prompt=prompt,
    )


def profile(*segments: Segment, name: str = "test") -> Profile:
    return Profile(
        name=name, description="test profile", audience="tests", units="mph", segments=segments
    )
