"""A bounded random fault campaign (issue 13 acceptance): the real CLI against the virtual
treadmill, a random personality, faults at random session times and operator keys at random wall
times, ``SESSIONS`` short sessions, ``LANES`` at a time. A personality whose speed steps are
coarser than the speed increase limit (``lenient``: 0.5 km/h) cannot run a ramp (the product
refuses one before the preflight, issue 13 point 5), so it walks ``STEADY`` instead: one speed,
the incline change kept, the same faults and keys. The safety invariants are judged on what
the virtual treadmill RECEIVED (its own log of every control-point write and its result), with
the session's event log only for the times of alarms, operator actions and telemetry (and no
alarm may claim a unit mix-up: no personality here has one).

Every session prints its seed; ``RETRO_CAMPAIGN_SEEDS=123,456`` replays exactly those sessions,
``RETRO_CAMPAIGN_SEED=N`` draws a whole campaign from ``N`` (default: a fresh random one).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retro_treadmill.sim.personalities import PERSONALITIES as PERSONALITIES_BY_NAME
from retro_treadmill.units import mph_to_kmh
from tests.e2e.conftest import REPO, _env, cli_argv, read_log
from tests.stall import StallMonitor

SESSIONS = 22
LANES = 3
"""Sessions at once: each needs about half a core at x10 plus ~1.5 s of CPU to start."""
SCALE = 10.0
RUN_TIMEOUT_S = 45.0
"""Wall seconds one session may take (a 40 s profile is about 6 s of wall time at x10)."""
END_AFTER_S = (2.5, 5.5)
"""The operator ends the session (stop key) this many wall seconds after it started walking, if
it has not ended by itself (a console stop or an alarm leaves it paused, waiting for them); the
profile's 40 s take 4 s of wall time, so some sessions complete."""
KEYS_WITHIN_S = (0.2, 4.5)
"""Operator keys come at random wall times this long after the session started walking."""
WAIT_RUNNING_S = 25.0
"""Wall seconds to wait for the session to start walking (Python start-up under load)."""

PROFILE = """\
name = "campaign"
description = "a short session for the fault campaign"
audience = "tests"
units = "mph"

[[segments]]
kind = "warm-up"
direction = "backward"
speed = 1.0
duration_s = 15
prompt = "walk"

[[segments]]
kind = "ramp"
direction = "backward"
speed = { from = 1.0, to = 1.2 }
duration_s = 10
prompt = "ramp"

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.2
incline = 0.5
duration_s = 15
prompt = "hold"
"""

STEADY = """\
name = "campaign-steady"
description = "the fault campaign's session at one speed, for treadmills with coarse speed steps"
audience = "tests"
units = "mph"

[[segments]]
kind = "warm-up"
direction = "backward"
speed = 1.0
duration_s = 25
prompt = "walk"

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.0
incline = 0.5
duration_s = 15
prompt = "hold"
"""

PERSONALITIES = (
    "spec",
    "spec",
    "lenient",
    "split-records",
    "keeps-running-on-disconnect",
    "stops-on-disconnect",
    "incline-stuck",
    "speed-lost-when-stopped",
)
FAULTS = (
    "drop-link",
    "safety-key",
    "console-stop",
    "console-speed-up:by=0.3mph",
    "console-speed-up:by=1.0mph",
    "console-speed-down:by=0.3mph",
    "take-control",
    "reboot:after=2s",
    "result:code=4,op=8,count=2",
    "result:code=5,op=8,count=1",
    "result:code=3,op=2,count=1",
    "result:code=4,op=3,count=1",
    "lose-responses:count=1",
    "delay-responses:by=2s,count=1",
    "drop-notifications:for=5s",
    "drop-notifications:for=2s,only=2ACD",
    "delay-notifications:by=1s,for=4s",
)
KEYS = ("+", "-", "p", "c", "a", "+", "c")

