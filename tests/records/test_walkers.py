"""Walkers: caps that only tighten the clinic's, the store, the schema migration and the
``walkers`` command line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.config import parse_config
from retro_treadmill.programs import program_paths
from retro_treadmill.records.paths import DATA_ENV
from retro_treadmill.records.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError
from retro_treadmill.records.walkers import (
    CAP_SPECS,
    Walker,
    WalkerCaps,
    WalkerError,
    check_caps,
    check_walker_id,
    effective_limits,
    governor_supports,
)
from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.units import mph_to_kmh
from tests.records import factory


def test_walker_caps_tighten_the_clinic_limits() -> None:
    caps = WalkerCaps(max_speed_kmh=mph_to_kmh(0.9), max_incline_pct=2.0, max_heart_rate_bpm=120)
    limits = effective_limits(DEFAULT_LIMITS, Walker("W-1", caps))
    assert limits.max_speed_kmh == pytest.approx(mph_to_kmh(0.9))
    # The start-speed cap (1.0 mph by default) follows a lower speed cap.
    assert limits.max_start_speed_kmh == pytest.approx(mph_to_kmh(0.9))
    assert limits.max_incline_pct == 2.0
    assert limits.max_heart_rate_bpm == 120
    # Everything else is the clinic's.
    assert limits.speed_increase_kmh == DEFAULT_LIMITS.speed_increase_kmh


def test_the_lowest_cap_wins_whichever_side_sets_it() -> None:
    clinic = parse_config("[safety]\nmax_speed_mph = 1.1\nmax_heart_rate_bpm = 110\n").limits
    # A stored walker cap above a clinic cap that was lowered later cannot loosen it.
    caps = WalkerCaps(max_speed_kmh=mph_to_kmh(1.3), max_heart_rate_bpm=130)
    limits = effective_limits(clinic, caps)
    assert limits.max_speed_kmh == pytest.approx(mph_to_kmh(1.1))
    assert limits.max_heart_rate_bpm == 110
    assert effective_limits(clinic, None) is clinic


def test_a_cap_above_the_clinic_cap_is_refused_naming_the_clinic_cap() -> None:
    clinic = parse_config("[safety]\nmax_speed_mph = 1.2\n", "/clinic/config.toml")
    with pytest.raises(WalkerError) as caught:
        check_caps(WalkerCaps(max_speed_kmh=mph_to_kmh(1.4)), clinic.limits, clinic.source)
    message = str(caught.value)
    assert "--max-speed-mph 1.4 mph is above the clinic cap max_speed_mph = 1.2 mph" in message
    assert "/clinic/config.toml" in message
    with pytest.raises(WalkerError, match=r"max_incline_pct = 5 % \(built-in defaults\)"):
        check_caps(WalkerCaps(max_incline_pct=6.0), DEFAULT_LIMITS, "built-in defaults")
    heart = parse_config("[safety]\nmax_heart_rate_bpm = 130\n").limits
    with pytest.raises(WalkerError, match="max_heart_rate_bpm = 130 bpm"):
        check_caps(WalkerCaps(max_heart_rate_bpm=140), heart, "c")
    # No clinic heart-rate limit: any sane walker limit tightens.
    check_caps(WalkerCaps(max_heart_rate_bpm=140), DEFAULT_LIMITS, "d")
    check_caps(WalkerCaps(max_speed_kmh=mph_to_kmh(1.2)), clinic.limits, clinic.source)


@pytest.mark.parametrize(
    ("caps", "match"),
    [
        (WalkerCaps(max_speed_kmh=-1.0), "above 0"),
        (WalkerCaps(max_speed_kmh=math.nan), "above 0"),
        (WalkerCaps(max_speed_kmh=mph_to_kmh(0.3)), "below the minimum running speed"),
        (WalkerCaps(max_heart_rate_bpm=400), "outside 30-250 bpm"),
    ],
)
def test_nonsense_caps_are_refused(caps: WalkerCaps, match: str) -> None:
    with pytest.raises(WalkerError, match=match):
        check_caps(caps, DEFAULT_LIMITS, "d")


def test_every_walker_cap_is_a_limit_the_governor_enforces() -> None:
    """A walker cap the governor had no field for would be refused at every session start (fail
    closed); each one the CLI offers must be a governor limit."""
    assert all(governor_supports(spec.field) for spec in CAP_SPECS)


def test_the_heart_rate_hold_tightens_the_governor_and_stays_below_the_cap() -> None:
    caps = WalkerCaps(max_heart_rate_bpm=130, hr_hold_above_bpm=115)
    check_caps(caps, DEFAULT_LIMITS, "d")
    limits = effective_limits(DEFAULT_LIMITS, caps)
    assert limits.hr_hold_above_bpm == 115
    with pytest.raises(WalkerError, match="above --max-heart-rate"):
        check_caps(WalkerCaps(max_heart_rate_bpm=110, hr_hold_above_bpm=115), DEFAULT_LIMITS, "d")


@pytest.mark.parametrize("good", ["W-17", "knee03", "a.b_c-1", "x" * 32])
def test_pseudonymous_ids(good: str) -> None:
    assert check_walker_id(good) == good


@pytest.mark.parametrize("bad", ["", "Jane Doe", "-x", "x" * 33, "é", "a/b"])
def test_ids_that_are_not_pseudonyms_are_refused(bad: str) -> None:
    with pytest.raises(WalkerError, match="pseudonym"):
        check_walker_id(bad)


def test_store_round_trip_and_archive(tmp_path: Path) -> None:
    walker = Walker(
        "W-1",
        WalkerCaps(max_speed_kmh=1.9, max_heart_rate_bpm=120),
        name="Local Name",
        program="knee-oa-6-weeks",
        note="left knee",
        created_at=1.0,
    )
    with Store.open(tmp_path / "s.db") as store:
        store.add_walker(walker)
        assert store.walker("W-1") == walker
        with pytest.raises(StoreError, match="exists already"):
            store.add_walker(walker)
        archived = Walker("W-1", walker.caps, walker.name, None, "", 1.0, archived_at=2.0)
        store.update_walker(archived)
        assert store.list_walkers() == []
        assert store.list_walkers(include_archived=True) == [archived]


def test_a_v1_database_gains_walkers_and_ratings_keeping_its_sessions(tmp_path: Path) -> None:
    """The migration from the first release: sessions recorded before walkers existed keep
    their walker ids and samples, are unrated, and walkers can be added."""
    path = tmp_path / "s.db"
    info = factory.info("ab" * 16, walker="W-17")
    with Store.open(path, migrations=MIGRATIONS[:1]) as store:
        with store.transaction():
            store.begin_session(info, writer_pid=os.getpid(), heartbeat_at=1e12)
            store.add_samples(info.session_id, factory.samples())
        assert store.schema_version() == 1
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        record = store.load("abab")
        assert record.info.walker_id == "W-17"
        assert record.samples == tuple(factory.samples())
        assert record.row.rating is None
        store.add_walker(Walker("W-17", created_at=5.0))
        assert [w.walker_id for w in store.list_walkers()] == ["W-17"]


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    config = tmp_path / "config.toml"
    config.write_text("[safety]\nmax_speed_mph = 1.4\n", encoding="utf-8")
    monkeypatch.setenv("RETRO_TREADMILL_CONFIG", str(config))
    return tmp_path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_walkers_command_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(
        capsys,
        *("walkers", "add", "W-17", "--name", "Jo Bloggs", "--max-speed-mph", "1.2"),
        *("--max-heart-rate", "125", "--program", "knee-oa-6-weeks", "--note", "R knee"),
    )
    assert code == 0, err
    assert "W-17: max speed 1.2 mph, max heart rate 125 bpm; program knee-oa-6-weeks" in out

    code, out, err = _cli(capsys, "walkers", "add", "W-18", "--max-speed-mph", "1.5")
    assert code == 2
    assert f"above the clinic cap max_speed_mph = 1.4 mph ({env / 'config.toml'})" in err

    code, _, err = _cli(capsys, "walkers", "add", "W-19", "--program", "no-such-program")
    assert code == 2
    shipped = ", ".join(path.stem for path in program_paths())
    assert f"no program named 'no-such-program'; known programs: {shipped}" in err
    assert "knee-oa-6-weeks" in shipped

    code, out, _ = _cli(capsys, "walkers", "show", "W-17")
    assert code == 0
    assert "effective  max speed 1.20 mph" in out
    assert "next       week 1, session 1 of 3: the program's first session" in out

    code, out, err = _cli(capsys, "walkers", "edit", "W-17", "--max-speed-mph", "none")
    assert code == 0, err
    code, out, _ = _cli(capsys, "walkers", "show", "W-17", "--json")
    shown = json.loads(out)
    assert shown["max_speed_kmh"] is None
    assert shown["effective"]["max_speed_kmh"] == pytest.approx(mph_to_kmh(1.4))
    assert shown["max_heart_rate_bpm"] == 125
    assert shown["name"] == "Jo Bloggs"

    code, _, err = _cli(capsys, "walkers", "edit", "W-17", "--max-incline", "7")
    assert code == 2
    assert "max_incline_pct = 5 %" in err

    assert _cli(capsys, "walkers", "archive", "W-17")[0] == 0
    code, out, _ = _cli(capsys, "walkers", "list")
    assert "W-17" not in out
    code, out, _ = _cli(capsys, "walkers", "list", "--all")
    assert "archived" in out
    assert "Jo Bloggs" in out

    code, _, err = _cli(capsys, "walkers", "show", "W-99")
    assert code == 2
    assert "no walker 'W-99'" in err
    code, _, err = _cli(capsys, "walkers", "add", "Jo Bloggs")
    assert code == 2
    assert "pseudonym" in err


def _walked(db: Path, session_id: str, walker: str) -> None:
    from retro_treadmill.records.totals import compute_totals

    with Store.open(db) as store, store.transaction():
        store.begin_session(
            factory.info(session_id, walker=walker), writer_pid=os.getpid(), heartbeat_at=1e12
        )
        samples = factory.samples()
        store.add_samples(session_id, samples)
        store.add_events(session_id, factory.events())
        store.finish_session(
            session_id,
            ended_at=samples[-1].t,
            outcome="completed",
            exit_code=0,
            totals=compute_totals(samples, []),
        )


def test_walkers_delete_removes_everything_kept_about_the_walker(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's privacy promise: deleting a walker leaves nothing of theirs in the store (the
    name and note, the sessions with their ratings, samples and events, the screening answers),
    and nothing of anyone else is touched."""
    import sqlite3

    db = env / "data" / "sessions.db"
    for walker in ("W-17", "W-18"):
        assert _cli(capsys, "walkers", "add", walker, "--name", f"Name {walker}")[0] == 0
        answers = [f"{key}=no" for key in ("balance", "dizziness", "neurological", "surgery")]
        assert _cli(capsys, "screening", "set", "--walker", walker, *answers)[0] == 0
    _walked(db, "a" * 32, "W-17")
    _walked(db, "b" * 32, "W-17")
    _walked(db, "c" * 32, "W-18")
    assert _cli(capsys, "history", "rate", "aaaa", "--pain", "2", "--note", "left knee")[0] == 0

    code, out, _ = _cli(capsys, "walkers", "delete", "W-17")  # without --yes: nothing happens
    assert code == 2
    assert "2 sessions" in out
    code, out, err = _cli(capsys, "walkers", "delete", "W-17", "--yes")
    assert code == 0, err
    assert "2 sessions" in out

    with sqlite3.connect(db) as raw:
        dump = "\n".join(raw.iterdump())
    for gone in ("W-17", "Name W-17", "left knee", "a" * 32, "b" * 32):
        assert gone not in dump
        tables = ("sessions", "samples", "events", "walkers", "screening")
        kept = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    raw.close()
    assert kept["sessions"] == kept["walkers"] == kept["screening"] == 1  # W-18's
    assert kept["samples"] == len(factory.samples())
    assert kept["events"] == len(factory.events())
    code, _, err = _cli(capsys, "walkers", "delete", "W-17", "--yes")
    assert code == 2
    assert "nothing is kept" in err
