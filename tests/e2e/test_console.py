"""The headless console and ``demo`` through the real CLI: preflight answers, the Enter key."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from retro_treadmill.service.session import FINISHED_NICENESS
from tests.e2e.conftest import FAULT_SCALE, REPO, CliRun, cli_argv, read_log, run_cli

HEADLESS_DEMO = [
    "run",
    "--profile",
    "demo",
    "--simulate",
    "--time-scale",
    f"{FAULT_SCALE:g}",
    "--headless",
]


def test_preflight_answered_yes_on_stdin_starts_and_enter_stops(tmp_path: Path) -> None:
    # Five "y" answers (never screened here: the spotter item is required too), then (once the
    # belt runs) an empty line: Enter = STOP.
    run = run_cli(
        HEADLESS_DEMO,
        tmp_path / "events.jsonl",
        stdin_text="y\ny\ny\ny\ny\n",
        type_when="running",
        type_text="\n",
    )
    assert run.code == 3, run.explain()
    assert "STOP" in run.stdout
    commands = [r["command"] for r in run.writes if not r.get("auxiliary")]
    assert commands[0] == "start"
    assert commands[-1] == "stop"
    assert run.simulator["running"] is False
    stops = [r for r in run.kinds("operator") if r["action"] == "stop"]
    assert stops[0]["by"] == "keyboard"
    # The belt confirmed at a standstill, the clean-up yields the CPU to other sessions' stops.
    (finished,) = run.kinds("finished")
    assert finished["niceness"] >= FINISHED_NICENESS
    assert finished["t"] > run.kinds("state")[-1]["t"]


def test_a_declined_preflight_item_starts_nothing(tmp_path: Path) -> None:
    run = run_cli(HEADLESS_DEMO, tmp_path / "events.jsonl", stdin_text="y\nn\n")
    assert run.code == 3, run.explain()
    assert "nothing started" in run.stdout
    assert not [r for r in run.writes if r["command"] in ("start", "set-target-speed")]
    assert run.simulator["running"] is False


def test_demo_without_a_terminal_runs_headless_to_completion(tmp_path: Path) -> None:
    args = ["demo", "--time-scale", f"{FAULT_SCALE:g}"]
    run = run_cli(args, tmp_path / "events.jsonl", timeout=60)
    assert run.code == 0, run.explain()
    assert "Session complete" in run.stdout
    assert run.outcome["outcome"] == "completed"
    assert run.simulator["belt_speed_kmh"] == 0.0


def test_sigterm_while_the_preflight_question_waits_ends_the_run(tmp_path: Path) -> None:
    # Nobody answers the checklist; a supervisor (systemd, a script) sends SIGTERM: the run ends
    # at once with the belt stopped, rather than waiting for an answer or a second signal.
    run = run_cli(
        HEADLESS_DEMO,
        tmp_path / "events.jsonl",
        stdin_text="",
        signal_when="preflight",
        timeout=30,
    )
    assert run.code == 3, run.explain()
    assert run.wall_s < 25, run.wall_s
    assert not [r for r in run.writes if r["command"] in ("start", "set-target-speed")]
    assert run.simulator["running"] is False
    assert run.outcome["stop_requested"] == "signal"


TURN_AROUND_PROFILE = """\
name = "turn"
description = "backward, then forward: one turn-around"
audience = "tests"
units = "mph"

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.0
duration_s = 20
prompt = "Walk backward."