CAP_KMH = mph_to_kmh(1.5)
START_KMH = mph_to_kmh(1.0)
MIN_KMH = 0.80  # 0.5 mph on the 0.01 km/h wire, rounded up to a step
STEP_KMH = mph_to_kmh(0.1)
WINDOW_S = 5.0
STANDSTILL_KMH = 0.1
RESEND_S = 1.0
EPS = 0.006  # the wire's 0.01 km/h
_WRITE = re.compile(r"control point from [^:]+(?::[^:]+)*: ([0-9a-f ]+) -> result 0x([0-9A-F]{2})")


@dataclass
class Plan:
    seed: int
    personality: str
    faults: list[str]
    keys: list[tuple[float, str]]
    end_after_s: float

    @classmethod
    def draw(cls, seed: int) -> Plan:
        rng = random.Random(seed)
        faults = [
            f"{rng.choice(FAULTS)}@{rng.uniform(12.0, 45.0):.1f}s" for _ in range(rng.randint(0, 2))
        ]
        keys = sorted(
            (rng.uniform(*KEYS_WITHIN_S), rng.choice(KEYS)) for _ in range(rng.randint(0, 3))
        )
        return cls(seed, rng.choice(PERSONALITIES), faults, keys, rng.uniform(*END_AFTER_S))

    @property
    def profile_name(self) -> str:
        """``STEADY`` when this personality's speed steps are too coarse for the ramp."""
        coarse = PERSONALITIES_BY_NAME[self.personality].motor.speed_increment_kmh > STEP_KMH
        return "campaign-steady.toml" if coarse else "campaign.toml"

    def args(self, profile: Path) -> list[str]:
        args = ["run", "--profile", str(profile), f"--simulate={self.personality}"]
        args += ["--time-scale", f"{SCALE:g}", "--headless", "--yes-preflight"]
        args += ["--seed", str(self.seed)]
        for fault in self.faults:
            args += ["--fault", fault]
        return args

    def __str__(self) -> str:
        keys = " ".join(f"{k!r}@{t:.1f}s" for t, k in self.keys)
        return (
            f"seed {self.seed}: --simulate={self.personality} "
            f"{' '.join('--fault ' + f for f in self.faults)} keys [{keys}] "
            f"stop key at {self.end_after_s:.1f} s (wall, from the first walking)"
        )


@dataclass
class Write:
    t: float
    wall: float
    data: bytes
    result: int

    @property
    def op(self) -> int:
        return self.data[0]

    @property
    def kmh(self) -> float:
        return int.from_bytes(self.data[1:3], "little") / 100

    @property
    def pct(self) -> float:
        return int.from_bytes(self.data[1:3], "little", signed=True) / 10


@dataclass
class Session:
    plan: Plan
    code: int
    stdout: str
    stderr: str
    log: list[dict[str, Any]]
    wall_s: float
    writes: list[Write] = field(default_factory=list)

    def records(self, kind: str, source: str = "session") -> list[dict[str, Any]]:
        return [r for r in self.log if r.get("kind") == kind and r.get("source") == source]

    def explain(self) -> str:
        tail = "\n".join(self.stdout.splitlines()[-12:])
        return (
            f"replay with RETRO_CAMPAIGN_SEEDS={self.plan.seed} ({self.plan})\n"
            f"exit {self.code} after {self.wall_s:.1f} s\nstdout tail:\n{tail}\n"
            f"stderr:\n{self.stderr}"
        )


