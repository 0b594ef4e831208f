"""The real app in a real terminal (tmux): keys in with send-keys, the screen out with
capture-pane, against the in-process virtual treadmill (time-scaled)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

POLL_S = 0.2
WAIT_S = 30.0


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def wait_for(self, check: Callable[[str], bool], what: str) -> str:
        # Polls an external process (bounded): there is no clock to inject across a terminal.
        deadline = time.monotonic() + WAIT_S
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(POLL_S)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"rt-tui-{uuid.uuid4().hex[:8]}")
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session.name], check=False, capture_output=True)


def test_session_under_tmux_stops_the_virtual_belt_with_space(tmux: Tmux, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    rc = tmp_path / "rc"
    command = (
        f"{sys.executable} -m retro_treadmill run --profile demo --simulate --time-scale 4 "
        f"--event-log {log}; echo $? > {rc}"
    )
    tmux.run("new-session", "-d", "-s", tmux.name, "-x", "80", "-y", "24", command)

    tmux.wait_for(lambda s: "Preflight checklist for demo" in s, "the checklist")
    tmux.keys("g")
    assert "Start is disabled" in tmux.wait_for(lambda s: "disabled" in s, "Start refused")
    tmux.keys("1", "2", "3", "4")

    def started(screen: str) -> bool:
        # Start is refused (and offered again) until telemetry shows the belt standing still.
        if "Preflight checklist" in screen:
            tmux.keys("g")
            return False
        return True

    tmux.wait_for(started, "the countdown")
    screen = tmux.wait_for(lambda s: "Speed 1.0 mph" in s and "RUNNING" in s, "the belt at 1.0")
    assert "STOP  [SPACE · S · ESC]" in screen
    assert "Link ✓ connected" in screen

    tmux.keys("Space")
    screen = tmux.wait_for(lambda s: "FINISHED" in s and "Speed 0.0 mph" in s, "the stop")
    assert "STOP SENT" in screen
    tmux.keys("q")
    deadline = time.monotonic() + WAIT_S
    while not rc.exists() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert rc.read_text().strip() == "3"  # stopped by the operator

    events = [json.loads(line) for line in log.read_text().splitlines()]
    simulator = [e for e in events if e["kind"] == "simulator"][-1]
    assert simulator["belt_speed_kmh"] == 0.0
    assert not simulator["running"]
    assert "08 01" in simulator["writes"]  # FTMS Stop reached the virtual treadmill
    operator = [(e["action"], e.get("by")) for e in events if e["kind"] == "operator"]
    assert operator[0][0] == "start"
    assert operator[1] == ("stop", "keyboard")  # the space bar, before the exit's own stop
