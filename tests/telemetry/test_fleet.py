"""The monitor's picture of the fleet: liveness from availability and telemetry age; bad input."""

from __future__ import annotations

from retro_treadmill.telemetry.fleet import Fleet, Liveness
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    Severity,
    StateUpdate,
    TelemetrySample,
    encode,
)

P = "clinic"


def feed_running(fleet: Fleet, treadmill: str, now: float) -> None:
    fleet.ingest(f"{P}/{treadmill}/availability", b"online", now)
    state = StateUpdate(state="running", profile="gentle").to_payload(treadmill, 0.0)
    fleet.ingest(f"{P}/{treadmill}/state", encode(state), now)
    sample = TelemetrySample(speed_kmh=1.9, incline_pct=1.0, heart_rate_bpm=92)
    fleet.ingest(f"{P}/{treadmill}/telemetry", encode(sample.to_payload(treadmill, 0.0)), now)


def test_two_treadmills_with_their_numbers() -> None:
    fleet = Fleet(P)
    feed_running(fleet, "bay2", 10.0)
    feed_running(fleet, "bay1", 10.0)
    rows = fleet.rows(11.0)
    assert [r.view.treadmill_id for r in rows] == ["bay1", "bay2"]
    assert rows[0].liveness is Liveness.ONLINE
    assert rows[0].view.state == "running"
    assert rows[0].view.heart_rate_bpm == 92
    assert rows[0].telemetry_age_s == 1.0


def test_telemetry_silence_makes_a_treadmill_stale_and_the_last_will_offline() -> None:
    fleet = Fleet(P, stale_after_s=5.0)
    feed_running(fleet, "bay1", 10.0)
    assert fleet.rows(15.0)[0].liveness is Liveness.ONLINE
    assert fleet.rows(15.1)[0].liveness is Liveness.STALE
    fleet.ingest(f"{P}/bay1/availability", b"offline", 16.0)
    assert fleet.rows(16.0)[0].liveness is Liveness.OFFLINE


def test_running_without_any_telemetry_is_stale_but_idle_is_not() -> None:
    fleet = Fleet(P)
    fleet.ingest(f"{P}/a/availability", b"online", 0.0)
    fleet.ingest(f"{P}/a/state", encode(StateUpdate(state="running").to_payload("a", 0)), 0.0)
    fleet.ingest(f"{P}/b/availability", b"online", 0.0)
    fleet.ingest(f"{P}/b/state", encode(StateUpdate(state="idle").to_payload("b", 0)), 0.0)
    liveness = {r.view.treadmill_id: r.liveness for r in fleet.rows(1.0)}
    assert liveness == {"a": Liveness.STALE, "b": Liveness.ONLINE}


def test_alarm_events_are_shown() -> None:
    fleet = Fleet(P)
    feed_running(fleet, "bay1", 0.0)
    alarm = Event(EventCategory.ALARM, "overspeed", "Belt too fast: stopped", Severity.CRITICAL)
    fleet.ingest(f"{P}/bay1/event", encode(alarm.to_payload("bay1", 0.0, 1)), 1.0)
    view = fleet.get("bay1")
    assert view is not None
    assert view.alarm == "Belt too fast: stopped"


def test_malformed_and_foreign_messages_are_ignored_and_counted() -> None:
    fleet = Fleet(P)
    feed_running(fleet, "bay1", 0.0)
    bad = [
        (f"{P}/bay1/telemetry", b"not json"),
        (f"{P}/bay1/state", b"[1]"),
        (f"{P}/bay1/state", b'{"state": 5}'),
        (f"{P}/bay1/availability", b"maybe"),
        (f"{P}/bay1/event", b'{"no": "message"}'),
        (f"{P}/bay1/telemetry", b"\xff"),
    ]
    for topic, payload in bad:
        assert fleet.ingest(topic, payload, 1.0) is None
    assert fleet.ingest("other/bay1/telemetry", b"{}", 1.0) is None
    assert fleet.ingest(f"{P}/bay1/command/stop", b"{}", 1.0) is None
    assert fleet.malformed == len(bad)
    view = fleet.get("bay1")
    assert view is not None
    assert view.state == "running"
    assert view.speed_kmh == 1.9
