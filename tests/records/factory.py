"""A synthetic session for the records tests: known segments, speeds, distance and heart rate."""

from __future__ import annotations

from dataclasses import dataclass

from retro_treadmill.records.model import (
    Direction,
    EventKind,
    RecordedEvent,
    Sample,
    SessionInfo,
    new_session_id,
    sha256_text,
)

START = 1_790_000_000.0
"""2026-09-21T14:13:20Z."""

PROFILE_TEXT = 'name = "Test ramp"\n# exact text, kept byte for byte\n'


@dataclass(frozen=True, slots=True)
class Leg:
    """A stretch of the synthetic session: ``seconds`` at ``kmh`` (0 = standing)."""

    segment: int | None
    name: str
    direction: Direction | None
    seconds: int
    kmh: float
    incline: float = 0.0


LEGS = (
    Leg(1, "warm-up", "backward", 30, 1.6, 0.0),
    Leg(2, "main", "backward", 60, 2.0, 1.5),
    Leg(None, "turn around", None, 5, 0.0),
    Leg(3, "forward", "forward", 20, 2.4, 0.5),
)


def info(
    session_id: str | None = None,
    *,
    walker: str | None = "W-17",
    started_at: float = START,
    profile: str = "Test ramp",
) -> SessionInfo:
    """The synthetic session's :class:`SessionInfo`."""
    return SessionInfo(
        session_id=session_id or new_session_id(),
        started_at=started_at,
        profile_name=profile,
        profile_text=PROFILE_TEXT,
        profile_sha256=sha256_text(PROFILE_TEXT),
        device_name="RETRO-SIM",
        device_address="00:11:22:33:44:55",
        program_version="0.1.0",
        walker_id=walker,
        personality="generic",
        clinic_config_hash=None,
        time_scale=1.0,
    )


def samples(started_at: float = START, legs: tuple[Leg, ...] = LEGS) -> list[Sample]:
    """1 Hz samples through ``legs``; distance integrates the belt speed exactly."""
    out: list[Sample] = []
    elapsed = 0
    distance = 0.0
    for leg in legs:
        for _ in range(leg.seconds):
            out.append(
                Sample(
                    t=started_at + elapsed,
                    elapsed_s=float(elapsed),
                    state="running" if leg.segment is not None else "paused",
                    segment_index=leg.segment,
                    segment_name=leg.name,
                    direction=leg.direction,
                    target_speed_kmh=leg.kmh,
                    belt_speed_kmh=leg.kmh,
                    target_incline_pct=leg.incline,
                    incline_pct=leg.incline,
                    distance_m=round(distance, 3),
                    heart_rate_bpm=90 + elapsed // 10,
                    hr_source="strap",
                )
            )
            distance += leg.kmh / 3.6
            elapsed += 1
    return out


def events(started_at: float = START) -> list[RecordedEvent]:
    """An operator +, a refused +, one alarm and the operator's stop."""
    return [
        RecordedEvent(started_at + 40, EventKind.OPERATOR, "speed_up", "+0.1 mph"),
        RecordedEvent(
            started_at + 41,
            EventKind.REFUSED,
            "set_speed",
            "speed increase above 0.1 mph per 5 s",
            {"requested_kmh": 2.3},
        ),
        RecordedEvent(started_at + 100, EventKind.ALARM, "heart_rate_high", "HR 150 > 140"),
        RecordedEvent(started_at + 101, EventKind.OPERATOR, "stop", "space bar"),
    ]
