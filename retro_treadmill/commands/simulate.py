"""``retro-treadmill simulate``: a standalone virtual FTMS treadmill on a virtual radio.

The process puts the virtual treadmill's controller and one more controller on one bumble link and
serves that second controller as HCI over TCP on ``--listen`` (loopback only). Any bumble host
opens it with the transport ``tcp-client:HOST:PORT`` (ours: ``--adapter
bumble:tcp-client:127.0.0.1:9700``) and then scans and connects as over the air.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
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
    parser.add_argument("--name", default=None, help="advertised local name")
    parser.set_defaults(handler=run)


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
        print(message, flush=True)

    clock: Clock = ScaledClock(args.time_scale) if args.time_scale != 1.0 else MonotonicClock()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with VirtualRadio() as radio:
            # Bind first: a taken port fails before anything advertises.
            server = await radio.serve_hci_over_tcp(host, port)
            sim = VirtualTreadmill.on_radio(
                radio,
                personality=personality,
                clock=clock,
                name=args.name or DEFAULT_NAME,
                faults=split_faults(args.fault)[0],
                seed=args.seed,
                snoop=snoop,
                log=say,
            )
            strap = None
            if args.hr is not None:
                strap = VirtualStrap.on_radio(
                    radio,
                    kind=args.hr,
                    clock=clock,
                    belt=lambda: (sim.belt_speed_kmh, sim.incline_pct),
                    faults=split_faults(args.fault)[1],
                    log=say,
                )
            await sim.start()
            try:
                if strap is not None:
                    await strap.start()
                say(f"listening: {server.transport_spec} (personality {personality})")
                for fault in sim.scheduled_faults:
                    say(f"fault scheduled at {fault.at:.1f} s: {fault}")
                stopping = asyncio.ensure_future(stop.wait())
                failing = asyncio.ensure_future(sim.failed.wait())
                try:
                    await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                    failing.cancel()
                say("stopping")
            finally:
                if strap is not None:
                    await strap.close()
                await sim.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    sys.stdout.flush()
    return 1 if sim.failure is not None else 0