[[segments]]
kind = "hold"
direction = "forward"
speed = 1.0
duration_s = 20
prompt = "Walk forward."
"""


def turn_around_run(tmp_path: Path, *extra: str, **kw: object) -> CliRun:
    profile = tmp_path / "turn.toml"
    profile.write_text(TURN_AROUND_PROFILE)
    args = [
        "run",
        "--profile",
        str(profile),
        "--simulate",
        "--time-scale",
        f"{FAULT_SCALE:g}",
        "--headless",
        "--yes-preflight",
        *extra,
    ]
    return run_cli(args, tmp_path / "events.jsonl", **kw)  # type: ignore[arg-type]


def test_yes_preflight_alone_waits_at_the_turn_around_prompt(tmp_path: Path) -> None:
    # --yes-preflight answers the checklist only: the belt stays stopped at the turn-around
    # (here for 2 s of wall time) until someone confirms; SIGTERM then ends the run.
    run = turn_around_run(tmp_path, signal_when="paused", signal_delay_s=2.0, timeout=60)
    assert run.code == 3, run.explain()
    assert "Turn around" in run.stdout
    paused = next(
        i for i, r in enumerate(run.log) if r in run.kinds("state") and r["state"] == "paused"
    )
    after = [r["command"] for r in run.log[paused:] if r in run.writes]
    assert not [c for c in after if c.startswith(("start", "set-target-speed"))], after
    assert run.simulator["running"] is False


def test_auto_turn_around_confirms_the_prompt_and_completes(tmp_path: Path) -> None:
    run = turn_around_run(tmp_path, "--auto-turn-around", timeout=60)
    assert run.code == 0, run.explain()
    resumes = [r for r in run.kinds("operator") if r["action"] == "resume"]
    assert [r.get("by") for r in resumes][:1] == ["--auto-turn-around"]
    assert run.simulator["belt_speed_kmh"] == 0.0


def test_auto_turn_around_needs_headless(tmp_path: Path) -> None:
    run = run_cli(
        ["run", "--profile", "demo", "--simulate", "--auto-turn-around"],
        tmp_path / "events.jsonl",
        timeout=30,
    )
    assert run.code == 2
    assert "--auto-turn-around is for headless" in run.stderr


def test_a_start_the_governor_refuses_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    # The Urevo reports 0.32 km/h steps, too coarse for the knee-OA ramp's 0.1 mph per 5 s: the
    # Start is refused. A scripted run must end saying why, not wait for ever in the preflight.
    args = [
        "run",
        "--profile",
        "knee-oa-week1",
        "--simulate=urevo-e1l",
        "--time-scale",
        f"{FAULT_SCALE:g}",
        "--headless",
        "--yes-preflight",
    ]
    run = run_cli(args, tmp_path / "events.jsonl", timeout=60)
    assert run.code == 2, run.explain()
    # refused before the preflight (issue 13): the speeds table, then why, then nothing
    assert "Speeds on this treadmill (its steps: 0.32 km/h)" in run.stdout
    assert "Preflight checklist" not in run.stdout
    assert "Nothing started." in run.stdout
    assert "retro-treadmill: error: cannot start:" in run.stderr
    assert not [r for r in run.writes if r["command"] in ("start", "set-target-speed")]
    assert run.simulator["running"] is False
    assert run.outcome["exit_code"] == 2


def test_output_nobody_reads_does_not_hold_up_the_session_or_its_stop(tmp_path: Path) -> None:
    """stdout is a pipe already full (``| less`` left on a page; a terminal paused with Ctrl+S
    is the same): every line the console shows waits, and the session, its keys and its Stop
    must not wait with it."""
    log = tmp_path / "events.jsonl"
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 512)  # full: the next write of the child waits
    os.set_blocking(write_end, True)
    proc = subprocess.Popen(
        cli_argv(*HEADLESS_DEMO, "--yes-preflight", "--event-log", str(log)),
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.PIPE,
        stdout=write_end,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    assert proc.stdin is not None
    try:
        deadline = time.monotonic() + 60
        while not [r for r in read_log(log) if r.get("state") == "running"]:
            assert time.monotonic() < deadline, "the session never ran with its output waiting"
            assert proc.poll() is None, f"exit {proc.returncode}"
            time.sleep(0.1)
        proc.stdin.write(b"\n")  # Enter = STOP (one line: stdin is not a terminal)
        proc.stdin.flush()
        deadline = time.monotonic() + 10
        while not [r for r in read_log(log) if r.get("kind") == "write" and r["bytes"] == "08 01"]:
            assert time.monotonic() < deadline, "the stop key was not acted on"
            time.sleep(0.05)
    finally:
        shown = _read_to_the_end(read_end, timeout_s=60)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(read_end)
    assert proc.returncode == 3
    assert b"Session stopped by the operator" in shown


def _read_to_the_end(fd: int, timeout_s: float) -> bytes:
    """Everything left in the pipe until every writer has closed it (the child exited)."""
    os.set_blocking(fd, False)
    data = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            break
        data += chunk
    return data


def test_a_headless_run_does_not_load_the_terminal_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Raspberry Pi, importing Textual costs seconds of start-up and megabytes the
    headless console never uses."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    run = run_cli(
        [*HEADLESS_DEMO, "--yes-preflight"], tmp_path / "events.jsonl", signal_when="running"
    )
    assert run.code == 3, run.explain()
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "retro_treadmill.service.headless" in imported
    assert not [m for m in imported if m.split(".")[0] == "textual"]
