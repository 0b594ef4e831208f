"""``retro-treadmill simulate``: a standalone virtual FTMS treadmill on a virtual radio.

The process puts the virtual treadmill's controller and one more controller on one bumble link and
serves that second controller as HCI over TCP on ``--listen`` (loopback only). Any bumble host
opens it with the transport ``tcp-client:HOST:PORT`` (ours: ``--adapter
bumble:tcp-client:127.0.0.1:9700``) and then scans and connects as over the air.

``--count N`` puts N treadmills on the link, "RetroSim FTMS 1".."N" (each its own controller and
address), and lets up to N hosts attach at once, each with a controller of its own: a client
picks its treadmill by name (``run --device "RetroSim FTMS 3"``). Log lines then start with the
treadmill's name; ``--timestamps`` starts each line with ``time.monotonic()`` (the same clock in
every process on the host, for latency measurements such as ``bench/fleet.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from retro_treadmill.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="run a virtual FTMS treadmill reachable over HCI-over-TCP",
        description=(
            "Run a virtual FTMS treadmill. Other processes reach it as a virtual Bluetooth "
            "controller with the bumble transport tcp-client:HOST:PORT (e.g. "
            "--adapter bumble:tcp-client:127.0.0.1:9700). Stop with Ctrl-C."
        ),
        epilog=(
            "fault syntax: KIND[:KEY=VALUE,...][@WHEN], WHEN = 12s | 500ms | 5s..20s (random, "
            "--seed). Kinds: drop-link[:every=20s..60s], drop-notifications[:for=,only=2ACD], "
            "delay-notifications[:by=,for=,only=], delay-responses[:by=,count=], "
            "lose-responses[:count=], result:code=N[,op=N,count=N], console-speed-up[:by=0.5kmh], "
            "console-speed-down[:by=], console-stop, safety-key, take-control, reboot[:after=2s]."
        ),
    )
    parser.add_argument(
        "--personality",
        default="spec",
        metavar="NAME",
        help="device personality (default spec; --list-personalities names and describes them)",
    )
    parser.add_argument(
        "--list-personalities", action="store_true", help="list the personalities and exit"
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:9700",
        metavar="HOST:PORT",
        help="loopback address for HCI over TCP (default 127.0.0.1:9700; port 0 picks one)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. drop-link@12s (repeatable; syntax below)",
    )
    parser.add_argument(
        "--hr",
        nargs="?",
        const="steady",
        default=None,
        metavar="KIND",
        help="also run a virtual heart-rate strap 'RetroSim HR' following the belt (steady, "
        "rising, dropout, no-contact, disconnect, zero-bursts; KIND@WHEN, e.g. dropout@40s); "
        "strap faults: --fault hr.drop-link@30s",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random fault times")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="N",
        help="run N simulated seconds per wall-clock second",
    )
    parser.add_argument("--snoop", metavar="FILE", help="write a btsnoop capture (tshark -r FILE)")
    parser.add_argument(
        "--name",
        default=None,
        help="advertised local name (with --count: the stem, numbered 1..N)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        metavar="N",
        help=f"serve N treadmills (1..{MAX_COUNT}) named STEM 1..N; up to N clients may attach",
    )
    parser.add_argument(
        "--timestamps",
        action="store_true",
        help="start every log line with time.monotonic() (seconds; same clock host-wide)",
    )
    parser.set_defaults(handler=run)


MAX_COUNT = 50
"""Most treadmills one ``simulate`` serves (names stay short enough to advertise whole)."""


def treadmill_address(index: int, count: int) -> str:
    """The static random address of treadmill ``index`` (1-based) of ``count``: the usual
    F0:F1:F2:F3:F4:F5 when there is one, F0:F1:F2:F3:F5:<index> otherwise."""
    from retro_treadmill.sim.server import DEFAULT_ADDRESS

    return DEFAULT_ADDRESS if count == 1 else f"F0:F1:F2:F3:F5:{index:02X}"


def treadmill_name(stem: str, index: int, count: int) -> str:
    """The advertised name of treadmill ``index`` (1-based) of ``count``."""
    return stem if count == 1 else f"{stem} {index}"


def _split_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ConfigError(
            f"--listen {text!r}: write HOST:PORT, e.g. 127.0.0.1:9700", field="listen"
        )
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Run the virtual treadmill until SIGINT/SIGTERM; exit code 0 on a clean stop, 1 when the
    treadmill's loop failed (the error is printed)."""
    from retro_treadmill.sim.faults import parse_fault
    from retro_treadmill.sim.heart import parse_strap_kind
    from retro_treadmill.sim.personalities import PERSONALITIES, get_personality
    from retro_treadmill.sim.strap import parse_strap_fault, split_faults

    if args.list_personalities:
        for personality in PERSONALITIES.values():
            print(f"{personality.name:28} {personality.description}")
        return 0
    from retro_treadmill.ble.radio import check_loopback_host

    personality = get_personality(args.personality)
    host, port = _split_listen(args.listen)
    host = check_loopback_host(host)
    if not args.time_scale > 0:
        raise ConfigError(f"--time-scale must be > 0, got {args.time_scale}", field="time-scale")
    treadmill_faults, strap_faults = split_faults(args.fault)
    if not 1 <= args.count <= MAX_COUNT:
        raise ConfigError(f"--count must be 1..{MAX_COUNT}, got {args.count}", field="count")
    if args.snoop and args.count > 1:
        raise ConfigError("--snoop captures one treadmill: use it without --count", field="snoop")
    for spec in treadmill_faults:
        parse_fault(spec)  # report syntax errors before anything starts
    if strap_faults and args.hr is None:
        raise ConfigError("--fault hr.... needs the virtual strap (--hr)", field="fault")
    for spec in strap_faults:
        parse_strap_fault(spec)
    if args.hr is not None:
        parse_strap_kind(args.hr)
    snoop = open(args.snoop, "wb") if args.snoop else None  # noqa: SIM115 - closed below
    try:
        return asyncio.run(_serve(args, personality.name, host, port, snoop))
    finally:
        if snoop is not None:
            snoop.close()


