"""The headless console and ``demo`` through the real CLI: preflight answers, the Enter key."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import FAULT_SCALE, run_cli

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
    # Four "y" answers, then (once the belt runs) an empty line: Enter = STOP.
    run = run_cli(
        HEADLESS_DEMO,
        tmp_path / "events.jsonl",
        stdin_text="y\ny\ny\ny\n",
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


def test_a_declined_preflight_item_starts_nothing(tmp_path: Path) -> None:
    run = run_cli(HEADLESS_DEMO, tmp_path / "events.jsonl", stdin_text="y\nn\n")
    assert run.code == 3, run.explain()
    assert "nothing started" in run.stdout
    assert not [r for r in run.writes if r["command"] in ("start", "set-target-speed")]
    assert run.simulator["running"] is False


def test_demo_without_a_terminal_runs_headless_to_completion(tmp_path: Path) -> None:
    run = run_cli(["demo", "--time-scale", "30"], tmp_path / "events.jsonl", timeout=60)
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
