"""The recorder: what the service hands it ends up in the store, without ever waiting."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retro_treadmill.records.model import EventKind
from retro_treadmill.records.recorder import Recorder
from retro_treadmill.records.store import Store, StoreError
from retro_treadmill.records.totals import TotalsAccumulator
from tests.records import factory


def _record(recorder: Recorder, session_id: str) -> None:
    accumulator = TotalsAccumulator()
    recorder.begin(factory.info(session_id))
    for sample in factory.samples():
        recorder.sample(sample)
        accumulator.sample(sample)
    for event in factory.events():
        recorder.event(event)
        accumulator.event(event)
    recorder.finish("stopped", 3, accumulator.totals())


def test_a_recorded_session_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    recorder = Recorder(path)
    _record(recorder, "0a" * 16)
    assert recorder.close(timeout=10)
    with Store.open(path, create=False) as store:
        record = store.load("0a")
    assert record.samples == tuple(factory.samples())
    assert len(record.events) == 4
    assert record.row.outcome == "stopped"
    assert record.row.exit_code == 3
    assert record.row.ended_at == factory.samples()[-1].t


def test_two_sessions_in_turn(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "s.db")
    _record(recorder, "01" * 16)
    _record(recorder, "02" * 16)
    assert recorder.close(timeout=10)
    with Store.open(tmp_path / "s.db") as store:
        assert {r.session_id for r in store.list_sessions()} == {"01" * 16, "02" * 16}


def test_samples_are_kept_at_1_hz_and_the_last_one_always(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "s.db")
    recorder.begin(factory.info("0b" * 16))
    base = factory.samples()[0]
    for i in range(41):  # 4 Hz for 10 s
        recorder.sample(dataclasses.replace(base, t=base.t + i / 4, elapsed_s=i / 4))
    recorder.sample(dataclasses.replace(base, t=base.t + 10.1, elapsed_s=10.1, state="finished"))
    recorder.finish("completed", 0, TotalsAccumulator().totals())
    assert recorder.close(timeout=10)
    with Store.open(tmp_path / "s.db") as store:
        kept = store.load("0b").samples
    assert [s.elapsed_s for s in kept] == [*range(11), 10.1]
    assert kept[-1].state == "finished"


def test_a_stuck_store_never_blocks_the_caller_and_drops_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer's next transaction waits behind this
    recorder = Recorder(path, max_queue=5, checkpoint_s=0.05)
    recorder.begin(factory.info("0c" * 16))
    time.sleep(0.3)
    worst = 0.0
    for sample in factory.samples()[:40]:
        t0 = time.perf_counter()
        recorder.sample(sample)
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 0.05, f"sample() took {worst * 1000:.1f} ms with the store stuck"
    assert recorder.dropped == 35
    blocker.execute("ROLLBACK")
    blocker.close()
    recorder.finish("stopped", 3, TotalsAccumulator().totals())
    assert recorder.close(timeout=15)
    with Store.open(path) as store:
        record = store.load("0c")
    assert [s.elapsed_s for s in record.samples] == [0, 1, 2, 3, 4]  # the five queued
    (dropped,) = [e for e in record.events if e.kind == EventKind.DROPPED]
    assert dropped.data == {"count": 35}


def test_a_store_that_cannot_be_created_reports_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    failures: list[BaseException] = []
    done = threading.Event()

    def failed(error: BaseException) -> None:
        failures.append(error)
        done.set()

    recorder = Recorder(tmp_path / "file" / "sessions.db", on_failure=failed)
    _record(recorder, "0d" * 16)
    assert done.wait(10)
    assert not recorder.close(timeout=10)
    assert len(failures) == 1
    assert isinstance(failures[0], StoreError)
    assert "cannot create the session store" in str(failures[0])
    assert recorder.failed is failures[0]
    recorder.sample(factory.samples()[0])  # and carries on quietly


def test_events_before_begin_are_ignored(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "s.db")
    recorder.sample(factory.samples()[0])
    recorder.event(factory.events()[0])
    assert recorder.close(timeout=1)
    assert not (tmp_path / "s.db").exists()


def test_begin_twice_is_a_programming_error(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "s.db")
    recorder.begin(factory.info("0e" * 16))
    with pytest.raises(RuntimeError, match="still being recorded"):
        recorder.begin(factory.info("0f" * 16))
    recorder.finish("stopped", 3, TotalsAccumulator().totals())
    assert recorder.close(timeout=10)


DISK_FULL_CHILD = """
import dataclasses, resource, signal, sys, threading, time
from pathlib import Path
from retro_treadmill.records.recorder import Recorder
from tests.records import factory

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
failed = threading.Event()
errors = []
recorder = Recorder(Path(sys.argv[1]), on_failure=lambda e: (errors.append(e), failed.set()))
recorder.begin(factory.info("f0" * 16))
base = factory.samples()[0]
worst = 0.0
n = 0
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    n += 1
    t0 = time.perf_counter()
    recorder.sample(dataclasses.replace(base, t=base.t + n, elapsed_s=float(n)))
    worst = max(worst, time.perf_counter() - t0)
    if failed.is_set() and n % 20 == 0:
        break
    time.sleep(0.01)
print("FAILED" if failed.is_set() else "NOT FAILED", n, f"{worst * 1000:.2f}", repr(errors))
recorder.finish("stopped", 3, factory_totals := __import__(
    "retro_treadmill.records.totals", fromlist=["x"]).TotalsAccumulator().totals())
print("CLOSED", recorder.close(timeout=5))
"""


def test_a_full_disk_is_reported_once_and_the_caller_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    first, second = child.stdout.splitlines()
    status, count, worst_ms, errors = first.split(" ", 3)
    assert status == "FAILED", child.stdout
    assert "sessions.db: recording stopped (" in errors, errors
    assert "the session carries on unrecorded" in errors
    assert errors.count("StoreError(") == 1  # reported once
    assert float(worst_ms) < 50  # sample() never waited on the stuck store
    assert second == "CLOSED False"  # close() says not everything was written
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.close()
    with Store.open(path) as store:
        record = store.load("f0")
    assert record.row.outcome == "interrupted"  # what was committed before the disk filled
    assert 0 < len(record.samples) < int(count)


def test_two_treadmills_record_into_one_store_at_once(tmp_path: Path) -> None:
    """A clinic computer driving two treadmills: two writers, one database, nothing lost."""
    path = tmp_path / "sessions.db"
    errors: list[BaseException] = []

    def record(session_id: str) -> None:
        recorder = Recorder(path, on_failure=errors.append, checkpoint_s=0.02)
        recorder.begin(factory.info(session_id))
        for sample in factory.samples():
            recorder.sample(sample)
            time.sleep(0.002)
        recorder.finish("completed", 0, TotalsAccumulator().totals())
        assert recorder.close(timeout=20)

    threads = [threading.Thread(target=record, args=(sid * 16,)) for sid in ("a1", "b2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with Store.open(path) as store:
        for sid in ("a1", "b2"):
            kept = store.load(sid)
            assert kept.samples == tuple(factory.samples())
            assert kept.row.outcome == "completed"
