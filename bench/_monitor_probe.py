"""``retro-treadmill monitor`` with a note of when each treadmill's row showed each sample
(for ``bench/fleet.py``; run under a terminal).

Every time a row's cells are brought up to date with a telemetry sample it has not shown yet
(its ``distance_m``, which the bench's publishers count up), the probe notes ``(treadmill,
distance_m, time.monotonic())``; on exit (``q``) it writes the notes as JSON to ``--out``.
Nothing else differs from the real monitor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from retro_treadmill.telemetry import monitor  # noqa: E402
from retro_treadmill.telemetry.fleet import TreadmillRow  # noqa: E402
from retro_treadmill.telemetry.settings import MqttSettings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mqtt", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    shown: list[tuple[str, float, float]] = []
    last: dict[str, float | None] = {}
    original = monitor.MonitorApp.show_row

    def show_row(self: monitor.MonitorApp, row: TreadmillRow) -> None:
        original(self, row)
        treadmill_id, distance = row.view.treadmill_id, row.view.distance_m
        if distance is not None and last.get(treadmill_id) != distance:
            last[treadmill_id] = distance
            shown.append((treadmill_id, distance, time.monotonic()))

    monitor.MonitorApp.show_row = show_row  # type: ignore[method-assign]
    settings = MqttSettings.from_url(args.mqtt, treadmill_id="monitor")
    monitor.MonitorApp(settings, sender="bench").run()
    args.out.write_text(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
