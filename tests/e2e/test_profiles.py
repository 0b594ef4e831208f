"""Every shipped profile, walked end to end through the real CLI on the virtual treadmill."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from tests.e2e.conftest import SHIPPED, CliRun


@pytest.mark.timeout(400)  # waits for its run in the shared two-lane pool
@pytest.mark.parametrize("profile", SHIPPED)
def test_shipped_profile_completes_and_leaves_the_belt_stopped(
    profile: str, profile_runs: dict[str, Future[CliRun]]
) -> None:
    run = profile_runs[profile].result(timeout=300)
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
