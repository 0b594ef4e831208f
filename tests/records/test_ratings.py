"""Ratings: the scales, the headless questions, the store and ``history rate``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.records.paths import DATA_ENV
from retro_treadmill.records.ratings import (
    Rating,
    RatingError,
    ask_rating,
    parse_effort,
    parse_pain,
)
from retro_treadmill.records.store import Store
from retro_treadmill.records.totals import compute_totals
from tests.records import factory

SID = "7a7e" + "0" * 28


@pytest.mark.parametrize(("text", "value"), [("0", 0), (" 10 ", 10), ("", None), ("3", 3)])
def test_pain_scale(text: str, value: int | None) -> None:
    assert parse_pain(text) == value


@pytest.mark.parametrize("text", ["11", "-1", "2.5", "a lot"])
def test_pain_off_the_scale(text: str) -> None:
    with pytest.raises(RatingError, match=r"0 .* 10"):
        parse_pain(text)


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("3", 3.0), ("7,5", 7.5), ("", None)])
def test_borg_cr10(text: str, value: float | None) -> None:
    assert parse_effort(text) == value


@pytest.mark.parametrize("text", ["10.5", "-1", "2.3", "nan", "hard"])
def test_effort_off_the_scale(text: str) -> None:
    with pytest.raises(RatingError, match="0"):
        parse_effort(text)


def test_headless_questions_ask_again_after_a_bad_answer() -> None:
    answers = iter(["12", "2", "4", "knee fine"])
    told: list[str] = []
    rating = ask_rating(lambda q: next(answers), told.append, rated_at=5.0)
    assert rating == Rating(pain=2, effort=4.0, note="knee fine", rated_at=5.0)
    assert len(told) == 1
    assert "0 (no pain) to 10" in told[0]


def test_headless_questions_stop_at_the_end_of_input() -> None:
    answers = iter(["1", None])
    rating = ask_rating(lambda q: next(answers), lambda t: None, rated_at=5.0)
    assert rating == Rating(pain=1, effort=None, note="", rated_at=5.0)


def test_three_bad_answers_skip_the_question() -> None:
    answers = iter(["x", "y", "z", "3", ""])
    rating = ask_rating(lambda q: next(answers), lambda t: None, rated_at=1.0)
    assert rating.pain is None
    assert rating.effort == 3.0


def _record(folder: Path) -> None:
    with Store.open(folder / "sessions.db") as store, store.transaction():
        info = factory.info(SID)
        store.begin_session(info, writer_pid=os.getpid(), heartbeat_at=1e12)
        samples = factory.samples()
        store.add_samples(SID, samples)
        store.finish_session(
            SID,
            ended_at=samples[-1].t,
            outcome="completed",
            exit_code=0,
            totals=compute_totals(samples, []),
        )


def test_history_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    _record(tmp_path)
    assert main(["history", "rate", "7a7e", "--pain", "2", "--effort", "3"]) == 0
    assert "pain 2/10, effort 3 (moderate)" in capsys.readouterr().out
    # Only what is named changes.
    assert main(["history", "rate", "7a7e", "--note", "felt easy"]) == 0
    capsys.readouterr()
    assert main(["history", "show", "7a7e", "--json"]) == 0
    rating = json.loads(capsys.readouterr().out)["rating"]
    assert (rating["pain"], rating["effort"], rating["note"]) == (2, 3.0, "felt easy")
    assert main(["history", "rate", "7a7e", "--pain", "12"]) == 2
    assert "the scale is 0 (no pain) to 10" in capsys.readouterr().err
    # Without options the questions are asked on stdin.
    monkeypatch.setattr("sys.stdin", io.StringIO("5\n7\nsore after\n"))
    assert main(["history", "rate", "7a7e"]) == 0
    capsys.readouterr()
    assert main(["history", "show", "7a7e"]) == 0
    assert "rating     pain 5/10, effort 7 (very strong); note: sore after" in (
        capsys.readouterr().out
    )
    with Store.open(tmp_path / "sessions.db") as store:
        row = store.list_sessions()[0]
    assert row.rating is not None
    assert row.rating.pain == 5
