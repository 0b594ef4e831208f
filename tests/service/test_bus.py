"""The session bus: queue policies, drop accounting, failing sinks, and the stop-path gate."""

from __future__ import annotations

import asyncio
import time

import pytest

from retro_treadmill.service import bus as busmod
from retro_treadmill.service.bus import DROP_OLDEST, KEEP, LATEST, Policy, SessionBus
from retro_treadmill.service.events import (
    AlarmRaised,
    EventsDropped,
    SessionEvent,
    SinkFailed,
    Tick,
)
from retro_treadmill.service.session import ExitCode, SessionService
from retro_treadmill.tui.model import StopSource
from tests.service.conftest import Rig, stop_writes_after, until, walking


def alarm(i: int) -> AlarmRaised:
    return AlarmRaised(float(i), "overspeed", f"alarm {i}")


async def drain(sub: object, bus: SessionBus) -> list[SessionEvent]:
    """Everything queued so far, in order (ends the subscription's stream)."""
    await bus.aclose()
    return [e async for e in sub]  # type: ignore[attr-defined]


def test_publish_only_appends_and_never_raises_without_a_loop() -> None:
    bus = SessionBus(clock=lambda: 1.0)
    sub = bus.subscribe("log", KEEP(10))
    for i in range(3):
        bus.publish(alarm(i))  # no event loop here: nothing is awaited or scheduled
    assert list(sub._items) == [alarm(0), alarm(1), alarm(2)]


async def test_keep_drops_the_oldest_and_announces_the_count_once() -> None:
    bus = SessionBus(clock=lambda: 7.0)
    log = bus.subscribe("log", KEEP(3))
    other = bus.subscribe("other", KEEP(100))
    for i in range(10):
        bus.publish(alarm(i))
    first = await anext(log)
    assert first == EventsDropped(7.0, "log", 7)  # one event for the seven, before the rest
    rest = await drain(log, bus)
    assert rest == [alarm(7), alarm(8), alarm(9)]
    # Everyone hears of the drop (the log writes it, MQTT publishes it).
    seen = [e async for e in other]
    assert seen[-1] == EventsDropped(7.0, "log", 7)
    assert seen[:10] == [alarm(i) for i in range(10)]
    assert log.dropped == 7


async def test_latest_conflates_and_drop_oldest_drops_quietly() -> None:
    bus = SessionBus()
    ui = bus.subscribe("ui", LATEST)
    telemetry = bus.subscribe("telemetry", DROP_OLDEST(2))
    for i in range(5):
        bus.publish(alarm(i))
    assert await anext(ui) == alarm(4)
    assert await drain(telemetry, bus) == [alarm(3), alarm(4)]  # no EventsDropped
    assert telemetry.dropped == 3


def test_a_queue_holds_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Policy("keep", 0)


async def test_kinds_filter_what_a_subscription_receives() -> None:
    bus = SessionBus()
    sub = bus.subscribe("alarms", KEEP(10), kinds=(AlarmRaised,))
    bus.publish(Tick(1.0))
    bus.publish(alarm(2))
    assert await drain(sub, bus) == [alarm(2)]


async def test_a_failing_sink_is_closed_and_reported_and_the_others_carry_on() -> None:
    bus = SessionBus(clock=lambda: 3.0)
    got: list[SessionEvent] = []

    def broken(event: SessionEvent) -> None:
        if isinstance(event, AlarmRaised) and event.t == 1.0:
            raise OSError(28, "No space left on device")

    bus.add_sink("recorder", KEEP(10), broken)
    bus.add_sink("log", KEEP(10), got.append)
    for i in range(3):
        bus.publish(alarm(i))
    await asyncio.sleep(0.05)
    bus.publish(alarm(3))
    await bus.aclose()  # returns: the failure never escapes as an exception
    failed = SinkFailed(3.0, "recorder", "OSError: [Errno 28] No space left on device")
    assert got == [alarm(0), alarm(1), alarm(2), failed, alarm(3)]
    assert bus.failures == [failed]


async def test_a_failing_end_of_stream_is_reported_too() -> None:
    bus = SessionBus(clock=lambda: 0.0)
    got: list[SessionEvent] = []

    def cannot_flush() -> None:
        raise OSError("disk full")

    bus.add_sink("event-log", KEEP(10), lambda e: None, on_end=cannot_flush)
    bus.add_sink("mqtt", KEEP(10), got.append)
    bus.publish(alarm(0))
    await bus.aclose()
    assert got[-1] == SinkFailed(0.0, "event-log", "OSError: disk full")


async def test_sinks_wait_while_a_stop_is_in_flight_but_not_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_flight = [True]
    bus = SessionBus(busy=lambda: in_flight[0])
    got: list[SessionEvent] = []
    bus.add_sink("log", KEEP(100), got.append)
    monkeypatch.setattr(busmod, "YIELD_MAX_S", 10.0)
    bus.publish(alarm(0))
    await asyncio.sleep(0.05)
    assert got == []  # held while the Stop is on its way
    in_flight[0] = False
    await asyncio.sleep(0.05)
    assert got == [alarm(0)]
    # A Stop that never settles (a dead link) holds the sinks for YIELD_MAX_S at most.
    monkeypatch.setattr(busmod, "YIELD_MAX_S", 0.02)
    in_flight[0] = True
    started = time.perf_counter()
    for i in range(1, 50):
        bus.publish(alarm(i))
    await bus.aclose()  # drains the queue
    assert len(got) == 50
    assert time.perf_counter() - started < 1.0  # once per busy spell, not once per event


async def test_a_backlog_is_read_in_slices_that_leave_the_loop_to_others() -> None:
    bus = SessionBus()
    seen = 0

    def slow(_event: SessionEvent) -> None:
        nonlocal seen
        seen += 1
        end = time.perf_counter() + 0.0001
        while time.perf_counter() < end:
            pass

    bus.add_sink("log", KEEP(5000), slow)
    for i in range(2000):
        bus.publish(alarm(i))
    gaps: list[float] = []
    async with asyncio.timeout(20):
        while seen < 2000:
            before = time.perf_counter()
            await asyncio.sleep(0)
            gaps.append(time.perf_counter() - before)
    assert len(gaps) > 20  # read over many loop turns, not in one piece
    assert sorted(gaps)[len(gaps) // 2] < 0.003
    await bus.aclose()


async def test_a_sink_that_raises_in_a_session_leaves_the_belt_and_the_stop_alone(
    rig: Rig,
) -> None:
    service = rig.service()

    def broken(event: SessionEvent) -> None:
        raise RuntimeError("recorder exploded")

    async def then(service: SessionService) -> None:
        service.bus.add_sink("recorder", KEEP(100), broken)
        await until(service, lambda: bool(service.bus.failures), timeout=10)
        await asyncio.sleep(0.3)  # the belt keeps going without the observer
        assert service.error is None
        assert service.snapshot.state.value == "running"
        pressed = time.perf_counter()
        service.stop(StopSource.KEYBOARD)
        await until(service, lambda: bool(stop_writes_after(rig, pressed)), timeout=5)
        await until(service, service.session_over, timeout=30)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED  # not an internal error: observers never fail the session
    assert rig.sim.belt_speed_kmh == 0.0
    records = service.log.records
    [failed] = [r for r in records if r["kind"] == "sink-failed"]
    assert failed["sink"] == "recorder"
    assert "recorder exploded" in failed["error"]
    [outcome] = [r for r in records if r["kind"] == "outcome"]
    assert outcome["sink_failures"] == ["recorder: RuntimeError: recorder exploded"]
    assert any(r["kind"] == "operator" and r["action"] == "stop" for r in records)
