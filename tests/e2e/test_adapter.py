"""``run`` against a treadmill served by ``retro-treadmill simulate`` in another process, reached
over ``--adapter bumble:tcp-client:...`` exactly as a real treadmill behind a dongle would be."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli


@pytest.fixture
def served_treadmill() -> Iterator[str]:
    """A ``simulate`` process on a free loopback port; yields its bumble transport."""
    process = subprocess.Popen(
        [sys.executable, "-m", "retro_treadmill", "simulate", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        transport = ""
        for line in process.stdout:  # bounded: simulate prints its address at once, or exits
            if m := re.search(r"listening: (tcp-client:127\.0\.0\.1:\d+)", line):
                transport = m.group(1)
                break
        assert transport, "simulate did not start listening"
        yield transport
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_without_device_the_first_treadmill_heard_is_used(
    served_treadmill: str, tmp_path: Path
) -> None:
    run = run_cli(
        [
            "run",
            "--profile",
            "demo",
            "--adapter",
            f"bumble:{served_treadmill}",
            "--headless",
            "--yes-preflight",
        ],
        tmp_path / "events.jsonl",
        signal_when="running",
        timeout=90.0,
    )
    assert run.code == 3, str(run)  # stopped by the operator (SIGTERM), not "no treadmill"
    writes = [e["bytes"] for e in run.log if e.get("kind") == "write"]
    assert "07" in writes, str(run)  # it connected and started the belt
    assert writes[-1].startswith("08 01"), str(run)  # and the last word was Stop


def test_a_treadmill_that_is_not_there_exits_with_code_5(
    served_treadmill: str, tmp_path: Path
) -> None:
    run = run_cli(
        [
            "run",
            "--profile",
            "demo",
            "--adapter",
            f"bumble:{served_treadmill}",
            "--device",
            "NO SUCH TREADMILL",
            "--headless",
            "--yes-preflight",
        ],
        tmp_path / "events.jsonl",
        timeout=90.0,
    )
    assert run.code == 5, str(run)  # treadmill not found, nothing started
    assert not [e for e in run.log if e.get("kind") == "write"], str(run)
