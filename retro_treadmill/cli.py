"""The ``retro-treadmill`` command (also ``python -m retro_treadmill``).

Each subcommand lives in :mod:`retro_treadmill.commands` as a module with a ``register(subparsers)``
function; heavy imports (bleak, bumble, textual) happen inside the command, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from retro_treadmill import __version__
from retro_treadmill.errors import RetroTreadmillError

# Order here is the order shown by --help.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "demo",
    "simulate",
    "profiles",
    "history",
    "export",
    "scan",
    "monitor",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="retro-treadmill",
        description="Guided backward walking on an FTMS smart treadmill, with a safety governor.",
        epilog="The treadmill's own safety key remains THE emergency stop: clip it on.",
    )
    parser.add_argument("--version", action="version", version=f"retro-treadmill {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"retro_treadmill.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = handler(args)
    except RetroTreadmillError as exc:
        print(f"retro-treadmill: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
