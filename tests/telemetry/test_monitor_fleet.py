"""The monitor at clinic scale, without a broker: 12 treadmills in mixed states fed straight into
its fleet model (fixed clock), driven with the keys an operator uses; snapshots at 80x24 and
160x48. Regenerate after an intended change with ``--snapshot-update`` and review the SVGs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest
from textual.app import App
from textual.pilot import Pilot

from retro_treadmill.telemetry.monitor import MonitorApp, header_line
from retro_treadmill.telemetry.schema import (
    Event,
    EventCategory,
    StateUpdate,
    TelemetrySample,
    encode,
)
from retro_treadmill.telemetry.settings import MqttSettings

NOW = 100.0
PREFIX = "retro-treadmill"


class SnapCompare(Protocol):
    def __call__(
        self,
        app: App[None],
        *,
        terminal_size: tuple[int, int],
        run_before: Callable[[Pilot[None]], Awaitable[None]] | None = None,
    ) -> bool: ...


# id, availability, state, alarm, telemetry age (s; None = never), speed km/h, incline, hr, m
CLINIC: list[tuple[str, str, str, str | None, float | None, float, float, int | None, float]] = [
    ("bay01", "online", "running", None, 0.5, 1.61, 1.0, 96, 420.0),
    ("bay02", "online", "running", None, 0.3, 2.01, 2.5, 104, 1210.0),
    ("bay03", "online", "alarm", "Belt too fast: stopping", 0.4, 0.0, 0.0, 88, 300.0),
    ("bay04", "online", "finished", None, 1.0, 0.0, 0.0, None, 2400.0),
    ("bay05", "offline", "running", None, 40.0, 1.61, 0.0, 92, 150.0),
    ("bay06", "online", "running", None, 9.0, 1.61, 0.5, 99, 800.0),
    ("bay07", "online", "countdown", None, 0.2, 0.0, 0.0, 75, 0.0),
    ("bay08", "online", "stopping", None, 0.2, 0.8, 0.0, 101, 950.0),
    ("bay09", "online", "paused", None, 0.6, 0.0, 1.0, 90, 640.0),
    ("bay10", "online", "idle", None, None, 0.0, 0.0, None, 0.0),
    ("bay11", "online", "running", "Heart rate lost", 0.1, 1.2, 0.0, None, 75.0),
    ("bay12", "offline", "finished", None, 300.0, 0.0, 0.0, None, 1800.0),
]


def clinic_app() -> MonitorApp:
    """A monitor whose fleet has seen the 12 treadmills of :data:`CLINIC` (no broker: port 1)."""
    settings = MqttSettings(
        host="127.0.0.1", port=1, treadmill_id="monitor", reconnect_min_s=60, reconnect_max_s=60
    )
    app = MonitorApp(settings, units="mph", clock=lambda: NOW)
    fleet = app.fleet
    for tid, availability, state, alarm, age, kmh, incline, hr, metres in CLINIC:
        fleet.ingest(f"{PREFIX}/{tid}/availability", availability.encode(), 0.0)
        update = StateUpdate(state, profile="intervals", alarm=alarm)
        fleet.ingest(f"{PREFIX}/{tid}/state", encode(update.to_payload(tid, 0.0)), 0.0)
        if age is not None:
            sample = TelemetrySample(kmh, incline, metres, 60.0, hr)
            fleet.ingest(
                f"{PREFIX}/{tid}/telemetry", encode(sample.to_payload(tid, 0.0)), NOW - age
            )
        if alarm is not None:
            event = Event(EventCategory.ALARM, "alarm", alarm)
            fleet.ingest(f"{PREFIX}/{tid}/event", encode(event.to_payload(tid, 0.0, 1)), NOW)
    return app


def greyed(app: MonitorApp, treadmill_id: str) -> bool:
    """Whether the row of ``treadmill_id`` is drawn dim (its first cell, as every other)."""
    line = app.row_line(treadmill_id)
    assert line is not None
    return bool(line.spans) and "dim" in str(line.spans[0].style)


async def shown(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, MonitorApp)
    app.refresh_fleet()
    await pilot.pause()


async def test_rows_sorted_by_state_alarms_first_finished_and_offline_last() -> None:
    app = clinic_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot)
        order = list(app._order)
        assert order[:2] == ["bay03", "bay11"]  # alarms
        assert order[2] == "bay06"  # stale while running (9 s without telemetry)
        assert order[3] == "bay08"  # stopping
        assert set(order[4:8]) == {"bay01", "bay02", "bay07", "bay09"}  # moving or about to
        assert order[8] == "bay10"  # idle
        assert order[-3:] == ["bay04", "bay05", "bay12"]  # finished, then offline
        # At 100 columns, incline, heart rate and distance are on screen with their units.
        header = str(header_line())
        for name in ("Incline", "Heart rate", "Distance"):
            assert name in header
        row = app.row_text("bay02")
        assert (row["speed"], row["incline"], row["heart_rate"], row["distance"]) == (
            "1.25 mph",
            "2.5 %",
            "104 bpm",
            "1210 m",
        )
        assert app.row_text("bay06")["liveness"] == "STALE 9s"
        assert greyed(app, "bay12")
        assert greyed(app, "bay04")
        assert not greyed(app, "bay01")
        assert not greyed(app, "bay03")


async def test_stop_by_key_on_the_highlighted_row_and_remove_only_finished_or_offline() -> None:
    app = clinic_app()
    sent: list[str] = []

    async def send_stop(treadmill_id: str) -> bool:
        sent.append(treadmill_id)
        return True

    app.send_stop = send_stop  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot)
        assert app.selected_treadmill() == "bay03"  # the first row, highlighted
        await pilot.press("s")
        await pilot.press("down", "down")
        assert app.selected_treadmill() == "bay06"
        # The highlight is visible: that row, and only it, carries the cursor style.
        assert [slot.has_class("-cursor") for slot in app._slots].index(True) == 2
        assert sum(slot.has_class("-cursor") for slot in app._slots) == 1
        await pilot.press("enter")
        await pilot.press("j")
        await pilot.press("s")
        assert sent == ["bay03", "bay06", "bay08"]
        # x on a running treadmill: it stays (with a word why).
        await pilot.press("x")
        assert "bay08" in app._order
        # The last row (offline, finished) goes; the highlight stays on the table.
        for _ in range(12):
            await pilot.press("down")
        assert app.selected_treadmill() == "bay12"
        await pilot.press("x")
        await pilot.pause()
        assert "bay12" not in app._order
        assert len(app._order) == 11
        # A treadmill removed comes back with its next message.
        app.fleet.ingest(f"{PREFIX}/bay12/availability", b"online", NOW)
        await shown(pilot)
        assert "bay12" in app._order


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_monitor_snapshot_twelve_treadmills(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await shown(pilot)
        await pilot.press("down", "down")  # the focus (highlighted row) is visible

    assert snap_compare(clinic_app(), terminal_size=size, run_before=before)
