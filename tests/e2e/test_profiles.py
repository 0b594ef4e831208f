"""Every shipped profile, walked end to end through the real CLI on the virtual treadmill."""

from __future__ import annotations

import warnings
from concurrent.futures import Future

import pytest

from tests.e2e.conftest import PROFILE_SCALE, SHIPPED, CliRun, machine_stall_explains
from tests.stall import Stall, StallMonitor


@pytest.mark.timeout(480)  # the first one waits for the longest run (30 min at x10: 3 min)
@pytest.mark.parametrize("profile", SHIPPED)
def test_shipped_profile_completes_and_leaves_the_belt_stopped(
    profile: str, profile_runs: dict[str, Future[CliRun]]
) -> None:
    run = profile_runs[profile].result(timeout=420)
    if run.retried is not None:
        first = run.retried
        warnings.warn(
            f"{profile}: a machine-wide stall (seen by the test process too) tripped the 3 s "
            f"telemetry watchdog at x{PROFILE_SCALE:g}; that attempt failed closed (exit "
            f"{first.code}, belt stopped) and the profile was run again",
            stacklevel=1,
        )
    assert run.code == 0, run.explain()
    outcome = run.outcome
    assert outcome["outcome"] == "completed"
    assert outcome["state"] == "finished"
    assert run.alarms == [], run.explain()
    # The belt is stopped at the end: the last control-point write is Stop and the treadmill
    # itself (the simulator's own state) agrees.
    assert run.writes[-1]["command"] == "stop"
    assert run.simulator["running"] is False
    assert run.simulator["belt_speed_kmh"] == 0.0
    # Every segment was walked: the walking time covers the whole profile.
    states = [r["state"] for r in run.kinds("state")]
    assert states[:4] == ["idle", "preflight", "countdown", "running"]
    assert states[-2:] == ["stopping", "finished"]
    assert "Session complete" in run.stdout


def _halted_run(last_telemetry_wall: float, alarm_wall: float, alarms: list[str]) -> CliRun:
    log = [
        {"source": "ftms", "kind": "telemetry", "t": 1.0, "wall": last_telemetry_wall},
        *({"source": "session", "kind": "alarm", "alarm": a, "wall": alarm_wall} for a in alarms),
        {"source": "session", "kind": "simulator", "running": False, "belt_speed_kmh": 0.0},
    ]
    return CliRun(["run"], 4, "", "", log)


@pytest.mark.parametrize(
    ("stall", "alarms", "explained"),
    [
        ((100.05, 0.32), ["telemetry_timeout"], True),  # 0.35 s silence, 0.32 s of it a stall
        ((100.05, 0.02), ["telemetry_timeout"], False),  # no stall to speak of: a real silence
        (None, ["telemetry_timeout"], False),
        ((100.05, 0.32), ["overspeed"], False),  # only the watchdog can be tripped by a stall
        ((100.05, 0.32), ["telemetry_timeout", "stop_not_confirmed"], False),
        ((90.0, 0.32), ["telemetry_timeout"], False),  # a stall at another moment
    ],
)
def test_a_profile_is_rerun_only_when_a_machine_stall_explains_the_watchdog(
    stall: tuple[float, float] | None, alarms: list[str], explained: bool
) -> None:
    monitor = StallMonitor()
    if stall is not None:
        began, length = stall
        monitor.stalls.append(Stall(0.0, began, length))
    run = _halted_run(100.0, 100.35, alarms)
    assert machine_stall_explains(run, monitor, 10.0) is explained
