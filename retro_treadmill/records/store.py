"""The session store: one SQLite database (stdlib ``sqlite3``) holding every session.

Crash safety. The database runs in WAL mode with ``synchronous=FULL``: every commit is durable
once ``COMMIT`` returns (the WAL is fsynced at each commit), so a ``kill -9`` loses nothing
committed and a power cut loses nothing committed either; ``NORMAL`` would survive a process kill
just as well but may lose the last commits on power loss, and a clinic's record of a session that
ended in a power cut is exactly the one worth keeping. The cost is one fsync per commit on the
recorder's own thread (two a second at most), never on the event loop. Readers and the writer use
separate connections; WAL lets history read while a session records.

Interrupted sessions. A session row carries its writer's pid and a heartbeat (wall clock,
refreshed at every commit and at least every few seconds). A session with no outcome whose writer
is gone (pid dead, or heartbeat older than :data:`STALE_S`) is *interrupted*: readers show it so,
and :meth:`Store.recover` (run by every writable open) writes ``outcome = 'interrupted'``, its end
time (the last thing kept) and totals computed from the samples and events that were kept.

Schema versions. ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` lists the
steps from version 0 (an empty file) on, each applied in its own transaction together with the
new version number, so a failed migration leaves the previous version intact. Add a step; never
edit one that has shipped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.records.model import (
    INTERRUPTED,
    RUNNING,
    RecordedEvent,
    Sample,
    SessionInfo,
    SessionRecord,
    SessionRow,
    Totals,
)
from retro_treadmill.records.paths import ensure_private_file
from retro_treadmill.records.ratings import Rating
from retro_treadmill.records.totals import compute_totals
from retro_treadmill.records.walkers import Walker, WalkerCaps

STALE_S = 60.0
"""A session whose writer has not refreshed its heartbeat for this long is interrupted, even if
a process with the writer's pid exists (pids are reused)."""

BUSY_TIMEOUT_S = 10.0

_V1 = (
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        ended_at REAL,
        walker_id TEXT,
        profile_name TEXT NOT NULL,
        profile_text TEXT NOT NULL,
        profile_sha256 TEXT NOT NULL,
        device_name TEXT NOT NULL,
        device_address TEXT NOT NULL,
        personality TEXT,
        program_version TEXT NOT NULL,
        clinic_config_hash TEXT,
        time_scale REAL NOT NULL DEFAULT 1.0,
        units TEXT NOT NULL DEFAULT 'mph',
        outcome TEXT,
        exit_code INTEGER,
        writer_pid INTEGER,
        heartbeat_at REAL,
        duration_s REAL,
        backward_s REAL,
        forward_s REAL,
        distance_m REAL,
        avg_speed_kmh REAL,
        peak_speed_kmh REAL,
        peak_incline_pct REAL,
        avg_heart_rate_bpm REAL,
        peak_heart_rate_bpm INTEGER,
        alarm_count INTEGER,
        totals_json TEXT
    )""",
    "CREATE INDEX sessions_started ON sessions (started_at)",
    "CREATE INDEX sessions_walker ON sessions (walker_id, started_at)",
    """CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t REAL NOT NULL,
        elapsed_s REAL NOT NULL,
        state TEXT NOT NULL,
        segment_index INTEGER,
        segment_name TEXT NOT NULL DEFAULT '',
        direction TEXT,
        target_speed_kmh REAL,
        belt_speed_kmh REAL,
        target_incline_pct REAL,
        incline_pct REAL,
        distance_m REAL,
        heart_rate_bpm INTEGER,
        hr_source TEXT
    )""",
    "CREATE INDEX samples_session ON samples (session_id, id)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t REAL NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        data_json TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_session ON events (session_id, id)",
)

_V2 = (
    """CREATE TABLE walkers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        max_speed_kmh REAL,
        max_incline_pct REAL,
        max_heart_rate_bpm REAL,
        hr_hold_above_bpm REAL,
        program TEXT,
        note TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        archived_at REAL
    )""",
)
"""Version 2: walkers (pseudonymous id, local name, caps, program)."""

_V3 = (
    "ALTER TABLE sessions ADD COLUMN pain INTEGER",
    "ALTER TABLE sessions ADD COLUMN effort REAL",
    "ALTER TABLE sessions ADD COLUMN rating_note TEXT",
    "ALTER TABLE sessions ADD COLUMN rated_at REAL",
)
"""Version 3: the walker's rating of each session (pain 0-10, Borg CR10 effort, a note)."""

