"""Smoke runs of the multi-process benchmarks with tiny counts, so they cannot rot (``make bench``
runs them in full). They check that each benchmark runs end to end and prints its figures, not
the figures themselves (those depend on the machine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mosquitto import find_mosquitto

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"\d+\.\d+"


def bench(script: str, *args: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
def test_fleet_bench_runs_with_tiny_counts() -> None:
    out = bench(
        "fleet.py",
        *("--stops", "3", "--sessions", "2", "--treadmills", "3", "--seconds", "1"),
        timeout=140,
    )
    assert re.search(rf"  1 session \(\d+ rounds?\) +3 +{NUMBER}", out), out
    assert re.search(rf"  2 sessions \(\d+ rounds?\) +3 +{NUMBER}", out), out
    assert re.search(rf"ratio 2/1: median {NUMBER}x, p99 {NUMBER}x", out), out
    assert re.search(rf"3 treadmills at 2 Hz +\d+ +{NUMBER}", out), out
    assert re.search(rf"monitor CPU {NUMBER} % of one core", out), out


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_footprint_bench_runs_with_a_short_window() -> None:
    out = bench("footprint.py", "--seconds", "2", timeout=140)
    assert re.search(rf"headless +{NUMBER} +{NUMBER}", out), out
    assert re.search(rf"TUI +{NUMBER} +{NUMBER}", out), out
    assert re.search(rf"ratio TUI/headless: CPU {NUMBER}x, RSS {NUMBER}x", out), out
