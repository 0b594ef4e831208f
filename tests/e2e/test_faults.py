"""Faults end to end: the real CLI against a misbehaving virtual treadmill (issue 5 acceptance).

The demo profile runs at ``FAULT_SCALE``; the session starts walking at about 11 s of simulated
time (connect, 5 s countdown) and ramps from about 41 s.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import FAULT_SCALE, CliRun, run_cli

DEMO = ["run", "--profile", "demo", "--headless", "--yes-preflight"]
SCALE = ["--time-scale", f"{FAULT_SCALE:g}"]


def demo_run(tmp_path: Path, personality: str = "spec", *faults: str, **kw: object) -> CliRun:
    args = [*DEMO, f"--simulate={personality}", *SCALE]
    for fault in faults:
        args += ["--fault", fault]
    return run_cli(args, tmp_path / "events.jsonl", **kw)  # type: ignore[arg-type]


def assert_halted(run: CliRun) -> None:
    """Exit 4 (alarm), the belt stopped on the treadmill, and nothing moved it again."""
    assert run.code == 4, run.explain()
    assert run.outcome["outcome"] == "alarm"
    assert run.simulator["running"] is False, run.explain()
    assert run.simulator["belt_speed_kmh"] == 0.0
    first_alarm = run.log.index(run.kinds("alarm")[0])
    later = [r["command"] for r in run.log[first_alarm:] if r in run.writes]
    moving = [c for c in later if c.startswith(("start", "set-target-speed"))]
    assert moving == [], f"commands after the alarm: {later}\n{run.explain()}"


def test_link_drop_mid_ramp_stops_after_reconnect_and_does_not_resume(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "keeps-running-on-disconnect", "drop-link@50s")
    assert run.alarms[0] == "link_loss", run.explain()
    assert_halted(run)
    links = [r for r in run.kinds("link", source="ftms")]
    lost = next(i for i, r in enumerate(run.log) if r in links and r["event"]["type"] == "LinkLost")
    assert any(r["event"]["type"] == "Connected" and r["event"]["reconnect"] for r in links)
    # After the loss, the first command written is Stop (a Request Control may go before it on
    # the wire: it is not a command of its own), and nothing but Stop follows.
    after = [r["command"] for r in run.log[lost:] if r in run.writes and not r.get("auxiliary")]
    assert after, run.explain()
    assert after[0] == "stop", after
    assert set(after) == {"stop"}, after


def test_treadmill_that_ignores_speed_commands_is_halted_with_an_alarm(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "ignores-speed")
    assert run.alarms[0] in ("setpoint_not_reached", "unit_mismatch"), run.explain()
    assert run.alarms[0] == "setpoint_not_reached"
    assert_halted(run)


def test_mph_confused_treadmill_is_stopped_for_a_unit_mismatch(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "mph-confused")
    assert "unit_mismatch" in run.alarms, run.explain()
    assert_halted(run)


def test_console_speed_up_beyond_the_cap_is_an_overspeed_stop(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "spec", "console-speed-up:by=1.0mph@25s")
    assert run.alarms[0] == "overspeed", run.explain()
    assert_halted(run)


def test_safety_key_pulled_halts_with_an_alarm(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "spec", "safety-key@25s")
    assert run.alarms[0] == "safety_key", run.explain()
    assert_halted(run)


def test_sigterm_stops_the_belt_before_the_process_exits(tmp_path: Path) -> None:
    run = demo_run(tmp_path, "spec", signal_when="running", send=signal.SIGTERM)
    assert run.code == 3, run.explain()
    assert run.outcome["stop_requested"] == "signal"
    stops = [r for r in run.kinds("operator") if r["action"] == "stop"]
    assert stops
    assert stops[0]["detail"] == "SIGTERM"
    assert run.writes[-1]["command"] == "stop"
    assert run.simulator["writes"][-1] == "08 01"
    assert run.simulator["running"] is False
    assert run.simulator["belt_speed_kmh"] == 0.0


HEADER = 'name = "x"\ndescription = "test"\naudience = "tests"\nunits = "mph"\n'
SEGMENT = '[[segments]]\nkind = "hold"\ndirection = "backward"\nprompt = "walk"\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (HEADER + SEGMENT + "speed = 2.2\nduration_s = 60\n", "2.2 mph exceeds the cap"),
        (HEADER + SEGMENT + 'speed = "fast"\nduration_s = 60\n', "speed"),
        (HEADER + SEGMENT + "speed = 1.0\nduration_s = -5\n", "duration_s"),
        (HEADER + "segmentz = 1\n" + SEGMENT + "speed = 1.0\nduration_s = 60\n", "segmentz"),
        ("", "name"),
    ],
    ids=["over-cap", "wrong-type", "negative-duration", "unknown-key", "empty"],
)
def test_invalid_profile_exits_2_and_nothing_connects(
    tmp_path: Path, body: str, expected: str
) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(body)
    log = tmp_path / "events.jsonl"
    run = run_cli(
        ["run", "--profile", str(profile), "--simulate", *SCALE, "--headless", "--yes-preflight"],
        log,
        timeout=30,
    )
    assert run.code == 2, run.explain()
    message = run.stderr.strip()
    assert message.count("\n") == 0, message  # one clear error
    assert "bad.toml" in message, message
    assert expected in message, message
    assert not log.exists()  # nothing started, not even the event log
    assert "Connecting" not in run.stdout


def test_time_scale_with_a_real_treadmill_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    run = run_cli(["run", "--profile", "demo", "--time-scale", "10", "--headless"], log, timeout=30)
    assert run.code == 2
    assert "--time-scale works only with the virtual treadmill" in run.stderr
    assert not log.exists()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("result:code=999", "code=999: a result code is one byte, 0-255"),
        ("lose-responses:count=-3", "count=-3: write a count of 1 or more"),
        ("drop-notifications:for=0s@5s", "for=0s: write a duration above 0"),
    ],
    ids=["result-code-999", "negative-count", "zero-duration"],
)
def test_a_bad_fault_parameter_exits_2_before_anything_starts(
    tmp_path: Path, fault: str, expected: str
) -> None:
    log = tmp_path / "events.jsonl"
    run = run_cli([*DEMO, "--simulate", *SCALE, "--fault", fault], log, timeout=30)
    assert run.code == 2, run.explain()
    message = run.stderr.strip()
    assert message.count("\n") == 0, message
    assert f"--fault {fault}" in message, message
    assert expected in message, message
    assert not log.exists()
    assert "Connecting" not in run.stdout


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_time_scale_above_the_limit_is_refused_with_the_limit(
    tmp_path: Path, command: str
) -> None:
    from retro_treadmill.clock import MAX_TIME_SCALE

    args = {
        "run": [*DEMO, "--simulate"],
        "demo": ["demo", "--headless"],
    }[command]
    log = tmp_path / "events.jsonl"
    run = run_cli([*args, "--time-scale", f"{MAX_TIME_SCALE * 2:g}"], log, timeout=30)
    assert run.code == 2, run.explain()
    message = run.stderr.strip()
    assert f"at most {MAX_TIME_SCALE:g}" in message, message
    assert "false telemetry alarms" in message, message
    assert not log.exists()
