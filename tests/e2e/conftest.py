"""End-to-end harness: the real CLI (``python -m retro_treadmill run ...``) in a subprocess against
the in-process virtual treadmill, time-scaled, headless, with a JSON-lines event log.

The shipped profiles are long (up to 30 min of session time), so their runs start together in a
small process pool once the other e2e tests are done (``PROFILE_LANES`` at a time), walk in the
background while the rest of the suite runs, and each parametrized test, moved to the end of the
session, collects its own result. Other long chains of runs (:data:`BACKGROUND`: the walker
program's three sessions) start with the first e2e test, one run at a time, and their tests, also
moved to the end, collect them the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retro_treadmill.profiles import shipped_profiles_dir
from retro_treadmill.telemetry.eventlog import read_event_log
from tests.stall import StallMonitor

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in shipped_profiles_dir().glob("*.toml"))
ATHLETE = "athlete-deceleration"
ATHLETE_CONFIG = """\
[safety]
allow_above_default_caps = true
max_speed_mph = 3.0
"""
PROFILE_SCALE = 10.0
"""Session seconds per wall second for the shipped-profile runs: the 3 s telemetry watchdog is
300 ms of wall time. The product rightly halts when Treadmill Data stops for 3 s, and under
--time-scale a stall of the whole process (or of the machine) counts N times over: measured on
the shared 2-core machine, all four concurrent runs stalled together for 126-340 ms at the same
wall moment (nothing of ours ran in between), which failed every x20 run (150 ms) and x50 run
(60 ms) caught in it. Lower scales cost no CPU (a run needs about 5 % of a core per session
second rate, whatever the scale), only wall time, which the lanes absorb."""
PROFILE_LANES = 6
"""Profile runs at once. The longest profile (30 min: 180 s at x10) sets the wall time anyway;
six lanes (longest first) finish together in about that time, with half the concurrent load of
one lane per profile (twelve at once, next to the console/fault tests' process start-ups, starved
each other into 0.5 s stalls)."""
PROFILE_STAGGER_S = 0.5
"""Wall seconds between the first run starts: Python start-up and imports take about 1 s of CPU."""
FAULT_SCALE = 10.0
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

    retried: CliRun | None = None
    """The earlier attempt, when a machine-wide stall (not the product) failed it (see
    :func:`machine_stall_explains`)."""

    def explain(self) -> str:
        """Context for an assertion message."""
        tail = "\n".join(self.stdout.splitlines()[-15:])
        return f"argv={self.argv}\nexit={self.code}\nstdout tail:\n{tail}\nstderr:\n{self.stderr}"


def cli_argv(*args: str) -> list[str]:
    """The command line for ``python -m retro_treadmill ARGS``."""
    return [sys.executable, "-m", "retro_treadmill", *args]


def read_log(path: Path) -> list[dict[str, Any]]:
    """The event log's records (empty when the file does not exist)."""
    return read_event_log(path) if path.exists() else []


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
        env={"RETRO_TREADMILL_DATA": str(log_path.parent / "data"), **_env()},
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


def machine_stall_explains(run: CliRun, monitor: StallMonitor, scale: float) -> bool:
    """Whether ``run`` failed only because the machine stalled: its one alarm is the telemetry
    watchdog, and without the stall the monitor saw during that silence the silence would have
    stayed below the watchdog (3 s of session time, ``3 / scale`` s of wall time). The run must
    still have failed closed: exit 4, the belt stopped on the treadmill."""
    if run.code != 4 or run.alarms != ["telemetry_timeout"]:
        return False
    if run.simulator["running"] or run.simulator["belt_speed_kmh"] != 0.0:
        return False
    alarm = run.kinds("alarm")[0]
    before = [r for r in run.kinds("telemetry", source="ftms") if r["wall"] <= alarm["wall"]]
    if not before:
        return False
    silence = float(alarm["wall"]) - float(before[-1]["wall"])
    stall = monitor.longest_within_wall(before[-1]["wall"], alarm["wall"])
    return silence - stall < 3.0 / scale


def _profile_run(
    monitor: StallMonitor, delay_s: float, args: list[str], log: Path, timeout: float
) -> CliRun:
    time.sleep(delay_s)
    run = run_cli(args, log, timeout=timeout)
    if machine_stall_explains(run, monitor, PROFILE_SCALE):
        again = run_cli(args, log.with_suffix(".retry.jsonl"), timeout=timeout)
        again.retried = run
        return again
    return run


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


PROFILE_TEST = "test_shipped_profile_completes_and_leaves_the_belt_stopped"


