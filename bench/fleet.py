"""A clinic's worth of treadmills on one host: remote STOP latency, 1 session against 8, and the
monitor's lag and CPU with 50 treadmills publishing.

Run with ``make bench`` (``.venv/bin/python bench/fleet.py [--stops N] [--sessions N]
[--treadmills N] [--seconds S]``). Everything runs on this host, on loopback only:

- one mosquitto broker started by the bench on a free loopback port;
- one ``retro-treadmill simulate --count 8 --timestamps`` (eight virtual treadmills on one link;
  its log stamps every control-point write with ``time.monotonic()``, the same clock in every
  process on the host);
- sessions as separate processes, ``retro-treadmill run --headless --yes-preflight --profile demo
  --device "RetroSim FTMS k" --mqtt ...``, each publishing its state and telemetry.

Remote STOP: once every session's belt runs, the bench has ``command/stop`` published (QoS 1, as
the monitor does) to one session at a time, round robin, and waits for the ``08 01`` write at that
session's virtual treadmill; the latency runs from just before the publish to the write's arrival
there. The publishes come from ``bench/_stop_publisher.py``, a process of its own that is idle
between stops, so that the bench's own work (starting, following and reaping sessions) is not
counted as the stop path's. A stopped session keeps taking stops while its belt runs down (each
one is written again), then ends; the bench starts a fresh round of sessions until it has
``--stops`` stops. First with 1 session, then with ``--sessions`` (8): median, p99 and max, and the
ratio 8/1 (targets, issue 15: p99 with 8 <= 1.5x the single-session p99 and <= 20 ms).

Monitor: ``retro-treadmill monitor`` (the real app, under a 120x36 pseudo-terminal, through
``bench/_monitor_probe.py``, which notes when each treadmill's row shows a new value) and
``--treadmills`` (50) synthetic publishers, one MQTT connection each, speaking the documented
topics (retained ``availability`` and ``state``, ``telemetry`` at 2 Hz whose ``distance_m`` counts
the samples). Lag: publish -> the row showing that sample, p99 (target <= 200 ms); the monitor's
CPU over the measured window (target <= 25 % of one core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402

from bench._procs import (  # noqa: E402
    MosquittoBroker,
    Simulate,
    Usage,
    broker,
    loadavg,
    spawn_in_pty,
    stats,
)
from retro_treadmill.telemetry.schema import (  # noqa: E402
    AVAILABILITY_OFFLINE,
    AVAILABILITY_ONLINE,
    StateUpdate,
    TelemetrySample,
    Topics,
    encode,
)

PREFIX = "bench"
STOP_GAP_S = 0.05
"""Pause between one stop's arrival and the next publish."""
ARRIVAL_TIMEOUT_S = 2.0
HEADER = f"{'n':>5} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}"
TARGET_STOP_RATIO = 1.5
TARGET_STOP_P99_MS = 20.0
TARGET_LAG_P99_MS = 200.0
TARGET_MONITOR_CPU_PCT = 25.0


@dataclass
class StopRun:
    """Stop latencies (seconds) with ``sessions`` concurrent sessions."""

    sessions: int
    latencies: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    """The first stop of each session (its belt at speed); the others find the belt running
    down (each is written again all the same)."""
    samples: list[tuple[Path, float, float, bool]] = field(default_factory=list)
    """With ``--legs``: (session event log, publish time, arrival time, first stop) per stop."""
    unanswered: int = 0
    rounds: int = 0
    failed_starts: int = 0
    """Sessions that ended before their belt ran (left out of their round)."""
    legs: dict[str, list[float]] = field(default_factory=dict)
    """With ``--legs``: each stop's latency split where the session's event log saw it."""


LEGS = (
    "publish -> session takes the command",
    "command -> Stop write issued",
    "write issued -> arrives at the treadmill",
)


