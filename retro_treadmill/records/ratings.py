"""The walker's own rating of a session (pure; sans-IO, import-linter checks it).

- pain: the 0-10 numeric rating scale (NRS; 0 no pain, 10 worst pain imaginable), whole numbers;
- effort: the Borg CR10 scale (0 nothing at all, 0.5 extremely weak, 1 very weak, 2 weak,
  3 moderate, 5 strong, 7 very strong, 10 extremely strong), in steps of 0.5;
- a free note.

Any of the three may be left out. :func:`parse_pain` and :func:`parse_effort` read what a person
types (the headless prompts, ``history rate``, the TUI form) and raise :class:`RatingError` with
the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from retro_treadmill.errors import RetroTreadmillError

PAIN_MAX = 10
EFFORT_MAX = 10.0
NOTE_MAX = 2000

BORG_CR10_LABELS: dict[float, str] = {
    0.0: "nothing at all",
    0.5: "extremely weak",
    1.0: "very weak",
    2.0: "weak",
    3.0: "moderate",
    5.0: "strong",
    7.0: "very strong",
    10.0: "extremely strong",
}
"""The verbal anchors of the Borg CR10 scale."""


class RatingError(RetroTreadmillError):
    """A rating outside its scale; the message gives the scale."""


@dataclass(frozen=True, slots=True)
class Rating:
    """Pain (0-10 NRS), effort (Borg CR10) and a note; ``None``/``""`` = not given."""

    pain: int | None = None
    effort: float | None = None
    note: str = ""
    rated_at: float | None = None
    """UTC epoch seconds of the (last) rating."""

    @property
    def empty(self) -> bool:
        """Whether nothing was rated."""
        return self.pain is None and self.effort is None and not self.note

    def text(self) -> str:
        """E.g. ``pain 2/10, effort 3 (moderate)``."""
        parts = []
        if self.pain is not None:
            parts.append(f"pain {self.pain}/10")
        if self.effort is not None:
            parts.append(f"effort {effort_text(self.effort)}")
        return ", ".join(parts) if parts else "not rated"


def effort_text(effort: float) -> str:
    """``3 (moderate)``, ``4`` (no anchor), ``0.5 (extremely weak)``."""
    shown = f"{effort:g}"
    label = BORG_CR10_LABELS.get(effort)
    return f"{shown} ({label})" if label else shown


def parse_pain(text: str) -> int | None:
    """A pain rating as typed: a whole number 0-10, or empty for none."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise RatingError(
            f"pain {text!r}: give a whole number from 0 (no pain) to 10 (worst imaginable)"
        ) from None
    return check_pain(value)


def check_pain(value: int) -> int:
    """``value`` if it is on the 0-10 scale."""
    if not 0 <= value <= PAIN_MAX:
        raise RatingError(f"pain {value}: the scale is 0 (no pain) to 10 (worst imaginable)")
    return value


def parse_effort(text: str) -> float | None:
    """An effort rating as typed: 0-10 in steps of 0.5 (Borg CR10), or empty for none."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RatingError(
            f"effort {text!r}: give a number from 0 (nothing at all) to 10 (extremely strong)"
        ) from None
    return check_effort(value)


def check_effort(value: float) -> float:
    """``value`` if it is on the Borg CR10 scale (0-10, steps of 0.5)."""
    if not math.isfinite(value) or not 0 <= value <= EFFORT_MAX or (value * 2) % 1:
        raise RatingError(
            f"effort {value:g}: the Borg CR10 scale runs from 0 to 10 in steps of 0.5 "
            "(3 moderate, 5 strong, 7 very strong)"
        )
    return float(value)


def check_note(text: str) -> str:
    """The note, stripped; at most :data:`NOTE_MAX` characters."""
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise RatingError(f"the note is {len(text)} characters; keep it under {NOTE_MAX}")
    return text


PAIN_QUESTION = "Pain now, 0 (none) to 10 (worst imaginable), Enter to skip: "
EFFORT_QUESTION = (
    "Effort, Borg CR10: 0 nothing, 1 very weak, 3 moderate, 5 strong, 7 very strong, "
    "10 extremely strong; Enter to skip: "
)
NOTE_QUESTION = "A note (Enter to skip): "
TRIES = 3


def ask_rating(
    ask: Callable[[str], str | None], tell: Callable[[str], None], *, rated_at: float
) -> Rating:
    """Ask for pain, effort and a note, one question at a time (the headless end of a session;
    ``history rate`` without options). ``ask(question)`` returns the answer or ``None`` at the
    end of input (then the questions stop); a value off its scale is asked again, up to
    :data:`TRIES` times, then skipped. ``tell`` shows the scale after a bad answer."""
    answers: list[object] = []
    for question, parse in (
        (PAIN_QUESTION, parse_pain),
        (EFFORT_QUESTION, parse_effort),
        (NOTE_QUESTION, check_note),
    ):
        value: object = None
        for _ in range(TRIES):
            text = ask(question)
            if text is None:
                return _rating(answers, rated_at)
            try:
                value = parse(text)
                break
            except RatingError as error:
                tell(str(error))
        answers.append(value)
    return _rating(answers, rated_at)


def _rating(answers: list[object], rated_at: float) -> Rating:
    values = [*answers, None, None, None][:3]
    pain, effort, note = values
    return Rating(
        pain=pain if isinstance(pain, int) else None,
        effort=effort if isinstance(effort, float) else None,
        note=note if isinstance(note, str) else "",
        rated_at=rated_at,
    )


__all__ = [
    "BORG_CR10_LABELS",
    "Rating",
    "RatingError",
    "ask_rating",
    "check_effort",
    "check_note",
    "check_pain",
    "effort_text",
    "parse_effort",
    "parse_pain",
]
