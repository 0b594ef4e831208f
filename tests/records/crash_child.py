"""A process that records a session as the service would, until it is killed.

``python -m tests.records.crash_child DB_PATH``: begins a session (prints ``BEGIN <id> <t>``),
then feeds a 10 Hz telemetry stream (the recorder keeps 1 Hz) and an event every few seconds,
with ``t`` the wall clock, forever. The crash-safety test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from retro_treadmill.records.model import EventKind, RecordedEvent, Sample
from retro_treadmill.records.recorder import Recorder
from tests.records import factory


def main(path: Path) -> None:
    recorder = Recorder(path)
    started = time.time()
    info = factory.info(started_at=started)
    recorder.begin(info)
    print(f"BEGIN {info.session_id} {started:.6f}", flush=True)
    distance = 0.0
    tick = 0
    while True:
        now = time.time()
        recorder.sample(
            Sample(
                t=now,
                elapsed_s=now - started,
                state="running",
                segment_index=1 + tick // 50,
                segment_name=f"segment {1 + tick // 50}",
                direction="backward",
                target_speed_kmh=2.0,
                belt_speed_kmh=2.0,
                target_incline_pct=1.0,
                incline_pct=1.0,
                distance_m=distance,
                heart_rate_bpm=100,
                hr_source="strap",
            )
        )
        if tick % 30 == 0:
            recorder.event(RecordedEvent(now, EventKind.OPERATOR, "speed_up", f"tick {tick}"))
        distance += 2.0 / 3.6 / 10
        tick += 1
        time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
