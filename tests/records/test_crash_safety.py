"""kill -9 at random moments: the store opens cleanly, the session is interrupted and kept up to
2 s before the kill (issue 11's crash-safety acceptance, at the recorder level)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from retro_treadmill.records.model import INTERRUPTED
from retro_treadmill.records.store import Store

ROOT = Path(__file__).resolve().parents[2]
LANES = 4
"""Databases killed in parallel (each child mostly sleeps; the machine has two cores)."""
KILLS_PER_LANE = 6
MAX_LOSS_S = 2.0


@dataclass(frozen=True, slots=True)
class Kill:
    lane: int
    session_id: str | None
    begun_at: float | None
    killed_at: float


def _run_lane(lane: int, path: Path, rng: random.Random, out: list[Kill]) -> None:
    for n in range(KILLS_PER_LANE):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.records.crash_child", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            session_id: str | None = None
            begun_at: float | None = None
            if n == 0:
                # The first kill of a lane lands while the store is being created and migrated.
                time.sleep(rng.uniform(0.05, 0.4))
            else:
                assert child.stdout is not None
                line = child.stdout.readline().split()
                assert line[:1] == ["BEGIN"], line
                session_id, begun_at = line[1], float(line[2])
                time.sleep(rng.uniform(0.2, 4.0))
            killed_at = time.time()
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
        out.append(Kill(lane, session_id, begun_at, killed_at))


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"CRASH_SEED={seed}")
    kills: list[Kill] = []
    paths = [tmp_path / f"lane{lane}" / "sessions.db" for lane in range(LANES)]
    threads = [
        threading.Thread(
            target=_run_lane, args=(lane, paths[lane], random.Random(seed + lane), kills)
        )
        for lane in range(LANES)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(kills) == LANES * KILLS_PER_LANE >= 20
    print(f"{len(kills)} kills in {time.monotonic() - started:.1f} s")
    worst = 0.0
    for lane, path in enumerate(paths):
        if path.exists():
            raw = sqlite3.connect(path)
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
            raw.close()
        with Store.open(path) as store:
            rows = {row.session_id: row for row in store.list_sessions()}
            for kill in (k for k in kills if k.lane == lane and k.session_id is not None):
                assert kill.session_id is not None
                assert kill.begun_at is not None
                row = rows.get(kill.session_id)
                lived = kill.killed_at - kill.begun_at
                if row is None:
                    # Not even the first checkpoint: only possible right after the start.
                    assert lived < MAX_LOSS_S, (kill, "session row lost")
                    continue
                assert row.outcome == INTERRUPTED, (kill, row)
                record = store.load(kill.session_id)
                last = record.samples[-1].t if record.samples else kill.begun_at
                loss = kill.killed_at - last
                worst = max(worst, loss)
                assert loss <= MAX_LOSS_S, (kill, f"last sample {loss:.2f} s before the kill")
                assert row.totals.sample_count == len(record.samples)
                assert row.ended_at == pytest.approx(max([last, *(e.t for e in record.events)]))
    print(f"worst loss {worst:.2f} s")
