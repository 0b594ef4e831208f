"""The end-of-session summary: totals from the belt samples, per-segment speeds run against the
prescription, alarms, and where it shows (outcome record, snapshot, headless, MQTT)."""

from __future__ import annotations

import asyncio
import io
import time

from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.service.events import (
    AlarmRaised,
    BeltSample,
    Decided,
    OperatorAction,
    SessionEnded,
)
from retro_treadmill.service.sinks import MqttSink
from retro_treadmill.service.summary import SessionTally
from retro_treadmill.telemetry.eventlog import EventLog
from retro_treadmill.telemetry.schema import Event
from retro_treadmill.tui.model import StopSource
from retro_treadmill.units import mph_to_kmh
from tests.service.conftest import Rig, until, walking

MPH1 = mph_to_kmh(1.0)


def belt(
    t: float, kmh: float, distance_m: float, segment: int | None, direction: str = "backward"
) -> BeltSample:
    return BeltSample(
        t,
        speed_kmh=kmh,
        incline_pct=0.0,
        distance_m=distance_m,
        elapsed_s=t,
        heart_rate_bpm=None,
        target_speed_kmh=MPH1 if segment is not None else 0.0,
        target_incline_pct=0.0,
        state="running" if segment is not None else "finished",
        segment_index=segment,
        direction=direction,
        segment_name=f"segment {segment}",
    )


def walked_tally() -> SessionTally:
    """Two minutes at 1 mph backward, one minute at 1.2 mph forward, then stopped; samples at
    10 Hz (the tally keeps 1 Hz)."""
    tally = SessionTally(epoch_base=1_800_000_000.0)
    metres = 0.0
    for i in range(1800):
        t = i / 10
        segment, direction, kmh = (0, "backward", MPH1) if t < 120 else (1, "forward", MPH1 * 1.2)
        tally.handle(belt(t, kmh, metres, segment, direction))
        metres += kmh / 3.6 / 10
    tally.handle(belt(180.0, 0.0, metres, None))
    tally.handle(AlarmRaised(100.0, "overspeed", "Belt too fast. Stopped."))
    tally.handle(OperatorAction(150.0, "stop", "keyboard", {"detail": ""}))
    tally.handle(Decided(151.0, "rejected", "SpeedChange(+0.16 km/h)", "keyboard", None, "cap"))
    tally.close()
    return tally


def test_totals_come_from_the_belt_samples() -> None:
    totals = walked_tally().totals()
    assert abs(totals.backward_s - 120.0) <= 1.0
    assert abs(totals.forward_s - 60.0) <= 1.0
    expected_m = MPH1 / 3.6 * 120 + MPH1 * 1.2 / 3.6 * 60
    assert abs(totals.distance_m - expected_m) < 1.0
    assert abs(totals.backward_distance_m - MPH1 / 3.6 * 120) < 1.0
    assert totals.peak_speed_kmh is not None
    assert abs(totals.peak_speed_kmh - MPH1 * 1.2) < 1e-9
    assert (totals.alarm_count, totals.operator_actions, totals.refused_count) == (1, 1, 1)
    assert 170 <= totals.sample_count <= 205  # about 1 Hz kept of 10 Hz, plus the standstill


def test_the_summary_block_reads_well_at_1_mph() -> None:
    summary = walked_tally().summary("stopped", 3)
    text = summary.text("mph")
    # ~86 m: yards, not "0.05 mi"
    yards = round(summary.totals.distance_m / 0.9144)
    assert 90 <= yards <= 97
    assert f"Distance  {yards} yd" in text
    assert "Session summary: stopped (exit code 3)" in text
    assert "3:00 walking (2:01 backward, 0:59 forward)" in text
    # per segment: what was prescribed and what the belt ran
    # 2 min at 1 mph is 59 yd, 1 min at 1.2 mph 35 yd (the 1 Hz boundary sample goes to the first)
    assert "  Seg 1 backward: prescribed 1.0, ran avg 1.00 peak 1.00 mph; 2:01, 59 yd" in text
    assert "  Seg 2 forward: prescribed 1.0, ran avg 1.20 peak 1.20 mph; 0:59, 35 yd" in text
    assert max(len(line) for line in text.splitlines()) < 80  # fits the terminal UI
    assert "Alarm     overspeed: Belt too fast. Stopped." in text
    kmh = summary.text("kmh")
    assert " m (" in kmh.splitlines()[2]


