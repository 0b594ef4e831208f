"""``retro-treadmill scan``: list FTMS treadmills (and heart-rate monitors) in range."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from retro_treadmill.errors import ConfigError

EXIT_CODES_HELP = (
    "exit codes: 0 something was found, 1 nothing was heard within the timeout, 2 usage error or "
    "no usable Bluetooth adapter (the message says which and what to try)."
)


def register(subparsers: Any) -> None:
    """Add the ``scan`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="list FTMS treadmills and heart-rate monitors in range",
        description=(
            "Listen for Bluetooth LE advertisements and list FTMS treadmills (by the FTMS "
            "service data or service UUID 0x1826) and heart-rate monitors (0x180D), with "
            "address, signal strength, machine type and the 'available' flag. Use the address "
            "or the name with `run --device`."
        ),
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument(
        "--adapter",
        default="system",
        metavar="system|bumble:TRANSPORT",
        help=(
            "Bluetooth adapter: the system stack (default) or a bumble transport, e.g. "
            "bumble:tcp-client:127.0.0.1:9700 for `retro-treadmill simulate`"
        ),
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to listen (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per device")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Scan and print; exit code 0 when something was found, 1 when nothing was."""
    if not args.timeout > 0:
        raise ConfigError(f"--timeout must be > 0, got {args.timeout}", field="timeout")
    return asyncio.run(_scan(args.adapter, args.timeout, args.json))


async def _scan(spec: str, timeout: float, as_json: bool) -> int:  # noqa: ASYNC109
    from retro_treadmill.ble.adapter import open_adapter
    from retro_treadmill.ble.discovery import scan

    async with open_adapter(spec) as adapter:
        found = await scan(adapter, timeout)
    if as_json:
        for d in found:
            print(
                json.dumps(
                    {
                        "address": d.address,
                        "name": d.name,
                        "rssi": d.rssi,
                        "kind": d.kind,
                        "available": d.available,
                        "machine_types": list(d.machine_types),
                    }
                )
            )
    elif not found:
        print(f"no FTMS treadmill or heart-rate monitor heard within {timeout:g} s")
    else:
        print(f"{'ADDRESS':<17}  {'RSSI':>8}  {'KIND':<16} NAME")
        for d in found:
            print(d.describe())
    return 0 if found else 1
