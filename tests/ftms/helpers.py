"""Small helpers for the FTMS client tests against the virtual treadmill."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from retro_treadmill.ftms.client import EventStream, FtmsClient
from retro_treadmill.ftms.events import FtmsEvent
from retro_treadmill.sim import VirtualTreadmill


def opcodes(sim: VirtualTreadmill, after: int = 0) -> list[int | None]:
    """Op codes of the control-point writes the treadmill received (from index ``after``)."""
    return [w.opcode for w in sim.writes[after:]]


async def until(sim: VirtualTreadmill, predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Wait up to ``within`` sim seconds for ``predicate()``."""
    await sim.wait_for(lambda _s: predicate(), within)


def drain(stream: EventStream) -> list[FtmsEvent]:
    """Every event queued on ``stream`` so far."""
    out: list[FtmsEvent] = []
    while (event := stream.get_nowait()) is not None:
        out.append(event)
    return out


def of_type(events: list[FtmsEvent], kind: type[Any]) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def speed_near(client: FtmsClient, kmh: float, tol: float = 0.12) -> bool:
    """Whether the last reported belt speed is within ``tol`` of ``kmh``."""
    speed = client.belt_speed_kmh
    return speed is not None and abs(speed - kmh) <= tol