def split_legs(samples: list[tuple[Path, float, float, bool]]) -> dict[str, list[float]]:
    """Each stop's latency in three legs, from its session's event log (``t`` is the session's
    ``time.monotonic()``, the clock the bench and ``simulate --timestamps`` read): the broker
    and the session's loop up to the ``operator`` stop by ``mqtt``; the governor and the FTMS
    client up to the ``08 01`` write's audit record; the HCI link and the virtual treadmill's
    loop up to its arrival. Stops whose records are missing (a session that ended) are left
    out. The keys are :data:`LEGS` and ``first``/``repeated`` for the whole latency."""
    from retro_treadmill.telemetry.eventlog import read_event_log

    logs: dict[Path, list[dict[str, object]]] = {}
    out: dict[str, list[float]] = {name: [] for name in (*LEGS, "first", "repeated")}
    for path, t0, arrived, first in samples:
        if path not in logs:
            logs[path] = read_event_log(path) if path.exists() else []
        records = logs[path]
        taken = next(
            (
                float(str(r["t"]))
                for r in records
                if r.get("kind") == "operator"
                and r.get("action") == "stop"
                and r.get("by") == "mqtt"
                and t0 <= float(str(r["t"])) <= arrived
            ),
            None,
        )
        if taken is None:
            continue
        issued = next(
            (
                float(str(r["t"]))
                for r in records
                if r.get("source") == "ftms"
                and r.get("kind") == "write"
                and str(r.get("bytes", "")).replace(" ", "") == "0801"
                and taken <= float(str(r["t"])) <= arrived
            ),
            None,
        )
        if issued is None:
            continue
        out[LEGS[0]].append(taken - t0)
        out[LEGS[1]].append(issued - taken)
        out[LEGS[2]].append(arrived - issued)
        out["first" if first else "repeated"].append(arrived - t0)
    return out


