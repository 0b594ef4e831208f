"""The safety screening before the first backward-walking session, and the spotter rule.

Four yes/no questions, asked once on this machine (``retro-treadmill screening`` reviews or resets
them). Any "yes" means: the preflight needs its spotter item ticked (Start is refused until it is,
with the reason) and the walker is advised to be cleared by a physiotherapist first. A clinic
config with ``[safety] require_spotter = true`` makes the spotter item compulsory for everyone.
Screening answers that are not known (a scripted run on a machine never screened) count as a
"yes": the spotter item is required (fail closed).

The answers live in the session store (the ``screening`` table; blocking IO: call the store
functions from a command or a thread, never on the event loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

QUESTIONS: tuple[tuple[str, str], ...] = (
    ("balance", "Balance problems, or a fall in the last year"),
    ("dizziness", "Dizziness or an inner-ear (vestibular) condition"),
    ("neurological", "A neurological condition (e.g. stroke, Parkinson's disease, MS, neuropathy)"),
    ("surgery", "Surgery on a hip, knee, ankle or foot in the last six months"),
)
"""``(key, question)``: answered yes or no for the walker."""

KEYS = tuple(key for key, _ in QUESTIONS)
MACHINE_SCOPE = "machine"
"""The scope of the answers when no walker is named (the person using this machine)."""

WALKER_SCOPE_PREFIX = "walker:"
"""The scope of a walker's answers is this prefix and their id (``--walker ID``)."""


def screening_scope(walker: str | None) -> str:
    """The scope of the answers for ``walker`` (``--walker ID``), else the machine's: each walker
    is screened on their own first session, not by someone else's answers."""
    return MACHINE_SCOPE if not walker else WALKER_SCOPE_PREFIX + walker


SPOTTER_ITEM = "A spotter stands beside the treadmill, within reach of the walker and the stop"
"""The preflight item added when a spotter is required."""

CLEARANCE = (
    "Before backward walking, ask a physiotherapist (or your doctor) to clear you for it, and "
    "walk only with a spotter beside you."
)


@dataclass(frozen=True, slots=True)
class Screening:
    """Answers to :data:`QUESTIONS` (``True`` = yes) and when they were given (epoch seconds)."""

    answers: Mapping[str, bool] = field(default_factory=dict)
    answered_at: float = 0.0
    scope: str = MACHINE_SCOPE

    def __post_init__(self) -> None:
        missing = [key for key in KEYS if key not in self.answers]
        unknown = [key for key in self.answers if key not in KEYS]
        if missing or unknown:
            raise ValueError(f"screening answers: missing {missing}, unknown {unknown}")

    @property
    def positives(self) -> tuple[str, ...]:
        """The questions answered "yes", as asked."""
        return tuple(text for key, text in QUESTIONS if self.answers[key])

    @property
    def any_yes(self) -> bool:
        """At least one "yes": spotter required, clearance recommended."""
        return bool(self.positives)


def spotter_reason(
    screening: Screening | None, *, require_spotter: bool, walker: str | None = None
) -> str:
    """Why the spotter item is required (``""`` when it is not); ``walker``: whose screening
    is missing (``None``: this machine's)."""
    if require_spotter:
        return "the clinic config requires a spotter for every session ([safety] require_spotter)"
    if screening is None and walker:
        return (
            f"no screening is on record for walker {walker} (answer it with `retro-treadmill "
            f"screening --walker {walker}`)"
        )
    if screening is None:
        return (
            "no screening is on record for this machine (answer it with `retro-treadmill "
            "screening`)"
        )
    if screening.any_yes:
        said = "; ".join(p.lower() for p in screening.positives)
        return f"the screening answered yes to: {said}"
    return ""


def parse_answers(pairs: list[str]) -> dict[str, bool]:
    """``["balance=no", "dizziness=yes", ...]`` (every question once) -> answers; ValueError
    naming what is wrong."""
    answers: dict[str, bool] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or key not in KEYS:
            raise ValueError(f"{pair!r}: expected KEY=yes|no with KEY one of {', '.join(KEYS)}")
        if value not in ("yes", "no", "y", "n"):
            raise ValueError(f"{pair!r}: the answer must be yes or no")
        if key in answers:
            raise ValueError(f"{key} is answered twice")
        answers[key] = value.startswith("y")
    missing = [key for key in KEYS if key not in answers]
    if missing:
        raise ValueError(f"every question needs an answer; missing: {', '.join(missing)}")
    return answers


# -- the store (blocking IO) -------------------------------------------------------------------


def load_screening(db_path: Path, scope: str = MACHINE_SCOPE) -> Screening | None:
    """The answers kept for ``scope`` in the store at ``db_path`` (``None``: never screened or
    no store yet). Raises :class:`~retro_treadmill.records.store.StoreError` on a broken store."""
    from retro_treadmill.records.store import Store

    if not db_path.exists():
        return None
    with Store.open(db_path, recover=False) as store:
        found = store.screening(scope)
    if found is None:
        return None
    answers, at = found
    return Screening({k: answers.get(k, True) for k in KEYS}, at, scope)


def save_screening(db_path: Path, screening: Screening) -> None:
    """Keep ``screening`` in the store at ``db_path`` (created when missing)."""
    from retro_treadmill.records.store import Store

    with Store.open(db_path, recover=False) as store:
        store.save_screening(screening.scope, dict(screening.answers), screening.answered_at)


def reset_screening(db_path: Path, scope: str = MACHINE_SCOPE) -> bool:
    """Forget the answers for ``scope``; ``False`` when there were none."""
    from retro_treadmill.records.store import Store

    if not db_path.exists():
        return False
    with Store.open(db_path, recover=False) as store:
        return store.reset_screening(scope)


def ever_ran(db_path: Path) -> bool:
    """Whether a session was ever recorded in the store at ``db_path``."""
    from retro_treadmill.records.store import Store

    if not db_path.exists():
        return False
    with Store.open(db_path, recover=False) as store:
        return store.has_sessions()


__all__ = [
    "CLEARANCE",
    "KEYS",
    "MACHINE_SCOPE",
    "QUESTIONS",
    "SPOTTER_ITEM",
    "Screening",
    "ever_ran",
    "load_screening",
    "parse_answers",
    "reset_screening",
    "save_screening",
    "spotter_reason",
]