_V4 = (
    """CREATE TABLE screening (
        scope TEXT PRIMARY KEY,
        answers_json TEXT NOT NULL,
        answered_at REAL NOT NULL
    )""",
)
"""Version 4: the safety screening (:mod:`retro_treadmill.screening`): one row per scope
(``machine``, or a walker). Independent of the other tables."""

Migration = Sequence[str]
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4)
"""``MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)

_SAMPLE_COLUMNS = (
    "t",
    "elapsed_s",
    "state",
    "segment_index",
    "segment_name",
    "direction",
    "target_speed_kmh",
    "belt_speed_kmh",
    "target_incline_pct",
    "incline_pct",
    "distance_m",
    "heart_rate_bpm",
    "hr_source",
)
_INFO_COLUMNS = (
    "id",
    "started_at",
    "walker_id",
    "profile_name",
    "profile_text",
    "profile_sha256",
    "device_name",
    "device_address",
    "personality",
    "program_version",
    "clinic_config_hash",
    "time_scale",
    "units",
)
_TOTALS_COLUMNS = (
    "duration_s",
    "backward_s",
    "forward_s",
    "distance_m",
    "avg_speed_kmh",
    "peak_speed_kmh",
    "peak_incline_pct",
    "avg_heart_rate_bpm",
    "peak_heart_rate_bpm",
    "alarm_count",
)


class StoreError(RetroTreadmillError):
    """The session store could not be opened or used; the message names the file."""


class SessionNotFound(StoreError):
    """No session (or more than one) matches the id or prefix given."""


class WalkerNotFound(StoreError):
    """No walker has the id given."""


def _json_default(value: object) -> str:
    return str(value)


class Store:
    """An open session database. Blocking IO: use it from a thread (the recorder's writer, a
    Textual worker) or a command, never on the event loop."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        create: bool = True,
        migrations: Sequence[Migration] = MIGRATIONS,
        recover: bool = True,
    ) -> Store:
        """Open (and with ``create`` make, 0600 in a 0700 directory) the database at ``path``,
        bring its schema up to date and, with ``recover``, close interrupted sessions.

        Raises :class:`StoreError` when the file is missing (without ``create``), is not a
        database, or was written by a newer retro-treadmill."""
        if create:
            try:
                ensure_private_file(path)
            except OSError as error:
                raise StoreError(f"{path}: cannot create the session store: {error}") from error
        elif not path.exists():
            raise StoreError(f"{path}: no session store here (no session has been recorded)")
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"{path}: cannot open the session store: {error}") from error
        store = cls(connection, path)
        try:
            store._configure()
            store._migrate(migrations)
            if recover:
                store.recover()
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StoreError(f"{path}: not a usable session store: {error}") from error
        except BaseException:
            connection.close()
            raise
        return store

    def _configure(self) -> None:
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot use WAL journaling here (got {mode!r})")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("PRAGMA foreign_keys = ON")

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        target = len(migrations)
        version = self.schema_version()
        if version > target:
            raise StoreError(
                f"{self.path}: written by a newer retro-treadmill (schema version {version}; "
                f"this one knows up to {target}); upgrade retro-treadmill to read it"
            )
        while version < target:
            with self.transaction():
                # Re-read under the write lock: another process may have migrated meanwhile.
                version = self.schema_version()
                if version >= target:
                    break
                for statement in migrations[version]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version + 1}")
            version = self.schema_version()

    def schema_version(self) -> int:
        """The database's ``PRAGMA user_version``."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing (the recorder's thread) ---------------------------------------------------------

    def begin_session(self, info: SessionInfo, *, writer_pid: int, heartbeat_at: float) -> None:
        """Insert the session's row (call inside :meth:`transaction`)."""
        values = (
            info.session_id,
            info.started_at,
            info.walker_id,
            info.profile_name,
            info.profile_text,
            info.profile_sha256,
            info.device_name,
            info.device_address,
            info.personality,
            info.program_version,
            info.clinic_config_hash,
            info.time_scale,
            info.units,
        )
        self._db.execute(
            f"INSERT INTO sessions ({', '.join(_INFO_COLUMNS)}, writer_pid, heartbeat_at) "
            f"VALUES ({', '.join('?' * len(_INFO_COLUMNS))}, ?, ?)",
            (*values, writer_pid, heartbeat_at),
        )

    def add_samples(self, session_id: str, samples: Iterable[Sample]) -> None:
        """Append samples to a session (inside :meth:`transaction`)."""
        self._db.executemany(
            f"INSERT INTO samples (session_id, {', '.join(_SAMPLE_COLUMNS)}) "
            f"VALUES (?, {', '.join('?' * len(_SAMPLE_COLUMNS))})",
            [(session_id, *(getattr(s, c) for c in _SAMPLE_COLUMNS)) for s in samples],
        )

    def add_events(self, session_id: str, events: Iterable[RecordedEvent]) -> None:
        """Append events to a session (inside :meth:`transaction`)."""
        self._db.executemany(
            "INSERT INTO events (session_id, t, kind, name, detail, data_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    session_id,
                    e.t,
                    str(e.kind),
                    e.name,
                    e.detail,
                    json.dumps(dict(e.data), default=_json_default, sort_keys=True),
                )
                for e in events
            ],
        )

    def heartbeat(self, session_id: str, at: float) -> None:
        """Refresh the writer's heartbeat (wall clock; inside :meth:`transaction`)."""
        self._db.execute("UPDATE sessions SET heartbeat_at = ? WHERE id = ?", (at, session_id))

    def finish_session(
        self,
        session_id: str,
        *,
        ended_at: float | None,
        outcome: str,
        exit_code: int | None,
        totals: Totals,
    ) -> None:
        """Write the session's end, outcome, exit code and totals (inside :meth:`transaction`)."""
        if ended_at is None:
            ended_at = self._last_time(session_id)
        values = [getattr(totals, c) for c in _TOTALS_COLUMNS]
        self._db.execute(
            "UPDATE sessions SET ended_at = ?, outcome = ?, exit_code = ?, totals_json = ?, "
            + ", ".join(f"{c} = ?" for c in _TOTALS_COLUMNS)
            + " WHERE id = ?",
            (ended_at, outcome, exit_code, json.dumps(totals.to_dict()), *values, session_id),
        )

    def _last_time(self, session_id: str) -> float | None:
        row = self._db.execute(
            "SELECT max(t) FROM (SELECT max(t) AS t FROM samples WHERE session_id = ?"
            " UNION ALL SELECT max(t) FROM events WHERE session_id = ?"
            " UNION ALL SELECT started_at FROM sessions WHERE id = ?)",
            (session_id, session_id, session_id),
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def recover(self) -> list[str]:
        """Mark every session whose writer is gone ``interrupted``, with its end time and totals
        from what was kept; returns their ids."""
        now = time.time()
        candidates = self._db.execute(
            "SELECT id, writer_pid, heartbeat_at FROM sessions WHERE outcome IS NULL"
        ).fetchall()
        dead = [sid for sid, pid, beat in candidates if not _writer_alive(pid, beat, now)]
        for session_id in dead:
            with self.transaction():
                samples = self._samples(session_id)
                events = self._events(session_id)
                self.finish_session(
                    session_id,
                    ended_at=None,
                    outcome=INTERRUPTED,
                    exit_code=None,
                    totals=compute_totals(samples, events),
                )
        return dead

    # -- reading ---------------------------------------------------------------------------------

    def list_sessions(
        self,
        *,
        walker_id: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[SessionRow]:
        """Sessions, newest first; ``since``: started at or after (UTC epoch seconds)."""
        clauses: list[str] = []
        params: list[Any] = []
        if walker_id is not None:
            clauses.append("walker_id = ?")
            params.append(walker_id)
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(since)
        sql = f"SELECT {_ROW_SELECT} FROM sessions"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY started_at DESC, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._row(r) for r in self._db.execute(sql, params).fetchall()]

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the one session whose id starts with ``id_or_prefix``."""
        prefix = id_or_prefix.strip().lower()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            raise SessionNotFound(
                f"{id_or_prefix!r} is not a session id (hex digits, as `history` shows them)"
            )
        matches = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY started_at LIMIT 6",
                (len(prefix), prefix),
            ).fetchall()
        ]
        if not matches:
            raise SessionNotFound(f"no session with id {id_or_prefix!r} in {self.path}")
        if len(matches) > 1:
            shown = ", ".join(m[: len(prefix) + 4] for m in matches[:5])
            raise SessionNotFound(
                f"{id_or_prefix!r} matches more than one session ({shown}...); give more digits"
            )
        return str(matches[0])

    def load(self, id_or_prefix: str) -> SessionRecord:
        """Everything kept about one session (an id or a unique prefix of one)."""
        session_id = self.resolve(id_or_prefix)
        row = self._db.execute(
            f"SELECT {_ROW_SELECT}, {', '.join(_INFO_COLUMNS)} FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        summary = self._row(row[: len(_ROW_COLUMNS)])
        info = SessionInfo(
            **{
                ("session_id" if c == "id" else c): v
                for c, v in zip(_INFO_COLUMNS, row[len(_ROW_COLUMNS) :], strict=True)
            }
        )
        return SessionRecord(
            info=info,
            row=summary,
            samples=tuple(self._samples(session_id)),
            events=tuple(self._events(session_id)),
        )

    def _samples(self, session_id: str) -> list[Sample]:
        rows = self._db.execute(
            f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM samples WHERE session_id = ? ORDER BY id",
            (session_id,),
        ).fetchall()
        return [Sample(*r) for r in rows]

    def _events(self, session_id: str) -> list[RecordedEvent]:
        rows = self._db.execute(
            "SELECT t, kind, name, detail, data_json FROM events WHERE session_id = ? ORDER BY id",
            (session_id,),
        ).fetchall()
        return [
            RecordedEvent(t, kind, name, detail, json.loads(data))
            for t, kind, name, detail, data in rows
        ]

    def _row(self, r: Sequence[Any]) -> SessionRow:
        values = dict(zip(_ROW_COLUMNS, r, strict=True))
        outcome = values["outcome"]
        totals_json = values["totals_json"]
        if outcome is None:
            alive = _writer_alive(values["writer_pid"], values["heartbeat_at"], time.time())
            outcome = RUNNING if alive else INTERRUPTED
            totals = compute_totals(self._samples(values["id"]), self._events(values["id"]))
            ended_at = None if alive else self._last_time(values["id"])
        else:
            totals = Totals.from_dict(json.loads(totals_json)) if totals_json else Totals()
            ended_at = values["ended_at"]
        return SessionRow(
            session_id=values["id"],
            started_at=values["started_at"],
            ended_at=ended_at,
            walker_id=values["walker_id"],
            profile_name=values["profile_name"],
            device_name=values["device_name"],
            outcome=outcome,
            exit_code=values["exit_code"],
            totals=totals,
            rating=_rating(values),
        )

    def rate(self, session_id: str, rating: Rating) -> None:
        """Save (replace) the walker's rating of a session (its own transaction); a rating
        without ``rated_at`` is stamped now."""
        rated_at = time.time() if rating.rated_at is None else rating.rated_at
        with self.transaction():
            self._db.execute(
                "UPDATE sessions SET pain = ?, effort = ?, rating_note = ?, rated_at = ? "
                "WHERE id = ?",
                (rating.pain, rating.effort, rating.note, rated_at, session_id),
            )

    # -- walkers ---------------------------------------------------------------------------------

    def add_walker(self, walker: Walker) -> None:
        """Insert a new walker; :class:`StoreError` if the id is taken."""
        try:
            with self.transaction():
                self._db.execute(
                    f"INSERT INTO walkers ({', '.join(_WALKER_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_WALKER_COLUMNS))})",
                    _walker_values(walker),
                )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"a walker {walker.walker_id!r} exists already (`walkers edit` changes it)"
            ) from None

    def update_walker(self, walker: Walker) -> None:
        """Replace a walker's stored values (the id stays)."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE walkers SET "
                + ", ".join(f"{c} = ?" for c in _WALKER_COLUMNS[1:])
                + " WHERE id = ?",
                (*_walker_values(walker)[1:], walker.walker_id),
            )
        if cursor.rowcount == 0:
            raise WalkerNotFound(f"no walker {walker.walker_id!r} in {self.path}")

    def walker(self, walker_id: str) -> Walker:
        """The walker with this id (:class:`WalkerNotFound` when there is none)."""
        row = self._db.execute(
            f"SELECT {', '.join(_WALKER_COLUMNS)} FROM walkers WHERE id = ?", (walker_id,)
        ).fetchone()
        if row is None:
            raise WalkerNotFound(
                f"no walker {walker_id!r} in {self.path} (add one with `walkers add {walker_id}`)"
            )
        return _walker(row)

    def walker_data(self, walker_id: str, screening_scope: str) -> dict[str, int]:
        """How many rows :meth:`delete_walker` would remove, by kind."""
        one = self._db.execute
        sessions = "SELECT id FROM sessions WHERE walker_id = ?"
        return {
            "walker": one("SELECT COUNT(*) FROM walkers WHERE id = ?", (walker_id,)).fetchone()[0],
            "sessions": one(
                "SELECT COUNT(*) FROM sessions WHERE walker_id = ?", (walker_id,)
            ).fetchone()[0],
            "samples": one(
                f"SELECT COUNT(*) FROM samples WHERE session_id IN ({sessions})", (walker_id,)
            ).fetchone()[0],
            "events": one(
                f"SELECT COUNT(*) FROM events WHERE session_id IN ({sessions})", (walker_id,)
            ).fetchone()[0],
            "screening": one(
                "SELECT COUNT(*) FROM screening WHERE scope = ?", (screening_scope,)
            ).fetchone()[0],
        }

    def delete_walker(self, walker_id: str, screening_scope: str) -> dict[str, int]:
        """Remove everything kept about a walker in one transaction: their sessions (with their
        ratings), those sessions' samples and events, their screening answers (kept under
        ``screening_scope``) and the walker (name, note, caps). Deleted pages are overwritten
        (``secure_delete``) and the WAL is checkpointed, so the data does not linger in the
        files. Returns the counts removed; :class:`WalkerNotFound` when nothing was kept."""
        self._db.execute("PRAGMA secure_delete = ON")
        with self.transaction():
            counts = self.walker_data(walker_id, screening_scope)
            if not any(counts.values()):
                raise WalkerNotFound(f"nothing is kept about a walker {walker_id!r} in {self.path}")
            sessions = "SELECT id FROM sessions WHERE walker_id = ?"
            # Explicit, not only ON DELETE CASCADE: a store opened without foreign keys keeps
            # no orphans either.
            self._db.execute(f"DELETE FROM samples WHERE session_id IN ({sessions})", (walker_id,))
            self._db.execute(f"DELETE FROM events WHERE session_id IN ({sessions})", (walker_id,))
            self._db.execute("DELETE FROM sessions WHERE walker_id = ?", (walker_id,))
            self._db.execute("DELETE FROM screening WHERE scope = ?", (screening_scope,))
            self._db.execute("DELETE FROM walkers WHERE id = ?", (walker_id,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return counts

    def list_walkers(self, *, include_archived: bool = False) -> list[Walker]:
        """Walkers by id; archived ones only with ``include_archived``."""
        sql = f"SELECT {', '.join(_WALKER_COLUMNS)} FROM walkers"
        if not include_archived:
            sql += " WHERE archived_at IS NULL"
        return [_walker(r) for r in self._db.execute(sql + " ORDER BY id").fetchall()]

    # -- the safety screening ----------------------------------------------------------------------

    def screening(self, scope: str) -> tuple[dict[str, bool], float] | None:
        """The screening answers kept for ``scope`` and when they were given (``None``: never)."""
        row = self._db.execute(
            "SELECT answers_json, answered_at FROM screening WHERE scope = ?", (scope,)
        ).fetchone()
        if row is None:
            return None
        answers = json.loads(row[0])
        return {str(k): bool(v) for k, v in answers.items()}, float(row[1])

    def save_screening(self, scope: str, answers: dict[str, bool], answered_at: float) -> None:
        """Keep ``answers`` for ``scope`` (replacing earlier ones)."""
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO screening (scope, answers_json, answered_at) "
                "VALUES (?, ?, ?)",
                (scope, json.dumps(answers, sort_keys=True), answered_at),
            )

    def reset_screening(self, scope: str) -> bool:
        """Forget the answers for ``scope`` (asked again at the next session); ``False`` when
        there were none."""
        with self.transaction():
            cursor = self._db.execute("DELETE FROM screening WHERE scope = ?", (scope,))
        return cursor.rowcount > 0

    def has_sessions(self) -> bool:
        """Whether any session was ever recorded here."""
        return self._db.execute("SELECT 1 FROM sessions LIMIT 1").fetchone() is not None


_WALKER_COLUMNS = (
    "id",
    "name",
    "max_speed_kmh",
    "max_incline_pct",
    "max_heart_rate_bpm",
    "hr_hold_above_bpm",
    "program",
    "note",
    "created_at",
    "archived_at",
)


def _walker_values(w: Walker) -> tuple[Any, ...]:
    return (
        w.walker_id,
        w.name,
        w.caps.max_speed_kmh,
        w.caps.max_incline_pct,
        w.caps.max_heart_rate_bpm,
        w.caps.hr_hold_above_bpm,
        w.program,
        w.note,
        w.created_at,
        w.archived_at,
    )


def _walker(r: Sequence[Any]) -> Walker:
    return Walker(
        walker_id=r[0],
        name=r[1],
        caps=WalkerCaps(
            max_speed_kmh=r[2],
            max_incline_pct=r[3],
            max_heart_rate_bpm=r[4],
            hr_hold_above_bpm=r[5],
        ),
        program=r[6],
        note=r[7],
        created_at=r[8],
        archived_at=r[9],
    )


_ROW_COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "walker_id",
    "profile_name",
    "device_name",
    "outcome",
    "exit_code",
    "totals_json",
    "writer_pid",
    "heartbeat_at",
    "pain",
    "effort",
    "rating_note",
    "rated_at",
)
_ROW_SELECT = ", ".join(_ROW_COLUMNS)


def _rating(values: dict[str, Any]) -> Rating | None:
    if values["rated_at"] is None:
        return None
    return Rating(
        pain=values["pain"],
        effort=values["effort"],
        note=values["rating_note"] or "",
        rated_at=values["rated_at"],
    )


def _writer_alive(pid: int | None, heartbeat_at: float | None, now: float) -> bool:
    """Whether the process that writes a session is still at it."""
    if pid is None or heartbeat_at is None or now - heartbeat_at > STALE_S:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STALE_S",
    "SessionNotFound",
    "Store",
    "StoreError",
    "WalkerNotFound",
]
