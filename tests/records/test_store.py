"""The SQLite store: round trips, private files, schema versions, interrupted sessions."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from retro_treadmill.records import store as store_module
from retro_treadmill.records.model import INTERRUPTED, RUNNING
from retro_treadmill.records.paths import DATA_ENV, data_dir, database_path
from retro_treadmill.records.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SessionNotFound,
    Store,
    StoreError,
)
from retro_treadmill.records.totals import compute_totals
from tests.records import factory


def _write_session(store: Store, session_id: str, *, finish: bool = True, pid: int = 0) -> None:
    info = factory.info(session_id)
    samples = factory.samples()
    events = factory.events()
    with store.transaction():
        store.begin_session(info, writer_pid=pid or os.getpid(), heartbeat_at=1e12)
        store.add_samples(session_id, samples)
        store.add_events(session_id, events)
        if finish:
            store.finish_session(
                session_id,
                ended_at=samples[-1].t,
                outcome="stopped",
                exit_code=3,
                totals=compute_totals(samples, events),
            )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sessions.db"
    with Store.open(path) as store:
        _write_session(store, "ab" * 16)
    with Store.open(path, create=False) as store:
        record = store.load("abab")
    assert record.info == factory.info("ab" * 16)
    assert record.info.profile_text == factory.PROFILE_TEXT
    assert list(record.samples) == factory.samples()
    assert [(e.kind, e.name, e.detail, dict(e.data)) for e in record.events] == [
        (e.kind, e.name, e.detail, dict(e.data)) for e in factory.events()
    ]
    assert record.row.outcome == "stopped"
    assert record.row.exit_code == 3
    assert record.totals == compute_totals(factory.samples(), factory.events())


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "sessions.db"
    with Store.open(path) as store:
        _write_session(store, "cd" * 16)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for name in ("sessions.db", "sessions.db-wal", "sessions.db-shm"):
        if (path.parent / name).exists():
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert database_path() == tmp_path / "xdg" / "retro-treadmill" / "sessions.db"
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"


def test_wal_and_full_sync(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.schema_version() == SCHEMA_VERSION


def test_listing_filters_and_prefixes(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        with store.transaction():
            for n, walker in enumerate(["W-1", "W-2", "W-1"]):
                sid = f"a{n}" + "0" * 30
                store.begin_session(
                    factory.info(sid, walker=walker, started_at=factory.START + n * 86400),
                    writer_pid=os.getpid(),
                    heartbeat_at=1e12,
                )
                store.finish_session(
                    sid, ended_at=None, outcome="completed", exit_code=0, totals=compute_totals([])
                )
        rows = store.list_sessions()
        assert [r.session_id[:2] for r in rows] == ["a2", "a1", "a0"]  # newest first
        assert [r.session_id[:2] for r in store.list_sessions(walker_id="W-1")] == ["a2", "a0"]
        since = store.list_sessions(since=factory.START + 86400)
        assert [r.session_id[:2] for r in since] == ["a2", "a1"]
        # ended_at defaults to the last thing kept: here the start.
        assert rows[0].ended_at == factory.START + 2 * 86400
        with pytest.raises(SessionNotFound, match="more than one"):
            store.resolve("A")
        with pytest.raises(SessionNotFound, match="no session"):
            store.resolve("ff")
        with pytest.raises(SessionNotFound, match="not a session id"):
            store.resolve("W-1")
        assert store.resolve("a1") == "a1" + "0" * 30


def test_unfinished_session_of_a_live_writer_is_running(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        _write_session(store, "ee" * 16, finish=False)
    with Store.open(tmp_path / "s.db") as store:
        (row,) = store.list_sessions()
        assert row.outcome == RUNNING  # our own pid, fresh heartbeat: not interrupted


def test_unfinished_session_of_a_dead_writer_is_interrupted_on_open(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    with Store.open(tmp_path / "s.db", recover=False) as store:
        _write_session(store, "dd" * 16, finish=False, pid=pid)
        (row,) = store.list_sessions()
        assert row.outcome == INTERRUPTED  # readers show it so before any recovery
        assert row.totals == compute_totals(factory.samples(), factory.events())
    with Store.open(tmp_path / "s.db") as store:
        record = store.load("dd")
    assert record.row.outcome == INTERRUPTED
    assert record.row.exit_code is None
    assert record.row.ended_at == factory.samples()[-1].t
    assert record.totals == compute_totals(factory.samples(), factory.events())
    raw = sqlite3.connect(tmp_path / "s.db").execute("SELECT outcome FROM sessions").fetchall()
    assert raw == [(INTERRUPTED,)]


def test_stale_heartbeat_is_interrupted_even_if_the_pid_exists(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        _write_session(store, "aa" * 16, finish=False, pid=1)
        store._db.execute("UPDATE sessions SET heartbeat_at = 0")
    with Store.open(tmp_path / "s.db") as store:
        assert store.load("aa").row.outcome == INTERRUPTED


# -- schema versions --------------------------------------------------------------------------

V1_TABLES = {
    "sessions": 29,
    "samples": 15,
    "events": 7,
}
"""Column counts of the version 1 schema: a change here means v1 was edited after it shipped;
add a migration instead."""


def test_version_1_schema_is_frozen(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db", migrations=MIGRATIONS[:1]) as store:
        assert store.schema_version() == 1
        for table, columns in V1_TABLES.items():
            info = store._db.execute(f"PRAGMA table_info({table})").fetchall()
            assert len(info) == columns, table


def test_a_v1_database_migrates_keeping_its_sessions(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path, migrations=MIGRATIONS[:1]) as store:
        _write_session(store, "12" * 16)
    step = ("ALTER TABLE sessions ADD COLUMN pain_rating INTEGER",)
    with Store.open(path, migrations=(*MIGRATIONS[:1], step)) as store:
        assert store.schema_version() == 2
        assert store.load("1212").samples == tuple(factory.samples())
        columns = [r[1] for r in store._db.execute("PRAGMA table_info(sessions)")]
        assert "pain_rating" in columns
    # And the current code opens it (a newer schema is refused, see below) ...
    with Store.open(path, migrations=(*MIGRATIONS[:1], step)) as store:
        assert store.schema_version() == 2


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path, migrations=MIGRATIONS[:1]) as store:
        _write_session(store, "34" * 16)
    broken = ("ALTER TABLE sessions ADD COLUMN x INTEGER", "THIS IS NOT SQL")
    with pytest.raises(StoreError, match="not a usable session store"):
        Store.open(path, migrations=(*MIGRATIONS[:1], broken))
    with Store.open(path, migrations=MIGRATIONS[:1]) as store:
        assert store.schema_version() == 1
        columns = [r[1] for r in store._db.execute("PRAGMA table_info(sessions)")]
        assert "x" not in columns
        assert store.load("34").row.outcome == "stopped"


def test_a_newer_schema_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}").close()
    with pytest.raises(StoreError, match=r"s\.db: written by a newer retro-treadmill"):
        Store.open(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError, match=r"s\.db"):
        Store.open(path)


def test_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no session has been recorded"):
        Store.open(tmp_path / "none" / "sessions.db", create=False)
    assert not (tmp_path / "none").exists()


def test_stale_threshold_is_longer_than_the_heartbeat() -> None:
    from retro_treadmill.records.recorder import HEARTBEAT_S

    assert store_module.STALE_S >= 5 * HEARTBEAT_S
