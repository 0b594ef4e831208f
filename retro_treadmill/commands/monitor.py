"""``retro-treadmill monitor``: watch every treadmill under an MQTT prefix, with a STOP for each."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``monitor`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "monitor",
        help="dashboard of every treadmill publishing to an MQTT broker, with STOP buttons",
        description=(
            "Show every treadmill under the MQTT prefix: online/stale/offline, session state, "
            "speed, incline, heart rate, alarms; a STOP button per treadmill publishes "
            "command/stop. The treadmill's own safety key remains THE emergency stop."
        ),
    )
    parser.add_argument(
        "--mqtt",
        required=True,
        metavar="URL",
        help="mqtt[s]://user[:password]@host[:port]/prefix (password may come from "
        "$RETRO_TREADMILL_MQTT_PASSWORD)",
    )
    parser.add_argument("--mqtt-ca", metavar="PEM", type=Path, help="CA that signed the broker")
    parser.add_argument("--mqtt-cert", metavar="PEM", type=Path, help="client certificate")
    parser.add_argument("--mqtt-key", metavar="PEM", type=Path, help="client certificate's key")
    parser.add_argument("--units", choices=("mph", "kmh"), default="mph", help="speed unit")
    parser.add_argument(
        "--stale-after",
        type=float,
        default=5.0,
        metavar="S",
        help="mark a treadmill stale after S seconds without telemetry (default 5)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the dashboard until the user quits."""
    from retro_treadmill.errors import ConfigError
    from retro_treadmill.telemetry.monitor import MonitorApp
    from retro_treadmill.telemetry.settings import settings_from_args

    if not args.stale_after > 0:
        raise ConfigError(f"--stale-after must be > 0, got {args.stale_after}", field="stale_after")
    settings = settings_from_args(args, default_id="monitor")
    if settings is None:
        raise ConfigError("monitor needs --mqtt URL", field="mqtt")
    MonitorApp(settings, units=args.units, stale_after_s=args.stale_after).run()
    return 0
