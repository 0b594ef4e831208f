"""The straddle start and the screening through the real CLI on the virtual treadmill."""

from __future__ import annotations

import subprocess
from pathlib import Path

from retro_treadmill.safety.limits import DEFAULT_LIMITS
from tests.e2e.conftest import FAULT_SCALE, REPO, _env, cli_argv, run_cli

STRADDLE = "Stand on the side rails, feet off the belt"
WAITING = "The belt is starting (1.0 mph): stay on the side rails and wait for STEP ON."
STEP_ON = "STEP ON: the belt moves at 1.0 mph"

TURNING = """
name = "turning"
description = "two directions, for the straddle start at a turn-around"
audience = "tests"
units = "mph"

[[segments]]
kind = "hold"
direction = "forward"
speed = 1.0
duration_s = 10
prompt = "Walk forward."

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.0
duration_s = 10
prompt = "Walk backward."
"""


def _prompts(stdout: str) -> list[str]:
    return [line[3:] for line in stdout.splitlines() if line.startswith(">> ")]


def test_straddle_prompts_in_order_and_step_on_only_once_the_belt_runs_at_the_start_speed(
    tmp_path: Path,
) -> None:
    profile = tmp_path / "turning.toml"
    profile.write_text(TURNING, encoding="utf-8")
    args = ["run", "--profile", str(profile), "--simulate", "--time-scale", f"{FAULT_SCALE:g}"]
    args += ["--headless", "--yes-preflight", "--auto-turn-around"]
    run = run_cli(args, tmp_path / "events.jsonl", timeout=60)
    assert run.code == 0, run.explain()
    prompts = _prompts(run.stdout)
    # Each start: where to stand (preflight / after turning around), the countdown says it
    # again, the belt starts with the walker on the rails, then STEP ON.
    starts = [i for i, p in enumerate(prompts) if p.startswith(STEP_ON)]
    assert len(starts) == 2, prompts
    first = prompts[: starts[0] + 1]
    assert first[0].startswith(STRADDLE)
    assert "facing the console" in first[0]  # the first segment is walked forwards
    assert first[1] == first[0]  # the countdown
    assert first[2] == WAITING
    assert first[3].startswith(STEP_ON)
    turn = prompts[starts[0] + 1 : starts[1] + 1]
    assert turn[0] == "Walk forward."
    assert turn[1].startswith("Turn around now to walk backward")
    assert "side rails" in turn[1]
    assert turn[2].startswith(STRADDLE)
    assert "facing the rear" in turn[2]
    assert turn[3] == WAITING
    assert turn[4].startswith(STEP_ON)
    assert "walk backwards" in turn[4]
    # The event log: STEP ON was shown only once telemetry from the virtual treadmill reported
    # the belt at the start speed; the samples since the Start before that were slower.
    tolerance = DEFAULT_LIMITS.setpoint_tolerance_kmh + 1e-6
    step_ons = run.kinds("step-on")
    assert len(step_ons) == 2
    telemetry = run.kinds("telemetry", source="ftms")
    starts_at = [r["t"] for r in run.writes if r["command"] == "start"]
    assert len(starts_at) == 2
    for started, step_on in zip(starts_at, step_ons, strict=True):
        target = step_on["target_speed_kmh"]
        assert abs(step_on["belt_speed_kmh"] - target) <= tolerance
        since = [r for r in telemetry if started <= r["t"] <= step_on["t"]]
        assert since, "no Treadmill Data between Start and STEP ON"
        assert abs(since[-1]["record"]["speed_kmh"] - target) <= tolerance
        earlier = [r["record"]["speed_kmh"] for r in since[:-1]]
        assert all(abs(speed - target) > tolerance for speed in earlier)


def test_a_screening_yes_makes_the_spotter_item_required(tmp_path: Path) -> None:
    env = {**_env(), "RETRO_TREADMILL_DATA": str(tmp_path / "data")}
    answers = ["balance=yes", "dizziness=no", "neurological=no", "surgery=no"]
    done = subprocess.run(
        cli_argv("screening", "set", *answers),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "A spotter is required" in done.stdout
    demo = ["run", "--profile", "demo", "--simulate", "--time-scale", f"{FAULT_SCALE:g}"]
    # --data-dir: the run reads the screening just answered, whatever RETRO_TREADMILL_DATA the
    # test session exports for every other test.
    demo += ["--headless", "--data-dir", str(tmp_path / "data")]
    # Four items ticked, the spotter's declined: refused with the reason, nothing moves.
    run = run_cli(demo, tmp_path / "events.jsonl", stdin_text="y\ny\ny\ny\nn\n", timeout=60)
    assert run.code == 3, run.explain()
    assert "physiotherapist" in run.stdout
    assert (
        "Start refused: 'A spotter stands beside the treadmill, within reach of the walker and "
        "the stop' must be ticked: the screening answered yes to: balance problems, or a fall "
        "in the last year."
    ) in run.stdout
    assert "nothing started" in run.stdout
    assert not [r for r in run.writes if r["command"] in ("start", "set-target-speed")]
    # Ticked: the session starts (and Enter stops it once running).
    run = run_cli(
        demo,
        tmp_path / "events2.jsonl",
        stdin_text="y\ny\ny\ny\ny\n",
        type_when="running",
        type_text="\n",
        timeout=60,
    )
    assert run.code == 3, run.explain()
    assert next(r["command"] for r in run.writes if not r.get("auxiliary")) == "start"
    spotter = [r for r in run.kinds("operator") if r.get("action") == "start"]
    assert any("A spotter stands" in item for item in spotter[0]["checklist"])