class StopPublisher:
    """``bench/_stop_publisher.py`` in a process of its own: :meth:`stop` has it publish
    ``command/stop`` to one treadmill and returns the time it noted just before publishing."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, port: int) -> StopPublisher:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bench" / "_stop_publisher.py"),
            "--port",
            str(port),
            "--prefix",
            PREFIX,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), 30)
        if ready.strip() != b"ready":
            process.kill()
            raise RuntimeError(f"the stop publisher did not start: {ready!r}")
        return cls(process)

    async def stop(self, treadmill: str) -> float:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{treadmill}\n".encode())
        await self.process.stdin.drain()
        return float(await asyncio.wait_for(self.process.stdout.readline(), 5))

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def _session(
    sim: Simulate, index: int, mqtt_port: int, logdir: Path, event_log: Path | None
) -> asyncio.subprocess.Process:
    name = Simulate.name(index, sim.count)
    extra = ["--event-log", str(event_log)] if event_log is not None else []
    log = open(logdir / f"session-{index}.log", "ab")  # noqa: SIM115, ASYNC230 - closed by the child's exit
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "retro_treadmill",
            "run",
            "--headless",
            "--yes-preflight",
            "--profile",
            "demo",
            "--device",
            name,
            "--adapter",
            f"bumble:{sim.transport}",
            "--mqtt",
            f"mqtt://127.0.0.1:{mqtt_port}/{PREFIX}",
            "--mqtt-id",
            f"tm{index}",
            *extra,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


async def stop_latency(
    sim: Simulate, mqtt: MosquittoBroker, sessions: int, stops: int, legs: bool = False
) -> StopRun:
    """Rounds of ``sessions`` concurrent sessions, stopped remotely until ``stops`` have arrived."""
    run = StopRun(sessions)
    states: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        logdir = Path(tmp)
        async with aiomqtt.Client("127.0.0.1", mqtt.port, identifier="bench-stopper") as client:
            await client.subscribe(f"{PREFIX}/+/state", qos=1)

            async def watch() -> None:
                async for message in client.messages:
                    treadmill = message.topic.value.split("/")[1]
                    payload = message.payload
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        raw = payload if isinstance(payload, bytes) else str(payload).encode()
                        states[treadmill] = str(json.loads(raw)["state"])

            watcher = asyncio.create_task(watch())
            publisher = await StopPublisher.start(mqtt.port)
            try:
                while len(run.latencies) < stops:
                    run.rounds += 1
                    await _round(sim, mqtt, publisher, states, sessions, stops, run, logdir, legs)
                if legs:
                    run.legs = split_legs(run.samples)
            finally:
                await publisher.close()
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    return run


async def _round(
    sim: Simulate,
    mqtt: MosquittoBroker,
    publisher: StopPublisher,
    states: dict[str, str],
    sessions: int,
    stops: int,
    run: StopRun,
    logdir: Path,
    legs: bool,
) -> None:
    ids = [f"tm{k}" for k in range(1, sessions + 1)]
    for treadmill in ids:
        states.pop(treadmill, None)
    event_logs = {
        k: (logdir / f"events-{run.rounds}-{k}.jsonl" if legs else None)
        for k in range(1, sessions + 1)
    }
    processes = [
        await _session(sim, k, mqtt.port, logdir, event_logs[k]) for k in range(1, sessions + 1)
    ]
    try:
        # Wait until every session runs; one that ends first (on a loaded machine, e.g. a
        # Start refused for stale data) is reported and left out of this round.
        waiting, live = set(range(1, sessions + 1)), []
        async with asyncio.timeout(120):
            while waiting:
                for k in sorted(waiting):
                    if states.get(f"tm{k}") == "running":
                        waiting.discard(k)
                        live.append(k)
                    elif processes[k - 1].returncode is not None:
                        waiting.discard(k)
                        run.failed_starts += 1
                        log = (logdir / f"session-{k}.log").read_text(errors="replace")
                        tail = "\n".join(log.splitlines()[-5:])
                        print(f"session {k} ended before running:\n{tail}", file=sys.stderr)
                        if run.failed_starts > 2 * sessions:
                            raise RuntimeError("sessions keep ending before they run")
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the belts are moving
        live.sort()
        stopped: set[int] = set()
        while live and len(run.latencies) < stops:
            for k in list(live):
                treadmill, process = f"tm{k}", processes[k - 1]
                if process.returncode is not None or states.get(treadmill) not in (
                    "running",
                    "stopping",
                ):
                    live.remove(k)
                    continue
                arrivals = sim.stops[Simulate.name(k, sim.count)]
                while not arrivals.empty():
                    arrivals.get_nowait()
                t0 = await publisher.stop(treadmill)
                try:
                    async with asyncio.timeout(ARRIVAL_TIMEOUT_S):
                        arrived = await arrivals.get()
                        while arrived < t0:
                            arrived = await arrivals.get()
                    run.latencies.append(arrived - t0)
                    event_log = event_logs[k]
                    if event_log is not None:
                        run.samples.append((event_log, t0, arrived, k not in stopped))
                    if k not in stopped:
                        run.first.append(arrived - t0)
                    stopped.add(k)
                except TimeoutError:
                    run.unanswered += 1
                if len(run.latencies) >= stops:
                    break
                await asyncio.sleep(STOP_GAP_S)
    finally:
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        for process in processes:
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@dataclass
class MonitorRun:
    treadmills: int
    lags: list[float]
    published: int
    shown: int
    cpu_pct: float
    rss_mb: float


async def _publisher(
    port: int,
    treadmill: str,
    rate_hz: float,
    phase_s: float,
    until: float,
    sent: dict[tuple[str, int], float],
    ready: asyncio.Event,
) -> None:
    topics = Topics(f"{PREFIX}/{treadmill}")
    will = aiomqtt.Will(topics.availability, AVAILABILITY_OFFLINE, qos=1, retain=True)
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=f"bench-{treadmill}", will=will
    ) as client:
        await client.publish(topics.availability, AVAILABILITY_ONLINE, qos=1, retain=True)
        state = StateUpdate("running", profile="demo", target_speed_kmh=1.6)
        await client.publish(
            topics.state, encode(state.to_payload(treadmill, time.time())), qos=1, retain=True
        )
        await ready.wait()
        await asyncio.sleep(phase_s)
        seq = 0
        start = time.monotonic()
        while time.monotonic() < until:
            seq += 1
            sample = TelemetrySample(
                speed_kmh=1.6,
                incline_pct=1.0,
                distance_m=float(seq),
                elapsed_s=seq / rate_hz,
                heart_rate_bpm=100 + seq % 20,
            )
            body = encode(sample.to_payload(treadmill, time.time()))
            sent[(treadmill, seq)] = time.monotonic()
            await client.publish(topics.telemetry, body, qos=0)
            await asyncio.sleep(max(0.0, start + seq / rate_hz - time.monotonic()))
        await client.publish(topics.availability, AVAILABILITY_OFFLINE, qos=1, retain=True)


async def monitor_lag(
    mqtt: MosquittoBroker, treadmills: int, seconds: float, rate_hz: float
) -> MonitorRun:
    """The monitor (under a pseudo-terminal) with ``treadmills`` synthetic publishers."""
    warmup = 5.0
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        out = Path(tmp) / "shown.json"
        monitor = spawn_in_pty(
            [
                sys.executable,
                str(ROOT / "bench" / "_monitor_probe.py"),
                "--mqtt",
                f"mqtt://127.0.0.1:{mqtt.port}/{PREFIX}",
                "--out",
                str(out),
            ],
            cols=120,
            rows=36,
        )
        try:
            await asyncio.sleep(3.0)  # imported and connected
            sent: dict[tuple[str, int], float] = {}
            ready = asyncio.Event()
            until = time.monotonic() + 2.0 + warmup + seconds
            tasks = [
                asyncio.create_task(
                    _publisher(
                        mqtt.port,
                        f"tm{i:02d}",
                        rate_hz,
                        (i / treadmills) / rate_hz,
                        until,
                        sent,
                        ready,
                    )
                )
                for i in range(1, treadmills + 1)
            ]
            await asyncio.sleep(2.0)  # all connected
            ready.set()
            await asyncio.sleep(warmup)
            usage = Usage(monitor.process.pid)
            usage.begin()
            window_start = time.monotonic()
            await asyncio.sleep(seconds)
            usage.end()
            await asyncio.gather(*tasks)
            await asyncio.sleep(1.0)  # the last samples reach the rows
            monitor.write(b"q")
            for _ in range(150):
                if out.exists():
                    break
                await asyncio.sleep(0.1)
        finally:
            monitor.close()
        if not out.exists():
            raise RuntimeError(
                "the monitor probe wrote nothing; its screen ended with:\n"
                + monitor.tail.decode(errors="replace")
            )
        shown = json.loads(out.read_text())
    lags = []
    for treadmill, distance, at in shown:
        key = (treadmill, round(distance))
        published = sent.get(key)
        if published is not None and published >= window_start:
            lags.append(at - published)
    in_window = sum(1 for t in sent.values() if t >= window_start)
    return MonitorRun(treadmills, lags, in_window, len(lags), usage.cpu_pct, usage.rss_mb)


def _row(label: str, values: list[float]) -> tuple[float, float, float]:
    med, p99, top = stats(values)
    print(f"{label:<44} {len(values):>5} {med:>10.3f} {p99:>8.3f} {top:>8.3f}")
    return med, p99, top


async def amain(args: argparse.Namespace) -> int:
    print(
        f"fleet: remote STOP with 1 and {args.sessions} sessions ({args.stops} stops each), "
        f"monitor with {args.treadmills} treadmills at {args.rate:g} Hz for {args.seconds:g} s; "
        f"Python {sys.version.split()[0]}"
    )
    print(f"load average at start: {loadavg()}")
    started = time.monotonic()
    ok = True
    with broker() as mqtt:
        sim = Simulate(args.sessions)
        await sim.start()
        try:
            one = await stop_latency(sim, mqtt, 1, args.stops, args.legs)
            many = await stop_latency(sim, mqtt, args.sessions, args.stops, args.legs)
        finally:
            await sim.close()
        print(f"{'remote STOP (publish -> 08 01 at the treadmill)':<44} {HEADER}")
        _, p99_one, _ = _row(f"  1 session ({one.rounds} rounds)", one.latencies)
        _, p99_many, _ = _row(f"  {args.sessions} sessions ({many.rounds} rounds)", many.latencies)
        _row("  (1 session: first stop, belt at speed)", one.first)
        _row(f"  ({args.sessions} sessions: first stop, belt at speed)", many.first)
        for case in (one, many) if args.legs else ():
            print(f"  legs with {case.sessions} session(s), from the event logs:")
            for name, values in case.legs.items():
                _row(f"    {name}", values)
        if one.failed_starts or many.failed_starts:
            print(
                f"  sessions that ended before running (left out): 1 session {one.failed_starts}, "
                f"{args.sessions} sessions {many.failed_starts}"
            )
        if one.unanswered or many.unanswered:
            print(
                f"  stops with no 08 01 within {ARRIVAL_TIMEOUT_S:g} s (session ending): "
                f"1 session {one.unanswered}, {args.sessions} sessions {many.unanswered}"
            )
        ratio = p99_many / p99_one
        met = ratio <= TARGET_STOP_RATIO and p99_many <= TARGET_STOP_P99_MS
        ok = ok and met
        med_ratio = stats(many.latencies)[0] / stats(one.latencies)[0]
        print(
            f"  ratio {args.sessions}/1: median {med_ratio:.2f}x, p99 {ratio:.2f}x "
            f"(target: p99 <= {TARGET_STOP_RATIO:g}x and <= {TARGET_STOP_P99_MS:g} ms): "
            f"{'met' if met else 'NOT met'}"
        )
        if args.no_monitor:
            print(f"load average at end: {loadavg()} ({time.monotonic() - started:.0f} s)")
            return 0
        mon = await monitor_lag(mqtt, args.treadmills, args.seconds, args.rate)
    print(f"{'monitor lag (publish -> row shows it)':<44} {HEADER}")
    _, lag_p99, _ = _row(f"  {mon.treadmills} treadmills at {args.rate:g} Hz", mon.lags)
    print(f"  samples published in the window {mon.published}, shown {mon.shown}")
    met = lag_p99 <= TARGET_LAG_P99_MS and mon.cpu_pct <= TARGET_MONITOR_CPU_PCT
    ok = ok and met
    print(
        f"  monitor CPU {mon.cpu_pct:.1f} % of one core over {args.seconds:g} s, peak RSS "
        f"{mon.rss_mb:.0f} MB (target: lag p99 <= {TARGET_LAG_P99_MS:g} ms, CPU <= "
        f"{TARGET_MONITOR_CPU_PCT:g} %): {'met' if met else 'NOT met'}"
    )
    print(f"load average at end: {loadavg()} ({time.monotonic() - started:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stops", type=int, default=200, help="measured stops per case")
    parser.add_argument(
        "--sessions", type=int, default=8, help="concurrent sessions (the many case)"
    )
    parser.add_argument("--treadmills", type=int, default=50, help="synthetic treadmills (monitor)")
    parser.add_argument("--rate", type=float, default=2.0, help="telemetry per treadmill, Hz")
    parser.add_argument("--seconds", type=float, default=30.0, help="monitor window, s")
    parser.add_argument(
        "--legs",
        action="store_true",
        help="every session writes an event log; split each stop's latency where it was seen",
    )
    parser.add_argument("--no-monitor", action="store_true", help="only the remote STOP part")
    args = parser.parse_args(argv)
    if args.stops < 2 or not 1 <= args.sessions <= 50 or args.treadmills < 1 or args.seconds <= 0:
        parser.error("--stops >= 2, --sessions 1..50, --treadmills >= 1, --seconds > 0")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
