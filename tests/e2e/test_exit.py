"""How a run ends on the console: no traceback, ever, and log lines written for people."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import FAULT_SCALE, run_cli
from tests.mosquitto import free_port

SHORT = """\
name = "short"
description = "twenty seconds at 1.0 mph"
audience = "tests"
units = "mph"

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.0
duration_s = 20
prompt = "walk backwards"
"""


def test_a_run_with_the_mqtt_broker_down_completes_without_a_traceback(tmp_path: Path) -> None:
    """Nothing listens on the MQTT port: the session runs and completes; the publisher's retries
    read as people's sentences, and nothing (bumble's InvalidStateError after "Session complete"
    in particular) prints a traceback or a raw ``WARNING:module:`` line at exit."""
    profile = tmp_path / "short.toml"
    profile.write_text(SHORT)
    closed = free_port()  # bound and released: nothing listens there
    run = run_cli(
        [
            "run",
            "--profile",
            str(profile),
            "--simulate",
            "--time-scale",
            f"{FAULT_SCALE:g}",
            "--headless",
            "--yes-preflight",
            "--mqtt",
            f"mqtt://127.0.0.1:{closed}/rt",
        ],
        tmp_path / "events.jsonl",
        timeout=60,
    )
    assert run.code == 0, run.explain()
    assert "Session complete" in run.stdout
    output = run.stdout + run.stderr
    assert "Traceback" not in output, run.explain()
    assert "InvalidStateError" not in output, run.explain()
    raw = [line for line in output.splitlines() if re.match(r"^[A-Z]+:[\w.]+:", line)]
    assert not raw, raw
    retries = [line for line in run.stderr.splitlines() if "Connection refused" in line]
    assert retries, run.explain()
    assert all(line.startswith("retro-treadmill: warning: MQTT ") for line in retries), retries