def run_session(plan: Plan, folder: Path) -> Session:
    profile = folder / plan.profile_name
    log_path = folder / f"campaign-{plan.seed}.jsonl"
    argv = cli_argv(*plan.args(profile), "--event-log", str(log_path))
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: dict[str, str] = {}

    def drain() -> None:
        out, err = proc.communicate()
        output["stdout"], output["stderr"] = out, err

    assert proc.stdin is not None
    stdin = proc.stdin
    reader = threading.Thread(target=drain, daemon=True)
    # communicate() owns stdin once it starts: the keys go first, by hand, then it takes over.
    # Key times count from the first "running" state (start-up takes 1-3 s of wall time).
    walking = started
    while time.monotonic() - started < WAIT_RUNNING_S and proc.poll() is None:
        states = [r.get("state") for r in read_log(log_path) if r.get("kind") == "state"]
        if "running" in states:
            walking = time.monotonic()
            break
        time.sleep(0.05)
    keys = [*plan.keys, (plan.end_after_s, "")]
    for at, key in keys:
        delay = walking + at - time.monotonic()
        if delay > 0 and proc.poll() is None:
            time.sleep(delay)
        if proc.poll() is not None:
            break
        try:
            stdin.write(key + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            break
    proc.stdin = None  # communicate() must not write or close what we own
    reader.start()
    reader.join(RUN_TIMEOUT_S - (time.monotonic() - started))
    if reader.is_alive():
        proc.terminate()  # SIGTERM: the product stops the belt and exits
        reader.join(10.0)
        if reader.is_alive():
            proc.kill()
            reader.join(5.0)
    stdin.close()
    session = Session(
        plan,
        proc.returncode if proc.returncode is not None else -9,
        output.get("stdout", ""),
        output.get("stderr", ""),
        read_log(log_path),
        time.monotonic() - started,
    )
    for record in session.records("simulator-log"):
        match = _WRITE.search(str(record.get("message", "")))
        if match:
            data = bytes.fromhex(match.group(1))
            session.writes.append(
                Write(float(record["t"]), float(record["wall"]), data, int(match.group(2), 16))
            )
    return session


# ---------------------------------------------------------------------------------- invariants


def check(session: Session, monitor: StallMonitor) -> list[str]:
    """Every invariant broken in ``session`` (empty: all hold)."""
    broken: list[str] = []
    s = session
    if s.code not in (0, 3, 4):
        broken.append(f"exit code {s.code} (0, 3 or 4 expected)")
    if "Traceback" in s.stderr:
        broken.append("a traceback on stderr")
    simulator = s.records("simulator")
    if not simulator:
        broken.append("no simulator record: the run did not end cleanly")
    else:
        final = simulator[-1]
        if final["running"] or final["belt_speed_kmh"] != 0.0:
            broken.append(f"the belt was left moving: {final}")
    alarms = [r["alarm"] for r in s.records("alarm")]
    if "unit_mismatch" in alarms:
        # No personality of the campaign mixes up units: a console change or an overspeed was
        # called a mix-up (issue 13).
        broken.append("a unit mismatch claimed on a treadmill that does not mix up units")
    applied = [w for w in s.writes if w.result == 0x01]
    broken += _speeds_within_caps(applied)
    broken += _nothing_moves_after_an_alarm_without_the_operator(s, applied)
    broken += _refused_stops_are_sent_again(s, monitor)
    return broken


def _speeds_within_caps(applied: list[Write]) -> list[str]:
    broken: list[str] = []
    since_start: list[Write] = []
    for w in applied:
        if w.op in (0x07, 0x08):
            since_start = []
        elif w.op == 0x02:
            kmh = w.kmh
            if kmh > CAP_KMH + EPS:
                broken.append(f"speed {kmh} km/h above the cap at {w.t:.1f} s")
            if kmh < MIN_KMH - EPS:
                broken.append(f"speed {kmh} km/h below the minimum running speed at {w.t:.1f} s")
            if not since_start and kmh > START_KMH + EPS:
                broken.append(f"first speed {kmh} km/h above the start speed at {w.t:.1f} s")
            recent = [p.kmh for p in since_start if w.t - p.t < WINDOW_S - 0.3]
            if recent and kmh - min(recent) > STEP_KMH + EPS:
                broken.append(f"speed up {min(recent)} -> {kmh} km/h within 5 s at {w.t:.1f} s")
            since_start.append(w)
        elif w.op == 0x03 and w.pct > 5.0 + 1e-9:
            broken.append(f"incline {w.pct} % above the cap at {w.t:.1f} s")
    return broken


def _nothing_moves_after_an_alarm_without_the_operator(
    s: Session, applied: list[Write]
) -> list[str]:
    """After an alarm and the Stop the treadmill then received, no Start or speed reaches it
    until an operator action (continue/start) in the log."""
    broken: list[str] = []
    operator = [
        float(r["t"]) for r in s.records("operator") if r.get("action") in ("resume", "start")
    ]
    for alarm in s.records("alarm"):
        at = float(alarm["t"])
        stop = next((w for w in applied if w.op == 0x08 and w.t >= at - 0.05), None)
        if stop is None:
            continue
        resumed = min((t for t in operator if t > at), default=float("inf"))
        moving = [w for w in applied if w.op in (0x02, 0x07) and stop.t < w.t < resumed]
        if moving:
            broken.append(
                f"after the {alarm['alarm']} alarm at {at:.1f} s and the Stop at {stop.t:.1f} s, "
                f"{[w.data.hex(' ') for w in moving]} reached the treadmill with no operator action"
            )
    return broken


def _refused_stops_are_sent_again(s: Session, monitor: StallMonitor) -> list[str]:
    """After a Stop the product recognised as refused, while telemetry shows the belt moving,
    the treadmill receives a Stop at least every second (plus the telemetry period)."""
    broken: list[str] = []
    refused = [float(r["t"]) for r in s.records("stop-refused")]
    if not refused:
        return broken
    stops = [w for w in s.writes if w.op == 0x08]
    telemetry = [
        (float(r["t"]), float(r["wall"]), r["record"].get("speed_kmh"))
        for r in s.records("telemetry", source="ftms")
    ]
    for at in refused:
        for t, wall, speed in telemetry:
            if t < at + RESEND_S + 1.0:
                continue
            if speed is None or speed < STANDSTILL_KMH:
                break
            recent = [w for w in stops if t - RESEND_S - 1.0 <= w.t <= t]
            if not recent and monitor.longest_within_wall(wall - 0.25, wall) < 0.1:
                broken.append(
                    f"the belt at {speed} km/h at {t:.1f} s, {t - at:.1f} s after a refused Stop, "
                    "and no Stop in the last 2 s"
                )
                break
    return broken


# ---------------------------------------------------------------------------------- the test


def _plans() -> list[Plan]:
    chosen = os.environ.get("RETRO_CAMPAIGN_SEEDS", "").strip()
    if chosen:
        return [Plan.draw(int(seed)) for seed in chosen.split(",") if seed.strip()]
    base = int(os.environ.get("RETRO_CAMPAIGN_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(base)
    print(f"fault campaign: RETRO_CAMPAIGN_SEED={base}")
    return [Plan.draw(rng.randrange(10**9)) for _ in range(SESSIONS)]


def test_random_fault_campaign_keeps_every_safety_invariant(tmp_path: Path) -> None:
    (tmp_path / "campaign.toml").write_text(PROFILE)
    (tmp_path / "campaign-steady.toml").write_text(STEADY)
    plans = _plans()
    for plan in plans:
        print(f"  {plan}")
    started = time.monotonic()
    with StallMonitor(threshold_s=0.1) as monitor, ThreadPoolExecutor(LANES) as pool:
        sessions = list(pool.map(lambda p: run_session(p, tmp_path), plans))
    wall = time.monotonic() - started
    failures: list[str] = []
    for session in sessions:
        broken = check(session, monitor)
        outcome = session.records("outcome")
        alarms = [r["alarm"] for r in session.records("alarm")]
        print(
            f"  seed {session.plan.seed}: exit {session.code}, {session.wall_s:.1f} s, "
            f"alarms {alarms}, outcome {outcome[-1]['outcome'] if outcome else None}"
        )
        if broken:
            failures.append("\n".join([*broken, session.explain()]))
    print(f"fault campaign: {len(sessions)} sessions in {wall:.1f} s wall")
    assert not failures, "\n\n".join(failures)
    assert len(sessions) == len(plans)
