"""The real app in a real terminal (tmux): keys in with send-keys, the screen out with
capture-pane, against the in-process virtual treadmill (time-scaled)."""

from __future__ import annotations

import json
import os
import shutil
import signal
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
        self.pane_pid: int | None = None

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        self.run("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), command)
        self.pane_pid = int(self.run("display-message", "-p", "-t", self.name, "#{pane_pid}"))

    def app_pids(self) -> list[int]:
        """The pane's process and its children (the app under test, with or without a shell)."""
        if self.pane_pid is None or not _alive(self.pane_pid):
            return []
        found = subprocess.run(
            ["pgrep", "-P", str(self.pane_pid)], capture_output=True, text=True, check=False
        )
        return [self.pane_pid, *(int(pid) for pid in found.stdout.split())]

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def tick_checklist_and_start(self) -> str:
        """Tick the four preflight items and press G until the countdown runs (Start is refused,
        and offered again, until telemetry shows the belt standing still); returns the screen
        once the belt walks at 1.0 mph."""
        self.keys("1", "2", "3", "4")

        def started(screen: str) -> bool:
            if "Preflight checklist" in screen:
                self.keys("g")
                return False
            return True

        self.wait_for(started, "the countdown")
        return self.wait_for(lambda s: "Speed 1.0 mph" in s and "RUNNING" in s, "the belt at 1.0")

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(f"rt-tui-{uuid.uuid4().hex[:8]}")
    yield session
    apps = session.app_pids()
    subprocess.run(["tmux", "kill-session", "-t", session.name], check=False, capture_output=True)
    # The terminal is gone (SIGHUP): the app must stop the belt and exit, never linger orphaned.
    deadline = time.monotonic() + WAIT_S
    while any(_alive(pid) for pid in apps) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    lingering = [pid for pid in apps if _alive(pid)]
    for pid in lingering:
        os.kill(pid, signal.SIGKILL)
    assert not lingering, f"the app outlived its terminal by {WAIT_S} s: {lingering}"


def _screened(tmp_path: Path) -> str:
    """A shell prefix: a data folder of the test's own, screened (all "no"), so that the app
    goes to the preflight rather than the screening form."""
    data = tmp_path / "data"
    answers = "balance=no dizziness=no neurological=no surgery=no"
    return (
        f"export RETRO_TREADMILL_DATA={data}; "
        f"{sys.executable} -m retro_treadmill screening set {answers} > /dev/null; "
    )


def _stopped_with_summary(screen: str) -> bool:
    return "FINISHED: belt stopped" in screen and "Session summary: stopped" in screen


def test_session_under_tmux_stops_the_virtual_belt_with_space(tmux: Tmux, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    rc = tmp_path / "rc"
    command = (
        f"{_screened(tmp_path)}{sys.executable} -m retro_treadmill run --profile demo "
        f"--simulate --time-scale 4 --event-log {log}; echo $? > {rc}"
    )
    tmux.start(command)

    tmux.wait_for(lambda s: "Preflight checklist for demo" in s, "the checklist")
    tmux.keys("g")
    assert "Start is disabled" in tmux.wait_for(lambda s: "disabled" in s, "Start refused")
    screen = tmux.tick_checklist_and_start()
    assert "STOP  [SPACE · S · ESC]" in screen
    assert "Link ✓ connected" in screen

    tmux.keys("Space")
    # Stopped: the state line says so and the session's summary replaces the live panels (the
    # event log below shows the virtual belt at 0).
    screen = tmux.wait_for(_stopped_with_summary, "the stop")
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
    # G may have been pressed more than once (Start is refused until telemetry shows the belt
    # standing still); then the space bar, before the exit's own stop.
    after_start = [op for op in operator if op[0] != "start"]
    assert after_start[0] == ("stop", "keyboard")


def test_a_terminal_that_goes_away_mid_session_stops_the_belt_and_ends_the_app(
    tmux: Tmux, tmp_path: Path
) -> None:
    log = tmp_path / "events.jsonl"
    tmux.start(
        f"{_screened(tmp_path)}{sys.executable} -m retro_treadmill run --profile demo "
        f"--simulate --time-scale 4 --event-log {log}"
    )
    tmux.wait_for(lambda s: "Preflight checklist for demo" in s, "the checklist")
    tmux.tick_checklist_and_start()
    apps = tmux.app_pids()
    assert apps, "the app is not running under the pane"
    tmux.run("kill-session", "-t", tmux.name)  # the terminal disappears (SIGHUP)
    deadline = time.monotonic() + WAIT_S
    while any(_alive(pid) for pid in apps) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert not any(_alive(pid) for pid in apps), "the app outlived its terminal"

    # The event log's last batch may be lost when the UI cannot close on a dead terminal (the
    # process then ends from a timer thread); what must be there is the Stop and the standstill.
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"kind": "command", "command": "Stop", "by": "signal"}.items() <= next(
        e for e in events if e["kind"] == "command" and e["command"] == "Stop"
    ).items()
    stops = [e for e in events if e["kind"] == "write" and e.get("bytes", "").startswith("08 01")]
    accepted = [
        e
        for e in events
        if e["kind"] == "simulator-log" and e["message"].endswith(": 08 01 -> result 0x01")
    ]
    assert stops, "the Stop was never written to the virtual treadmill"
    assert accepted, "the virtual treadmill did not accept the Stop"
    # The belt then runs down on the treadmill's own; the virtual one lives in this process, so
    # its standstill is logged only when the process outlives the run-down (it mostly does).
    after = [
        e["message"]
        for e in events
        if e["kind"] == "simulator-log"
        and "belt at" in e["message"]
        and e["wall"] > accepted[0]["wall"]
    ]
    assert not any("(running)" in message for message in after), after


def test_first_use_screening_spotter_and_step_on_in_a_real_terminal(
    tmux: Tmux, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "events.jsonl"
    tmux.start(
        f"export RETRO_TREADMILL_DATA={data}; {sys.executable} -m retro_treadmill run "
        f"--profile demo --simulate --time-scale 4 --event-log {log}"
    )
    tmux.wait_for(lambda s: "Safety screening" in s, "the screening form")
    tmux.keys("n", "y", "n", "n")
    tmux.wait_for(lambda s: "A spotter is required" in s, "the screening's outcome")
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "Spotter required" in s, "the preflight with the spotter")
    assert "5. A spotter stands beside the treadmill" in screen
    tmux.keys("1", "2", "3", "4", "g")
    tmux.wait_for(lambda s: "Start refused: tick item 5, the spotter" in s, "the refusal")
    tmux.keys("5")

    def started(screen: str) -> bool:
        if "Preflight checklist" in screen:
            tmux.keys("g")
            return False
        return True

    tmux.wait_for(started, "the countdown")
    screen = tmux.wait_for(lambda s: "STEP ON: the belt moves at 1.0 mph" in s, "STEP ON")
    assert "RUNNING" in screen
    tmux.keys("Space")
    tmux.wait_for(_stopped_with_summary, "the stop")
    shown = subprocess.run(
        [sys.executable, "-m", "retro_treadmill", "screening", "show", "--json"],
        env={**os.environ, "RETRO_TREADMILL_DATA": str(data)},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(shown.stdout)["answers"]["dizziness"] is True
    events = [json.loads(line) for line in log.read_text().splitlines()]
    start = next(e for e in events if e["kind"] == "operator" and e["action"] == "start")
    assert any("A spotter stands" in item for item in start["checklist"])
    step_on = next(e for e in events if e["kind"] == "step-on")
    assert abs(step_on["belt_speed_kmh"] - step_on["target_speed_kmh"]) <= 0.17


def test_first_use_with_no_yes_starts_without_a_spotter_item(tmux: Tmux, tmp_path: Path) -> None:
    data = tmp_path / "data"
    tmux.start(
        f"export RETRO_TREADMILL_DATA={data}; {sys.executable} -m retro_treadmill run "
        f"--profile demo --simulate --time-scale 4 --event-log {tmp_path / 'events.jsonl'}"
    )
    tmux.wait_for(lambda s: "Safety screening" in s, "the screening form")
    tmux.keys("n", "n", "n", "n")
    tmux.wait_for(lambda s: "No spotter required" in s, "the screening's outcome")
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "Preflight checklist for demo" in s, "the preflight")
    assert "Spotter" not in screen
    assert "5." not in screen
    tmux.tick_checklist_and_start()  # four items: the service does not ask for a fifth
