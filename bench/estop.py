"""Emergency-stop latency: ``SessionService.stop()`` to the Stop write arriving at the treadmill.

Run with ``make bench`` (``.venv/bin/python bench/estop.py [--stops N]``). In one process: the
virtual treadmill on an in-process virtual radio (bumble), the real session service with its FTMS
client through our bleak backend, wall-clock time (no time scale).

For each stop, the latency runs from just before the synchronous ``service.stop(...)`` call (the
stop key, MQTT ``command/stop`` and the signal handlers all call it) to the moment the virtual
treadmill's GATT server receives the ``08 01`` write (its ``time.perf_counter()`` on arrival).
The floor is a plain bleak ``write_gatt_char`` of the same two bytes, awaited by a coroutine that
is already running, through the same backend to the same treadmill (from a second host on the
same virtual radio); its latency is measured the same way. Floor and service stops alternate, so
both see the same conditions. Each path awaits its write's completion before the next step.

Scenarios:

- idle: the spec treadmill (Treadmill Data at 1 Hz), nothing pending;
- load: Treadmill Data at 10 Hz through the whole service (engine, snapshots, event log in
  memory) and, before every stop, a Set Target Speed procedure in flight whose response the
  treadmill withholds (fault ``lose-responses:count=1``): the Stop must pre-empt it.

- tui: the Textual app (headless, 80x24) on the session screen of a running session, redrawn by
  telemetry at 10 Hz; a space key event posted to the app as the terminal driver does; latency
  from the post to the Stop write (issue 6), compared with ``service.stop()`` in the same session
  without the app (three interleaved rounds of each) and with the load scenario above.

Prints median, p99 and max in milliseconds and the service/floor ratios. Targets (issue 5): p99
<= 5 ms under load, and within 2x of the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._procs import loadavg, stats  # noqa: E402
from protocols.ftms import FITNESS_MACHINE_CONTROL_POINT_UUID  # noqa: E402
from retro_treadmill.ble.adapter import Adapter, open_adapter  # noqa: E402
from retro_treadmill.ble.radio import VirtualRadio  # noqa: E402
from retro_treadmill.clock import MonotonicClock  # noqa: E402
from retro_treadmill.profiles import load_profile  # noqa: E402
from retro_treadmill.records.model import SessionInfo, new_session_id, sha256_text  # noqa: E402
from retro_treadmill.service import SessionService, StopOrigin  # noqa: E402
from retro_treadmill.service.sinks import Recording  # noqa: E402
from retro_treadmill.session.profile import Profile  # noqa: E402
from retro_treadmill.sim import VirtualTreadmill, get_personality  # noqa: E402
from retro_treadmill.sim.server import DEFAULT_ADDRESS  # noqa: E402
from retro_treadmill.telemetry.eventlog import EventLog  # noqa: E402
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo  # noqa: E402

STOP = b"\x08\x01"
WARMUP = 20
TARGET_P99_MS = 5.0
TARGET_RATIO = 2.0


@dataclass
class Result:
    """Latencies (seconds) of one scenario."""

    name: str
    service: list[float]
    floor: list[float]
    client: list[float]
    other_host: list[float]


def _arrival(sim: VirtualTreadmill, since: int) -> float:
    """When the first Stop written after index ``since`` arrived (both paths await the write's
    completion first, so it has arrived)."""
    return next(w.perf_counter for w in sim.writes[since:] if w.data == STOP)


RECORD_DIR: Path | None = None
"""``--record DIR``: the services write a JSON-lines event log file and record the session into
a store in DIR, as `retro-treadmill run --event-log ...` does by default."""


def _demo_service(adapter: Adapter, clock: MonotonicClock, profile: Profile) -> SessionService:
    """The session service as `retro-treadmill run` builds it, on the demo profile."""
    log = EventLog(clock=clock.now)
    recording = None
    if RECORD_DIR is not None:
        log = EventLog.open(RECORD_DIR / "events.jsonl", clock=clock.now)
        info = SessionInfo(
            session_id=new_session_id(),
            started_at=0.0,
            profile_name=profile.name,
            profile_text="",
            profile_sha256=sha256_text(""),
            device_name="",
            device_address="",
            program_version="bench",
        )
        recording = Recording(RECORD_DIR / "sessions.db", info)
    return SessionService(
        adapter,
        clock=clock,
        target=DEFAULT_ADDRESS,
        virtual_target=DEFAULT_ADDRESS,
        profile=profile,
        profile_key="demo",
        event_log=log,
        recording=recording,
        handle_signals=False,
        freeze_gc=True,  # as `retro-treadmill run` does
    )


Frontend = Callable[[SessionService], Awaitable[None]]


async def _serve(
    name: str,
    build: Callable[[VirtualRadio, VirtualTreadmill, Profile], Frontend],
    *,
    fast_telemetry: bool,
) -> None:
    """The spec virtual treadmill (Treadmill Data at 10 Hz with ``fast_telemetry``, else 1 Hz) on
    a virtual radio, and the demo session service served with the front end ``build`` makes."""
    clock = MonotonicClock()
    personality = get_personality("spec")
    if fast_telemetry:
        personality = personality.with_changes(telemetry_interval_s=0.1)
    async with VirtualRadio() as radio:
        sim = VirtualTreadmill.on_radio(radio, personality=personality, clock=clock)
        await sim.start()
        try:
            async with open_adapter(radio) as adapter:
                profile = load_profile("demo")
                service = _demo_service(adapter, clock, profile)
                try:
                    await service.serve(build(radio, sim, profile))
                finally:
                    service.log.close()
                if service.warnings:
                    raise RuntimeError(f"{name}: {service.warnings}")
                if service.error is not None:
                    raise RuntimeError(f"{name}: the service failed: {service.error}")
        finally:
            await sim.close()


async def scenario(name: str, stops: int, *, load: bool) -> Result:
    """Run ``stops`` measured stops (after a warm-up) in one scenario."""
    service_lat: list[float] = []
    floor_lat: list[float] = []
    client_lat: list[float] = []
    other_lat: list[float] = []

    def build(radio: VirtualRadio, sim: VirtualTreadmill, profile: Profile) -> Frontend:
        async def frontend(svc: SessionService) -> None:
            await svc.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
            client = svc.client
            assert client is not None
            # The floor's own central (a second host on the same virtual radio, same
            # backend): one host may hold only one link to the treadmill.
            async with open_adapter(radio) as other:
                device = await other.find_device_by_address(DEFAULT_ADDRESS, timeout=10)
                assert device is not None
                async with other.client(device) as plain:
                    await measure(svc, client, plain)

        async def pend(client: Any) -> asyncio.Task[Any] | None:
            """Under load: a Set Target Speed in flight whose response never comes."""
            if not load:
                return None
            await sim.inject("lose-responses:count=1")
            since = len(sim.writes)
            task = asyncio.create_task(client.set_target_speed(1.6))
            await sim.wait_for_write(0x02, after=since)
            return task

        async def measure(svc: SessionService, client: Any, plain: Any) -> None:
            cp = plain.services.get_characteristic(FITNESS_MACHINE_CONTROL_POINT_UUID)
            assert cp is not None
            await plain.start_notify(cp, lambda _c, _d: None)
            if load:
                await client.request_control()  # so the lost response is the setpoint's
            # The client's own BleakClient and control point (private: the bench needs the
            # very same link for the floor).
            link, link_cp = client._bleak, client._cp_char
            gc.collect()
            for i in range(WARMUP + stops):
                # The floor: a plain bleak write of the same bytes on the same link, in
                # the same state (under load, behind the same pending setpoint).
                pending = await pend(client)
                since = len(sim.writes)
                t0 = time.perf_counter()
                await link.write_gatt_char(link_cp, STOP, response=True)
                floor = _arrival(sim, since) - t0
                await client.stop()  # retire the pending setpoint (not measured)
                if pending is not None:
                    await pending
                # A plain write from another host (no shared link, no pending setpoint).
                since = len(sim.writes)
                t0 = time.perf_counter()
                await plain.write_gatt_char(cp, STOP, response=True)
                other_host = _arrival(sim, since) - t0
                # The service's stop path (what the keys, MQTT and signals call).
                pending = await pend(client)
                since = len(sim.writes)
                t0 = time.perf_counter()
                svc.stop(StopOrigin.KEYBOARD)
                await svc.stops_settled()  # the Stop's response is back
                latency = _arrival(sim, since) - t0
                if pending is not None:
                    await pending  # ended PREEMPTED by the Stop
                # The FTMS client alone (no service, no governor).
                pending = await pend(client)
                since = len(sim.writes)
                t0 = time.perf_counter()
                await client.stop()
                direct = _arrival(sim, since) - t0
                if pending is not None:
                    await pending
                if i >= WARMUP:
                    floor_lat.append(floor)
                    service_lat.append(latency)
                    client_lat.append(direct)
                    other_lat.append(other_host)

        return frontend

    await _serve(name, build, fast_telemetry=load)
    return Result(name, service_lat, floor_lat, client_lat, other_lat)


async def tui_scenario(stops: int, *, ui: bool = True) -> list[float]:
    """Key press (a space Key event, posted as the driver does) on the session screen to the Stop,
    with Treadmill Data at 10 Hz redrawing the screen (issue 6). ``ui=False``: the same session
    without the app, stopped by ``service.stop()`` (the headless figure in the same conditions)."""
    from textual import events

    from retro_treadmill.tui.app import RetroTreadmillApp
    from retro_treadmill.tui.model import SessionState

    latencies: list[float] = []

    def build(radio: VirtualRadio, sim: VirtualTreadmill, profile: Profile) -> Frontend:
        async def stops_by(svc: SessionService, press: Callable[[], object]) -> None:
            gc.collect()
            for i in range(WARMUP + stops):
                since = len(sim.writes)
                t0 = time.perf_counter()
                press()
                await sim.wait_for_write(0x08, after=since, timeout=5)
                await svc.stops_settled()
                if i >= WARMUP:
                    latencies.append(_arrival(sim, since) - t0)
                await asyncio.sleep(0.01)  # let a telemetry redraw happen between

        async def frontend(svc: SessionService) -> None:
            await svc.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
            svc.start(["bench"])
            if not ui:
                await sim.wait_for(lambda s: s.belt_speed_kmh > 1.0, timeout=30)
                await stops_by(svc, lambda: svc.stop(StopOrigin.KEYBOARD))
                return
            app = RetroTreadmillApp(svc, devices=[VIRTUAL_TREADMILL], units="mph")
            async with app.run_test(headless=True, size=(80, 24)) as pilot:
                await sim.wait_for(lambda s: s.belt_speed_kmh > 1.0, timeout=30)
                assert svc.snapshot.state is SessionState.RUNNING
                await pilot.pause(0.5)  # the session screen has drawn a few frames
                # What the terminal driver does with a key read from the terminal.
                await stops_by(svc, lambda: app.post_message(events.Key("space", " ")))

        return frontend

    await _serve("tui", build, fast_telemetry=True)
    return latencies


def report(results: list[Result]) -> bool:
    """Print the table; returns whether the targets are met (printed too; ``make bench`` goes on
    either way, the figures are what matter)."""
    print(f"{'scenario':<8} {'path':<26} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    ok = True
    for r in results:
        s_med, s_p99, s_max = stats(r.service)
        f_med, f_p99, f_max = stats(r.floor)
        c_med, c_p99, c_max = stats(r.client)
        o_med, o_p99, o_max = stats(r.other_host)
        print(
            f"{r.name:<8} {'service.stop() -> 08 01':<26} {len(r.service):>5} "
            f"{s_med:>10.3f} {s_p99:>8.3f} {s_max:>8.3f}"
        )
        print(
            f"{r.name:<8} {'plain write_gatt_char':<26} {len(r.floor):>5} "
            f"{f_med:>10.3f} {f_p99:>8.3f} {f_max:>8.3f}"
        )
        print(
            f"{r.name:<8} {'(FtmsClient.stop() alone)':<26} {len(r.client):>5} "
            f"{c_med:>10.3f} {c_p99:>8.3f} {c_max:>8.3f}"
        )
        print(
            f"{r.name:<8} {'(plain write, other host)':<26} {len(r.other_host):>5} "
            f"{o_med:>10.3f} {o_p99:>8.3f} {o_max:>8.3f}"
        )
        ratio_med, ratio_p99 = s_med / f_med, s_p99 / f_p99
        print(f"{r.name:<8} ratio service/floor: median {ratio_med:.2f}x, p99 {ratio_p99:.2f}x")
        if r.name == "load":
            met = s_p99 <= TARGET_P99_MS and ratio_p99 <= TARGET_RATIO
            ok = ok and met
            print(
                f"target (load): p99 <= {TARGET_P99_MS:g} ms and <= {TARGET_RATIO:g}x the floor: "
                f"{'met' if met else 'NOT met'}"
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=1000, help="measured stops per scenario")
    parser.add_argument(
        "--tui-stops", type=int, default=600, help="measured key presses (TUI), each way"
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        type=Path,
        default=None,
        help="with an event log file and the session recorder writing into DIR (as `run`)",
    )
    args = parser.parse_args(argv)
    global RECORD_DIR
    RECORD_DIR = args.record
    if RECORD_DIR is not None:
        RECORD_DIR.mkdir(parents=True, exist_ok=True)
    if args.stops < 2 or args.tui_stops < 2:
        parser.error("--stops and --tui-stops must be at least 2 (a p99 needs two values)")
    print(
        f"e-stop latency: service.stop() -> Stop write at the virtual treadmill, "
        f"{args.stops} stops per scenario (+{WARMUP} warm-up), Python {sys.version.split()[0]}"
    )
    print(f"load average at start: {loadavg()}")
    if RECORD_DIR is not None:
        print(f"with an event log file and the session recorder in {RECORD_DIR}")
    started = time.monotonic()
    results = [
        asyncio.run(scenario("idle", args.stops, load=False)),
        asyncio.run(scenario("load", args.stops, load=True)),
    ]
    report(results)
    # The TUI figure and the headless one in the same conditions, interleaved in rounds.
    tui: list[float] = []
    plain: list[float] = []
    rounds = 3
    for _ in range(rounds):
        tui += asyncio.run(tui_scenario(math.ceil(args.tui_stops / rounds)))
        plain += asyncio.run(tui_scenario(math.ceil(args.tui_stops / rounds), ui=False))
    t_med, t_p99, t_max = stats(tui)
    p_med, p_p99, p_max = stats(plain)
    h_med, h_p99, _ = stats(results[-1].service)
    print(
        f"{'tui':<8} {'space key -> 08 01':<26} {len(tui):>5} "
        f"{t_med:>10.3f} {t_p99:>8.3f} {t_max:>8.3f}"
    )
    print(
        f"{'tui':<8} {'(same, service.stop())':<26} {len(plain):>5} "
        f"{p_med:>10.3f} {p_p99:>8.3f} {p_max:>8.3f}"
    )
    print(
        f"tui      ratio TUI key/headless stop, same session: median {t_med / p_med:.2f}x, "
        f"p99 {t_p99 / p_p99:.2f}x; against the load scenario: median {t_med / h_med:.2f}x, "
        f"p99 {t_p99 / h_p99:.2f}x (target: within 2x)"
    )
    print(f"load average at end: {loadavg()} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