def test_mqtt_publishes_a_session_summary_event() -> None:
    published: list[Event] = []

    class Publisher:
        def publish_event(self, event: Event) -> None:
            published.append(event)

        def publish_state(self, _update: object) -> None:
            pass

    from retro_treadmill.safety.limits import DEFAULT_LIMITS

    sink = MqttSink(Publisher(), limits=DEFAULT_LIMITS, units="mph")  # type: ignore[arg-type]
    summary = walked_tally().summary("stopped", 3).to_dict()
    sink.handle(
        SessionEnded(1.0, "stopped", 3, "stopped", "finished", 0.0, (), None, "k", (), summary)
    )
    [event] = published
    assert event.code == "session_summary"
    assert event.category.value == "session"
    totals = event.data["totals"]
    assert isinstance(totals, dict)
    assert totals["distance_m"] == summary["totals"]["distance_m"]
    assert event.data["outcome"] == "stopped"


async def test_a_session_ends_with_its_summary_everywhere(rig: Rig) -> None:
    service = rig.service()
    shown: list[str] = []

    async def then(service: SessionService) -> None:
        await asyncio.sleep(3.0)  # 30 s of session time at 1.0 mph
        service.stop(StopSource.KEYBOARD)
        await until(service, service.session_over, timeout=30)
        await until(service, lambda: bool(service.snapshot.summary), timeout=5)
        shown.append(service.snapshot.summary)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED
    [outcome] = [r for r in service.log.records if r["kind"] == "outcome"]
    totals = outcome["totals"]
    # 30 s of session time at 1.0 mph backward (the demo's warm-up), and the belt's own speeds.
    assert 15.0 < totals["backward_s"] < 40.0
    assert totals["forward_s"] == 0.0
    walked = totals["avg_speed_kmh"] / 3.6 * totals["backward_s"]
    assert abs(totals["distance_m"] - walked) < 0.15 * walked
    assert abs(totals["peak_speed_kmh"] - MPH1) < 0.05
    assert outcome["segments"][0]["index"] == 1
    assert shown
    assert shown[0].startswith("Session summary: stopped")
    assert service.final_summary is not None
    final = service.final_summary.to_dict()["totals"]
    assert final.keys() == totals.keys()
    for key, value in totals.items():
        assert value == final[key] or abs(value - final[key]) < 1e-5, key


async def test_an_event_log_that_fails_mid_session_is_a_warning_not_a_stop(rig: Rig) -> None:
    class FillsUp(io.StringIO):
        full = False

        def write(self, s: str) -> int:
            if self.full:
                raise OSError(28, "No space left on device")
            return super().write(s)

    stream = FillsUp()
    service = rig.service(event_log=EventLog(stream, clock=rig.clock.now, flush_s=0.01))
    warned: list[tuple[str, ...]] = []

    async def then(service: SessionService) -> None:
        stream.full = True
        await until(service, lambda: bool(service.snapshot.warnings), timeout=10)
        warned.append(service.snapshot.warnings)
        assert service.snapshot.state.value == "running"  # the belt goes on
        pressed = time.perf_counter()
        service.stop(StopSource.KEYBOARD)
        await until(
            service,
            lambda: any(
                w.data == b"\x08\x01" and w.perf_counter >= pressed for w in rig.sim.writes
            ),
            timeout=5,
        )
        await until(service, service.session_over, timeout=30)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED
    assert warned[0] == (
        "event-log stopped: EventLogFailed: the event log cannot be written: "
        "[Errno 28] No space left on device",
    )
    assert rig.sim.belt_speed_kmh == 0.0
    assert service.final_summary is not None
    assert [f.name for f in service.bus.failures] == ["event-log"]


def test_mqtt_alarms_are_critical_and_the_heart_rate_lost_warning_is_a_warning() -> None:
    """A dashboard pages on ``critical``: the belt was stopped. The heart-rate-lost warning
    comes first, with the belt still walking (it slows, then stops a minute later)."""
    published: list[Event] = []

    class Publisher:
        def publish_event(self, event: Event) -> None:
            published.append(event)

    from retro_treadmill.safety.limits import DEFAULT_LIMITS

    sink = MqttSink(Publisher(), limits=DEFAULT_LIMITS, units="mph")  # type: ignore[arg-type]
    sink.handle(AlarmRaised(1.0, "heart_rate_lost", "Heart rate lost: slowing", warning=True))
    sink.handle(AlarmRaised(61.0, "heart_rate_lost", "Heart rate lost for 60 s. Stopped."))
    assert [(e.code, e.severity.value) for e in published] == [
        ("heart_rate_lost", "warning"),
        ("heart_rate_lost", "critical"),
    ]
