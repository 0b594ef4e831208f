"""The first-week path: shipped profiles for a new walker, offered by ``run`` on a new machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.commands.run import FIRST_PATH, offer_first_profile
from retro_treadmill.config import ClinicConfig
from retro_treadmill.profiles import load_profile
from retro_treadmill.records.paths import database_path
from retro_treadmill.records.store import Store
from tests.records import factory


def _args(tmp_path: Path, profile: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(profile=profile, data_dir=str(tmp_path))


def test_the_path_mixes_short_backward_turns_into_forward_walks_and_builds_to_ten_minutes() -> None:
    backward_totals = []
    for name in FIRST_PATH:
        profile = load_profile(name, ClinicConfig())
        directions = {s.direction for s in profile.segments}
        assert directions == {"forward", "backward"}
        assert profile.segments[0].direction == "forward"  # a normal walk first
        backward = [s.duration_s for s in profile.segments if s.direction == "backward"]
        backward_totals.append(sum(backward))
        # Each description names its sources (author and year, or the article's title).
        assert "Alghadir" in profile.description
        assert "2019" in profile.description
        assert "Dufek" in profile.description
        assert profile.speed_range_kmh[1] <= ClinicConfig().limits.max_speed_kmh
    first = load_profile(FIRST_PATH[0], ClinicConfig())
    assert {s.duration_s for s in first.segments if s.direction == "backward"} == {60.0}
    assert backward_totals == sorted(backward_totals)
    assert 600.0 <= backward_totals[-1] <= 900.0  # 10-15 min of backward walking


def test_a_machine_that_never_ran_a_session_is_offered_the_first_profile(tmp_path: Path) -> None:
    said: list[str] = []
    offered = offer_first_profile(_args(tmp_path), ask=lambda _q: "y", say=said.append)
    assert offered == FIRST_PATH[0]
    assert "has not run a session yet" in said[0]
    assert "start-week1" in said[0]
    declined = offer_first_profile(_args(tmp_path), ask=lambda _q: "n", say=said.append)
    assert declined is None


def test_without_a_terminal_the_offer_is_explained_and_profile_stays_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--simulate", "--headless", "--data-dir", str(tmp_path)])
    assert code == 2
    captured = capsys.readouterr()
    assert "has not run a session yet" in captured.out
    assert "retro-treadmill run --profile start-week1" in captured.out
    assert "--profile NAME|PATH" in captured.err


def test_a_machine_with_a_session_on_record_gets_no_offer(tmp_path: Path) -> None:
    with Store.open(database_path(str(tmp_path))) as store, store.transaction():
        store.begin_session(factory.info("s1"), writer_pid=os.getpid(), heartbeat_at=1e12)
    said: list[str] = []
    offered = offer_first_profile(_args(tmp_path), ask=lambda _q: "y", say=said.append)
    assert offered is None
    assert said == []
    assert offer_first_profile(_args(tmp_path, "demo"), ask=lambda _q: "y") is None
