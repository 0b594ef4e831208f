"""The monitor TUI against a real broker and two treadmill-host processes: shows both, stops one,
marks the other offline when its process is killed (last will)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.telemetry.fleet import Liveness
from retro_treadmill.telemetry.monitor import MonitorApp
from retro_treadmill.telemetry.schema import StateUpdate, encode
from retro_treadmill.telemetry.settings import MqttSettings
from tests.mosquitto import MosquittoBroker
from tests.telemetry.helpers import card_text, press_stop, until

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def treadmill_host(url: str, treadmill_id: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A publisher process (tests/telemetry/publisher_process.py), killed at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.telemetry.publisher_process",
        url,
        treadmill_id,
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            assert (await proc.stdout.readline()).strip() == b"connected"
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def liveness(app: MonitorApp, treadmill_id: str) -> Liveness | None:
    for row in app.fleet.rows(app._clock()):
        if row.view.treadmill_id == treadmill_id:
            return row.liveness
    return None


async def test_monitor_shows_two_treadmills_and_stops_one(mosquitto: MosquittoBroker) -> None:
    url = f"mqtt://{mosquitto.host}:{mosquitto.port}/retro-treadmill"
    settings = MqttSettings.from_url(url, treadmill_id="monitor", reconnect_min_s=0.1)
    app = MonitorApp(settings, units="kmh", sender="monitor-test")
    async with (
        treadmill_host(url, "bay1") as bay1,
        treadmill_host(url, "bay2") as bay2,
        app.run_test(size=(140, 20)) as pilot,
    ):
        await until(pilot, lambda: len(app._order) == 2)
        await until(
            pilot,
            lambda: (
                liveness(app, "bay1") is Liveness.ONLINE
                and liveness(app, "bay2") is Liveness.ONLINE
            ),
        )
        await until(pilot, lambda: "2.00 km/h" in card_text(app, "bay1", "numbers"))
        await until(pilot, lambda: "RUNNING" in card_text(app, "bay2", "state"))
        await until(pilot, lambda: "ONLINE" in card_text(app, "bay2", "liveness"))

        await press_stop(pilot, app, "bay1")
        assert bay1.stdout is not None
        async with asyncio.timeout(5):
            line = await bay1.stdout.readline()
        assert line.strip() == b"stop monitor-test"
        await until(pilot, lambda: "STOPPING" in card_text(app, "bay1", "state"))
        await until(pilot, lambda: "0.00 km/h" in card_text(app, "bay1", "numbers"))
        assert app.stops_sent == ["bay1"]
        assert "RUNNING" in card_text(app, "bay2", "state")

        bay2.send_signal(signal.SIGKILL)
        await until(pilot, lambda: liveness(app, "bay2") is Liveness.OFFLINE)
        await until(pilot, lambda: "OFFLINE" in card_text(app, "bay2", "liveness"))
        row_line = app.row_line("bay2")
        assert row_line is not None
        assert "dim" in str(row_line.spans[0].style)  # greyed
        await app.send_stop("bay2")
        await pilot.pause()
        messages = [str(n.message) for n in app._notifications]
        assert any("bay2 is OFFLINE: it may not receive it" in m for m in messages)


async def test_stop_without_a_broker_says_it_was_not_sent(tmp_path: Path) -> None:
    settings = MqttSettings(host="127.0.0.1", port=1, treadmill_id="monitor")
    app = MonitorApp(settings)
    async with app.run_test(size=(100, 20)) as pilot:
        sent = await app.send_stop("bay1")
        await pilot.pause()
        assert not sent
        assert app.stops_sent == []
        assert any("NOT sent" in str(n.message) for n in app._notifications)


def test_monitor_command_reports_a_bad_url_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["monitor", "--mqtt", "http://u:secret@host/x"]) == 2
    err = capsys.readouterr().err
    assert "must start with mqtt:// or mqtts://" in err
    assert "secret" not in err
    assert "Traceback" not in err


async def test_a_row_updated_again_at_once_shows_the_latest() -> None:
    settings = MqttSettings(host="127.0.0.1", port=1, treadmill_id="monitor")
    app = MonitorApp(settings, clock=lambda: 10.0)
    async with app.run_test(size=(120, 20)) as pilot:
        app.fleet.ingest("retro-treadmill/bay1/availability", b"online", 10.0)
        state = StateUpdate(state="running").to_payload("bay1", 0.0)
        app.fleet.ingest("retro-treadmill/bay1/state", encode(state), 10.0)
        app.refresh_fleet()  # adds the row
        app.refresh_fleet()  # updates it at once, before a frame was drawn
        await pilot.pause()
        assert "RUNNING" in card_text(app, "bay1", "state")
