"""``retro-treadmill demo``: what ``make demo`` runs.

The short ``demo`` profile on the built-in virtual treadmill, time-scaled (x10 by default, about
15 s of wall time). With a terminal on stdin and stdout it opens the TUI (tick the checklist,
start, watch, press space to stop); otherwise it runs headless with the checklist answered for the
virtual walker (``--yes-preflight``). Exit codes as ``run``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from retro_treadmill.config import ClinicConfig

DEMO_PROFILE = "demo"
DEFAULT_TIME_SCALE = 10.0


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="a short guided session on the built-in virtual treadmill",
        description=(
            "Run the 2-minute 'demo' profile on the virtual treadmill, time-scaled. Opens the "
            "terminal UI when stdin and stdout are a terminal, else runs headless."
        ),
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        metavar="N",
        help=f"session seconds per wall second (default {DEFAULT_TIME_SCALE:g})",
    )
    parser.add_argument("--headless", action="store_true", help="no TUI even on a terminal")
    parser.add_argument("--personality", default="spec", help="virtual treadmill personality")
    parser.add_argument("--units", choices=("mph", "kmh"), default="mph", help="display units")
    parser.add_argument("--event-log", metavar="PATH", help="append JSON lines of every event")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo session; the exit code is the outcome (0 = completed)."""
    from retro_treadmill.commands.run import RunPlan, run_plan
    from retro_treadmill.errors import ConfigError
    from retro_treadmill.profiles import load_profile
    from retro_treadmill.sim.personalities import get_personality

    if not 0 < args.time_scale <= 1000:
        raise ConfigError(f"--time-scale must be > 0 and <= 1000, got {args.time_scale}")
    get_personality(args.personality)
    if args.event_log is not None:
        from retro_treadmill.commands.run import check_event_log_path

        check_event_log_path(args.event_log)
    config = ClinicConfig()  # the demo runs under DESIGN's defaults, whatever the clinic set
    headless = bool(args.headless) or not (sys.stdin.isatty() and sys.stdout.isatty())
    plan = RunPlan(
        config=config,
        profile=load_profile(DEMO_PROFILE, config),
        profile_key=DEMO_PROFILE,
        units=args.units,
        headless=headless,
        yes_preflight=headless,
        simulate=args.personality,
        time_scale=args.time_scale,
        event_log=args.event_log,
    )
    return int(asyncio.run(run_plan(plan)))
