"""End-to-end harness: the real CLI (``python -m retro_treadmill run ...``) in a subprocess against
the in-process virtual treadmill, time-scaled, headless, with a JSON-lines event log.

The shipped profiles are long (up to 30 min of session time), so their runs start together in a
small process pool the first time any of them is asked for (two at a time: this machine has two
cores) and each parametrized test waits for its own result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retro_treadmill.profiles import shipped_profiles_dir

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in shipped_profiles_dir().glob("*.toml"))
ATHLETE = "athlete-deceleration"
ATHLETE_CONFIG = """\
[safety]
allow_above_default_caps = true
max_speed_mph = 3.0
"""
PROFILE_SCALE = 50.0
"""Session seconds per wall second for the shipped-profile runs: 1800 s take 36 s, and the 3 s
telemetry watchdog is 60 ms of wall time (a loaded machine can stall a process for longer at
x100; hence not faster)."""
FAULT_SCALE = 20.0
"""Time scale of the fault runs (the demo profile, a fault in its first minute)."""


@dataclass
class CliRun:
    """The result of one CLI run: exit code, output and the event log records."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    log: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    def kinds(self, kind: str, source: str = "session") -> list[dict[str, Any]]:
        """The records of one kind (``source`` session or ftms)."""
        return [r for r in self.log if r.get("kind") == kind and r.get("source") == source]

    @property
    def alarms(self) -> list[str]:
        """The alarm kinds raised, in order."""
        return [r["alarm"] for r in self.kinds("alarm")]

    @property
    def outcome(self) -> dict[str, Any]:
        """The ``outcome`` record (the service's last word)."""
        found = self.kinds("outcome")
        assert found, f"no outcome record; stderr:\n{self.stderr}\nstdout:\n{self.stdout}"
        return found[-1]

    @property
    def simulator(self) -> dict[str, Any]:
        """The virtual treadmill's final state."""
        found = self.kinds("simulator")
        assert found, f"no simulator record; stderr:\n{self.stderr}"
        return found[-1]

    @property
    def writes(self) -> list[dict[str, Any]]:
        """Every control-point write of the FTMS client (audit trail)."""
        return self.kinds("write", source="ftms")

    def explain(self) -> str:
        """Context for an assertion message."""
        tail = "\n".join(self.stdout.splitlines()[-15:])
        return f"argv={self.argv}\nexit={self.code}\nstdout tail:\n{tail}\nstderr:\n{self.stderr}"


def cli_argv(*args: str) -> list[str]:
    """The command line for ``python -m retro_treadmill ARGS``."""
    return [sys.executable, "-m", "retro_treadmill", *args]


def read_log(path: Path) -> list[dict[str, Any]]:
    """The event log's records (empty when the file does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RETRO_TREADMILL_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(
    args: Sequence[str],
    log_path: Path,
    *,
    timeout: float = 90.0,
    signal_when: str | None = None,
    signal_delay_s: float = 0.0,
    send: signal.Signals = signal.SIGTERM,
    stdin_text: str | None = None,
    type_when: str | None = None,
    type_text: str = "",
) -> CliRun:
    """Run the CLI to the end. ``signal_when``: send ``send`` once the event log has a ``state``
    record with that state (e.g. ``"running"``). ``stdin_text``: what the operator types at once
    (preflight answers); ``type_text``: what they type once the state ``type_when`` is logged.
    ``signal_delay_s``: wall seconds between seeing ``signal_when`` and sending the signal."""
    argv = cli_argv(*args, "--event-log", str(log_path))
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if stdin_text is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin_text)
            proc.stdin.flush()
        when = signal_when or type_when
        if when is not None:
            deadline = started + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                states = [r.get("state") for r in read_log(log_path) if r.get("kind") == "state"]
                if when in states:
                    if signal_when is not None:
                        time.sleep(signal_delay_s)
                        proc.send_signal(send)
                    if type_when is not None and proc.stdin is not None:
                        proc.stdin.write(type_text)
                        proc.stdin.flush()
                    break
                time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{argv} did not finish in {timeout} s:\n{stdout}\n{stderr}") from None
    return CliRun(
        argv, proc.returncode, stdout, stderr, read_log(log_path), time.monotonic() - started
    )


def profile_args(profile: str, config: Path | None) -> list[str]:
    """``run`` options for one shipped profile on the spec treadmill."""
    args = [
        "run",
        "--profile",
        profile,
        "--simulate",
        "--time-scale",
        f"{PROFILE_SCALE:g}",
        "--headless",
        "--yes-preflight",
        "--auto-turn-around",  # interval-mix turns around between forward and backward
    ]
    if config is not None:
        args += ["--config", str(config)]
    return args


@pytest.fixture(scope="session")
def profile_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[CliRun]]]:
    """Every shipped profile run once, two at a time, started on first use."""
    folder = tmp_path_factory.mktemp("profiles-e2e")
    config = folder / "athlete.toml"
    config.write_text(ATHLETE_CONFIG)
    # Longest first, so the two lanes finish together.
    from retro_treadmill.config import load_config
    from retro_treadmill.profiles import load_profile

    durations = {
        name: load_profile(name, load_config(config) if name == ATHLETE else None).total_duration_s
        for name in SHIPPED
    }
    order = sorted(SHIPPED, key=lambda name: -durations[name])
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="e2e") as pool:
        futures = {
            name: pool.submit(
                run_cli,
                profile_args(name, config if name == ATHLETE else None),
                folder / f"{name}.jsonl",
                timeout=120.0,
            )
            for name in order
        }
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.fixture
def athlete_config(tmp_path: Path) -> Path:
    """A clinic config allowing the athlete profile's 3.0 mph."""
    path = tmp_path / "clinic.toml"
    path.write_text(ATHLETE_CONFIG)
    return path