class ProfilePool:
    """Every shipped profile run once, ``PROFILE_LANES`` at a time, in the background.

    The runs are mostly waiting (a run at x10 needs about 7 % of a core), so they start as soon as
    the other end-to-end tests are done (:func:`pytest_runtest_teardown`) and walk while the rest
    of the suite runs; the profile tests themselves are moved to the end of the session
    (:func:`pytest_collection_modifyitems`) and only collect the results."""

    def __init__(self) -> None:
        self.futures: dict[str, Future[CliRun]] | None = None
        self.start_after: str | None = None
        """The node id of the test whose teardown starts the runs."""
        self._monitor: StallMonitor | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self, folder: Path) -> dict[str, Future[CliRun]]:
        if self.futures is not None:
            return self.futures
        config = folder / "athlete.toml"
        config.write_text(ATHLETE_CONFIG)
        from retro_treadmill.config import load_config
        from retro_treadmill.profiles import load_profile

        durations = {
            name: load_profile(
                name, load_config(config) if name == ATHLETE else None
            ).total_duration_s
            for name in SHIPPED
        }
        # Longest first, so the lanes finish together.
        order = sorted(SHIPPED, key=lambda name: -durations[name])
        monitor = self._monitor = StallMonitor(threshold_s=0.1).start()
        pool = self._pool = ThreadPoolExecutor(max_workers=PROFILE_LANES, thread_name_prefix="e2e")
        self.futures = {
            name: pool.submit(
                _profile_run,
                monitor,
                i * PROFILE_STAGGER_S if i < PROFILE_LANES else 0.0,
                profile_args(name, config if name == ATHLETE else None),
                folder / f"{name}.jsonl",
                60.0 + 2 * durations[name] / PROFILE_SCALE,
            )
            for i, name in enumerate(order)
        }
        return self.futures

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._monitor is not None:
            self._monitor.stop()


PROFILES = ProfilePool()


class BackgroundChains:
    """Long serial chains of CLI runs that walk in the background from the first e2e test on.

    A test module registers ``job(folder, monitor)`` under its test's name at import; if that test
    is selected, the job starts in its own thread (one CLI run at a time, a few % of a core) when
    the first e2e test sets up, and the test, moved to the end of the session, asserts on
    :meth:`result`. ``monitor`` sees machine stalls for :func:`machine_stall_explains`."""

    def __init__(self) -> None:
        self.jobs: dict[str, Callable[[Path, StallMonitor], Any]] = {}
        self.selected: set[str] = set()
        self.futures: dict[str, Future[Any]] = {}
        self._monitor: StallMonitor | None = None
        self._pool: ThreadPoolExecutor | None = None

    def register(self, test_name: str, job: Callable[[Path, StallMonitor], Any]) -> None:
        self.jobs[test_name] = job

    def start(self, config: pytest.Config) -> None:
        wanted = [name for name in self.jobs if name in self.selected and name not in self.futures]
        if not wanted:
            return
        if self._pool is None:
            self._monitor = StallMonitor(threshold_s=0.1).start()
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, len(self.jobs)), thread_name_prefix="e2e-chain"
            )
        factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
        for name in wanted:
            assert self._monitor is not None
            self.futures[name] = self._pool.submit(
                self.jobs[name], factory.mktemp(f"chain-{name}"), self._monitor
            )

    def result(self, test_name: str, config: pytest.Config) -> Any:
        self.selected.add(test_name)
        self.start(config)
        return self.futures[test_name].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._monitor is not None:
            self._monitor.stop()


BACKGROUND = BackgroundChains()


def _profile_folder(config: pytest.Config) -> Path:
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    return factory.mktemp("profiles-e2e")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only the tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the background-chain tests, then the shipped-profile tests, to the end; the chains
    start with the first e2e test, the profile runs after the last other e2e test (or, when there
    is none, when the first of their tests asks for them)."""
    chains = [item for item in items if getattr(item, "originalname", "") in BACKGROUND.jobs]
    BACKGROUND.selected = {getattr(item, "originalname", "") for item in chains}
    profile = [item for item in items if getattr(item, "originalname", "") == PROFILE_TEST]
    chosen = set(profile) | set(chains)
    rest = [item for item in items if item not in chosen]
    items[:] = rest + chains + profile
    if not profile:
        return
    e2e = Path(__file__).parent
    others = [item for item in rest if e2e in item.path.parents]
    if others:
        PROFILES.start_after = others[-1].nodeid


def pytest_runtest_setup(item: pytest.Item) -> None:
    BACKGROUND.start(item.config)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if item.nodeid == PROFILES.start_after:
        PROFILES.start(_profile_folder(item.config))


def pytest_sessionfinish() -> None:
    BACKGROUND.close()
    PROFILES.close()


@pytest.fixture(scope="session")
def profile_runs(request: pytest.FixtureRequest) -> dict[str, Future[CliRun]]:
    """The shipped-profile runs (see :class:`ProfilePool`)."""
    return PROFILES.start(_profile_folder(request.config))


@pytest.fixture
def athlete_config(tmp_path: Path) -> Path:
    """A clinic config allowing the athlete profile's 3.0 mph."""
    path = tmp_path / "clinic.toml"
    path.write_text(ATHLETE_CONFIG)
    return path
