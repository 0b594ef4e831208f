"""``retro-treadmill demo``: what ``make demo`` runs."""

from __future__ import annotations

import argparse
from typing import Any

from retro_treadmill import __version__


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="a short guided session on the built-in virtual treadmill"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the version (the session demo arrives with the session engine)."""
    print(f"retro-treadmill {__version__}")
    return 0
