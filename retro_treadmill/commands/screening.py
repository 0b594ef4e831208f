"""``retro-treadmill screening``: the safety screening before backward walking.

``screening`` (or ``screening ask``) asks the four questions on the terminal and keeps the
answers; ``screening show [--json]`` reviews them; ``screening set KEY=yes|no ...`` answers for a
script (every question once); ``screening reset`` forgets them (asked again before the next
session). The answers are kept in the session store (``--data-dir``); with ``--walker ID`` they
are that walker's (each walker is screened on their own), else this machine's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime
from typing import Any

from retro_treadmill.records.paths import add_data_dir_argument, database_path
from retro_treadmill.screening import (
    CLEARANCE,
    KEYS,
    QUESTIONS,
    Screening,
    load_screening,
    parse_answers,
    reset_screening,
    save_screening,
    screening_scope,
    spotter_reason,
)

EXIT_OK = 0
EXIT_NONE = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add ``screening`` with ``ask``, ``show``, ``set`` and ``reset``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "screening",
        help="the safety screening (balance, dizziness, neurological, surgery): ask, show, reset",
        description=(
            "Four yes/no questions asked before the first session. Any yes: the preflight needs "
            "a spotter ticked and a physiotherapist's clearance is recommended."
        ),
    )
    add_data_dir_argument(parser)
    _add_walker_argument(parser)
    parser.set_defaults(handler=run_ask)
    actions = parser.add_subparsers(dest="screening_command", metavar="ACTION")
    ask = actions.add_parser("ask", help="answer the questions on the terminal")
    add_data_dir_argument(ask, default=argparse.SUPPRESS)
    _add_walker_argument(ask, default=argparse.SUPPRESS)
    ask.set_defaults(handler=run_ask)
    show = actions.add_parser("show", help="the answers kept on this machine")
    add_data_dir_argument(show, default=argparse.SUPPRESS)
    _add_walker_argument(show, default=argparse.SUPPRESS)
    show.add_argument("--json", action="store_true", help="machine-readable")
    show.set_defaults(handler=run_show)
    answer = actions.add_parser(
        "set",
        help="answer for a script: " + " ".join(f"{k}=yes|no" for k in KEYS),
    )
    add_data_dir_argument(answer, default=argparse.SUPPRESS)
    _add_walker_argument(answer, default=argparse.SUPPRESS)
    answer.add_argument("answers", nargs="+", metavar="KEY=yes|no")
    answer.set_defaults(handler=run_set)
    reset = actions.add_parser("reset", help="forget the answers (asked again next time)")
    add_data_dir_argument(reset, default=argparse.SUPPRESS)
    _add_walker_argument(reset, default=argparse.SUPPRESS)
    reset.set_defaults(handler=run_reset)


def _add_walker_argument(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    parser.add_argument(
        "--walker",
        metavar="ID",
        help="the answers of this walker (`walkers add`), else this machine's",
        **kwargs,
    )


def _scope(args: argparse.Namespace) -> str:
    walker = getattr(args, "walker", None)
    return screening_scope(walker.strip() if walker else None)


def describe(screening: Screening) -> str:
    """The answers in words, with what they mean for the next session."""
    when = datetime.fromtimestamp(screening.answered_at).strftime("%Y-%m-%d %H:%M")
    lines = [f"Screening answered {when}:"]
    lines += [
        f"  {'yes' if screening.answers[key] else 'no ':3}  {text}" for key, text in QUESTIONS
    ]
    reason = spotter_reason(screening, require_spotter=False)
    if reason:
        lines += [f"A spotter is required: {reason}.", CLEARANCE]
    else:
        lines.append("No spotter required by the screening (a clinic config may still ask one).")
    return "\n".join(lines)


def ask_on_terminal(read: Any = input, write: Any = print) -> Screening | None:
    """The questions one by one (``y``/``n``); ``None`` when the input ends first."""
    write("Safety screening (answer for the person who will walk). In the last year / now:")
    answers: dict[str, bool] = {}
    for key, text in QUESTIONS:
        while True:
            try:
                reply = read(f"  {text}? [y/n] ").strip().lower()
            except EOFError:
                return None
            if reply in ("y", "yes", "n", "no"):
                answers[key] = reply.startswith("y")
                break
            write("  Please answer y or n.")
    return Screening(answers, time.time())


def run_ask(args: argparse.Namespace) -> int:
    """Ask, keep, and say what the answers mean."""
    screening = ask_on_terminal()
    if screening is None:
        print("No answers kept (the input ended).", file=sys.stderr)
        return EXIT_NONE
    screening = dataclasses.replace(screening, scope=_scope(args))
    save_screening(database_path(args.data_dir), screening)
    print(describe(screening))
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Show the kept answers (exit 1 when there are none)."""
    screening = load_screening(database_path(args.data_dir), _scope(args))
    if args.json:
        data = None
        if screening is not None:
            data = {
                "answers": dict(screening.answers),
                "answered_at": screening.answered_at,
                "spotter_required": screening.any_yes,
            }
        print(json.dumps(data))
        return EXIT_OK if screening is not None else EXIT_NONE
    if screening is None:
        print("No screening on record here; `retro-treadmill screening` asks it.")
        return EXIT_NONE
    print(describe(screening))
    return EXIT_OK


def run_set(args: argparse.Namespace) -> int:
    """Answer every question from the command line."""
    try:
        answers = parse_answers(list(args.answers))
    except ValueError as exc:
        print(f"retro-treadmill: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    screening = Screening(answers, time.time(), _scope(args))
    save_screening(database_path(args.data_dir), screening)
    print(describe(screening))
    return EXIT_OK


def run_reset(args: argparse.Namespace) -> int:
    """Forget the answers."""
    if reset_screening(database_path(args.data_dir), _scope(args)):
        print("Screening answers forgotten; they are asked again before the next session.")
    else:
        print("No screening on record here.")
    return EXIT_OK


__all__ = ["ask_on_terminal", "describe", "register"]
