"""The ``retro-treadmill`` command (also ``python -m retro_treadmill``).

Each subcommand lives in :mod:`retro_treadmill.commands` as a module with a ``register(subparsers)``
function; heavy imports (bleak, bumble, textual) happen inside the command, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from retro_treadmill import __version__
from retro_treadmill.errors import RetroTreadmillError

# Order here is the order shown by --help.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "demo",
    "simulate",
    "profiles",
    "history",
    "screening",
    "export",
    "walkers",
    "programs",
    "report",
    "scan",
    "monitor",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class PeopleFormatter(logging.Formatter):
    """Log lines for people: ``retro-treadmill: warning: MQTT ...: retrying in 0.85 s``.

    An exception attached to a record (a library's ``logger.exception``) is named in one line
    after the message, never printed as a traceback: the person at the treadmill cannot act on
    one, and the event log keeps what the session did.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message} ({type(error).__name__}: {error})".strip()
        return f"retro-treadmill: {record.levelname.lower()}: {message}"


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one console handler :func:`configure_logging` installs (found again by its type).
    It writes to whatever ``sys.stderr`` is at the time (a UI or a test may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: int = logging.WARNING) -> None:
    """Warnings and errors to stderr as :class:`PeopleFormatter` lines. A handler on the root
    logger also keeps a library's module-level ``logging.debug()`` (bumble's GATT server) from
    installing Python's default ``WARNING:module:message`` format behind our back."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ConsoleHandler)]:
        root.removeHandler(handler)
    handler = _ConsoleHandler()
    handler.setFormatter(PeopleFormatter())
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


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
    configure_logging()
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
