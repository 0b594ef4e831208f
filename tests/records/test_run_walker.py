"""``run --walker ID``: the walker's caps become the session's limits, their program picks the
profile (and says why), a profile above their cap is refused at load naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retro_treadmill.cli import build_parser
from retro_treadmill.commands.run import RunPlan, plan_from_args
from retro_treadmill.errors import ConfigError
from retro_treadmill.records.ratings import Rating
from retro_treadmill.records.store import Store
from retro_treadmill.records.totals import compute_totals
from retro_treadmill.records.walkers import Walker, WalkerCaps
from retro_treadmill.units import mph_to_kmh
from retro_treadmill.walker_session import rate_session
from tests.e2e.conftest import run_cli
from tests.records import factory


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RETRO_TREADMILL_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("[safety]\nmax_heart_rate_bpm = 160\n")
    folder = tmp_path / "data"
    with Store.open(folder / "sessions.db") as store:
        store.add_walker(
            Walker(
                "W-17",
                WalkerCaps(max_speed_kmh=mph_to_kmh(1.2), max_heart_rate_bpm=130),
                program="knee-oa-6-weeks",
                created_at=1.0,
            )
        )
        store.add_walker(Walker("W-2", created_at=1.0))
        store.add_walker(Walker("W-old", created_at=1.0, archived_at=2.0))
    return folder


def _plan(data_dir: Path, *argv: str) -> RunPlan:
    args = build_parser().parse_args(
        ["run", "--simulate", "--headless", "--data-dir", str(data_dir), *argv]
    )
    return plan_from_args(args)


def _session(store: Store, number: int, profile: str, pain: int, outcome: str = "completed") -> str:
    sid = f"{number:02d}" * 16
    start = factory.START + number * 86400
    info = factory.info(sid, walker="W-17", started_at=start, profile=profile)
    samples = factory.samples(start)
    with store.transaction():
        store.begin_session(info, writer_pid=os.getpid(), heartbeat_at=1e12)
        store.add_samples(sid, samples)
        store.finish_session(
            sid,
            ended_at=samples[-1].t,
            outcome=outcome,
            exit_code=0,
            totals=compute_totals(samples, []),
        )
    store.rate(sid, Rating(pain=pain, effort=3.0))
    return sid


def test_the_walkers_caps_are_the_sessions_limits(data_dir: Path) -> None:
    plan = _plan(data_dir, "--walker", "W-17")
    assert plan.walker_selection is not None
    assert plan.config.limits.max_speed_kmh == pytest.approx(mph_to_kmh(1.2))
    assert plan.config.limits.max_start_speed_kmh == pytest.approx(mph_to_kmh(1.0))
    assert plan.config.limits.max_heart_rate_bpm == 130  # tighter than the clinic's 160
    # No --profile: the program's first stage, and why.
    assert plan.profile.name == "knee-oa-week1"
    assert plan.walker_selection.reason == (
        "walker W-17: knee-oa-6-weeks, week 1, session 1 of 3: the program's first session "
        "-> knee-oa-week1"
    )


def test_the_fourth_session_runs_week_2(data_dir: Path) -> None:
    with Store.open(data_dir / "sessions.db") as store:
        for number, pain in enumerate((1, 2, 2)):
            _session(store, number, "knee-oa-week1", pain)
    plan = _plan(data_dir, "--walker", "W-17")
    assert plan.profile.name == "knee-oa-week2"
    assert plan.walker_selection is not None
    assert plan.walker_selection.reason == (
        "walker W-17: knee-oa-6-weeks, week 2, session 1 of 3: week 1 done: 3 sessions completed "
        "with pain at most 3/10 (last 2/10) -> knee-oa-week2"
    )


def test_a_profile_above_the_walkers_cap_is_refused_naming_it(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _plan(data_dir, "--walker", "W-17", "--profile", "knee-oa-week5")
    message = str(caught.value)
    assert "knee-oa-week5.toml: segment 2 'ramp': speed 1.40 mph is above walker W-17's cap " in (
        message
    )
    assert "cap 1.20 mph" in message
    # Without the walker the same profile is fine under the clinic's limits.
    args = build_parser().parse_args(["run", "--simulate", "--profile", "knee-oa-week5"])
    assert plan_from_args(args).profile.name == "knee-oa-week5"


def test_the_clinician_can_pick_another_profile(data_dir: Path) -> None:
    plan = _plan(data_dir, "--walker", "W-17", "--profile", "first-steps")
    assert plan.profile.name == "first-steps"
    assert plan.walker_selection is not None
    assert plan.walker_selection.reason.startswith(
        "walker W-17: first-steps, the profile chosen with --profile (the program "
        "knee-oa-6-weeks would run knee-oa-week1: week 1, session 1 of 3"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--walker", "W-99"), "no walker 'W-99'"),
        (("--walker", "W-2"), "walker W-2 has no program: give --profile"),
        (("--walker", "W-old", "--profile", "demo"), "walker W-old is archived"),
    ],
)
def test_walker_problems_stop_before_anything_connects(
    data_dir: Path, argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _plan(data_dir, *argv)


def test_the_rating_is_saved_with_the_session(data_dir: Path) -> None:
    with Store.open(data_dir / "sessions.db") as store:
        sid = _session(store, 7, "knee-oa-week1", 0)
    answers = iter(["3", "4", "a bit stiff"])
    told: list[str] = []
    rating = rate_session(
        data_dir / "sessions.db", sid[:8], lambda q: next(answers), told.append, now=lambda: 9.0
    )
    assert rating == Rating(3, 4.0, "a bit stiff", 9.0)
    with Store.open(data_dir / "sessions.db") as store:
        assert store.load(sid).row.rating == rating
    assert told[-1] == "Saved: pain 3/10, effort 4"


def test_run_walker_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    """The real CLI on the virtual treadmill with a walker: the reason is printed, the session
    runs to completion under the walker's limits."""
    with Store.open(data_dir / "sessions.db") as store:
        store.update_walker(
            Walker(
                "W-2",
                WalkerCaps(max_speed_kmh=mph_to_kmh(1.2)),
                name="Jo Secret",
                note="private note",
                created_at=1,
            )
        )
    result = run_cli(
        [
            *("run", "--walker", "W-2", "--profile", "demo", "--simulate", "--time-scale", "10"),
            *("--headless", "--yes-preflight", "--data-dir", str(data_dir), "--no-ask"),
        ],
        tmp_path / "log.jsonl",
        timeout=120,
    )
    assert result.code == 0, result.explain()
    assert result.stdout.startswith("walker W-2: demo, the profile chosen with --profile"), (
        result.explain()
    )
    # A walker's name and note stay in the database: not in the output, not in the event log.
    log_text = (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    for private in ("Jo Secret", "private note"):
        assert private not in result.stdout + result.stderr
        assert private not in log_text
    refused = run_cli(
        [
            *("run", "--walker", "W-2", "--profile", "knee-oa-week6", "--simulate"),
            *("--headless", "--data-dir", str(data_dir)),
        ],
        tmp_path / "log2.jsonl",
    )
    assert refused.code == 2
    assert "is above walker W-2's cap 1.20 mph" in refused.stderr