async def _serve(
    args: argparse.Namespace, personality: str, host: str, port: int, snoop: BinaryIO | None
) -> int:
    from retro_treadmill.ble.radio import VirtualRadio
    from retro_treadmill.clock import Clock, MonotonicClock, ScaledClock
    from retro_treadmill.sim.server import DEFAULT_NAME, VirtualTreadmill
    from retro_treadmill.sim.strap import VirtualStrap, split_faults

    def say(message: str) -> None:
        print(f"{time.monotonic():.6f} {message}" if args.timestamps else message, flush=True)

    def teller(name: str) -> Callable[[str], None]:
        if args.count == 1:
            return say
        return lambda message: say(f"[{name}] {message}")

    clock: Clock = ScaledClock(args.time_scale) if args.time_scale != 1.0 else MonotonicClock()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with VirtualRadio() as radio:
            # Bind first: a taken port fails before anything advertises.
            server = await radio.serve_hci_over_tcp(host, port, max_clients=args.count)
            treadmill_faults, strap_faults = split_faults(args.fault)
            sims: list[VirtualTreadmill] = []
            strap: VirtualStrap | None = None
            try:
                for index in range(1, args.count + 1):
                    name = treadmill_name(args.name or DEFAULT_NAME, index, args.count)
                    sim = VirtualTreadmill.on_radio(
                        radio,
                        treadmill_address(index, args.count),
                        personality=personality,
                        clock=clock,
                        name=name,
                        faults=treadmill_faults,
                        seed=args.seed,
                        snoop=snoop,
                        log=teller(name),
                    )
                    sims.append(sim)
                    await sim.start()
                    for fault in sim.scheduled_faults:
                        teller(name)(f"fault scheduled at {fault.at:.1f} s: {fault}")
                if args.hr is not None:
                    first = sims[0]  # the strap's heart rate follows the first treadmill's belt
                    strap = VirtualStrap.on_radio(
                        radio,
                        kind=args.hr,
                        clock=clock,
                        belt=lambda: (first.belt_speed_kmh, first.incline_pct),
                        faults=strap_faults,
                        log=say,
                    )
                    await strap.start()
                say(f"listening: {server.transport_spec} (personality {personality})")
                stopping = asyncio.ensure_future(stop.wait())
                failing = [asyncio.ensure_future(sim.failed.wait()) for sim in sims]
                try:
                    await asyncio.wait({stopping, *failing}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                    for task in failing:
                        task.cancel()
                say("stopping")
            finally:
                if strap is not None:
                    await strap.close()
                for sim in sims:
                    await sim.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    sys.stdout.flush()
    return 1 if any(sim.failure is not None for sim in sims) else 0
