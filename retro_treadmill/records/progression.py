"""Which stage of a rehab program a walker runs next (pure; sans-IO, import-linter checks it).

The walker's past sessions are replayed in order through :func:`step`; :func:`choose_stage`
returns where that leaves them and why, in words a clinician reads at the treadmill ("week 3,
session 2 of 3: 1 session completed at this stage, pain 2/10").

The rule (:class:`~retro_treadmill.records.programs.ProgressionRule`), applied to each session
that ran the current stage's profile (sessions of other profiles, picked by the clinician, do not
move the walker):

1. a safety alarm in the session: step back one stage (the first stage starts again);
2. else pain rose by ``pain_rise`` or more since the previous session of the program: repeat the
   stage (its count starts again);
3. else completed with a pain rating at or below ``max_pain``: the session counts; after the
   stage's number of counted sessions the walker advances (after the last stage the program is
   complete and its last stage is offered again);
4. else (stopped early, pain above ``max_pain``, no pain rating): the session does not count.

A session without a pain rating never counts toward advancing: the rule cannot tell that pain
stayed low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from retro_treadmill.records.model import RUNNING, SessionRow
from retro_treadmill.records.programs import Program, Stage


class Decision(StrEnum):
    """What one session did to the walker's place in the program."""

    COUNTED = "counted"
    ADVANCED = "advanced"
    FINISHED = "finished"
    """The last stage's sessions are done: the program is complete."""
    REPEAT = "repeat"
    """Pain rose: the stage starts again."""
    STEPPED_BACK = "stepped-back"
    NOT_COUNTED = "not-counted"
    OTHER_PROFILE = "other-profile"
    """The session ran another profile than the stage's: ignored."""


@dataclass(frozen=True, slots=True)
class SessionResult:
    """What the rule needs to know about one past session."""

    profile_name: str
    completed: bool
    """The session ran to the end of its profile (outcome ``completed``)."""
    alarm: str | None = None
    """The first safety alarm's name, ``None`` when there was none."""
    pain: int | None = None
    """The walker's pain rating after the session (0-10), ``None`` when not rated."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a walker is: the stage (0-based), sessions counted at it, the last pain rating of
    the program, whether the program is complete, and what the last session decided."""

    stage_index: int = 0
    counted: int = 0
    last_pain: int | None = None
    finished: bool = False
    decision: Decision | None = None
    why: str = ""


def _pains(values: int) -> str:
    return "1 session" if values == 1 else f"{values} sessions"


def step(program: Program, place: Place, result: SessionResult) -> Place:
    """The walker's place after one more session."""
    rule = program.rule
    stage = program.stages[place.stage_index]
    if result.profile_name != stage.profile:
        return Place(
            place.stage_index,
            place.counted,
            place.last_pain,
            place.finished,
            Decision.OTHER_PROFILE,
            place.why,
        )
    pain = result.pain
    last_pain = pain if pain is not None else place.last_pain
    if result.alarm is not None:
        back = max(place.stage_index - 1, 0)
        if back == place.stage_index:
            why = f"starting {stage.name} again after a safety alarm ({result.alarm})"
        else:
            why = f"stepped back from {stage.name} after a safety alarm ({result.alarm})"
        return Place(back, 0, last_pain, False, Decision.STEPPED_BACK, why)
    if (
        pain is not None
        and place.last_pain is not None
        and pain - place.last_pain >= rule.pain_rise
    ):
        why = f"repeating {stage.name}: pain rose from {place.last_pain} to {pain}/10"
        return Place(place.stage_index, 0, last_pain, False, Decision.REPEAT, why)
    if result.completed and pain is not None and pain <= rule.max_pain:
        counted = place.counted + 1
        if counted < stage.sessions:
            why = f"{_pains(counted)} completed at this stage, pain {pain}/10"
            return Place(place.stage_index, counted, last_pain, False, Decision.COUNTED, why)
        if place.stage_index + 1 < len(program.stages):
            why = (
                f"{stage.name} done: {_pains(counted)} completed with pain at most "
                f"{rule.max_pain}/10 (last {pain}/10)"
            )
            return Place(place.stage_index + 1, 0, last_pain, False, Decision.ADVANCED, why)
        why = f"program complete ({stage.name} done, last pain {pain}/10); repeating the last stage"
        return Place(place.stage_index, 0, last_pain, True, Decision.FINISHED, why)
    if not result.completed:
        reason = "stopped before the end"
    elif pain is None:
        reason = "no pain rating"
    else:
        reason = f"pain {pain}/10 above {rule.max_pain}/10"
    counted_text = f"; {_pains(place.counted)} counted" if place.counted else ""
    why = f"last session not counted ({reason}){counted_text}"
    return Place(place.stage_index, place.counted, last_pain, False, Decision.NOT_COUNTED, why)


@dataclass(frozen=True, slots=True)
class StageChoice:
    """The stage a walker runs next and why."""

    program: Program
    stage_index: int
    """0-based."""
    session_number: int
    """1-based number of the next session within the stage."""
    reason: str
    finished: bool = False

    @property
    def stage(self) -> Stage:
        """The chosen stage."""
        return self.program.stages[self.stage_index]

    @property
    def text(self) -> str:
        """E.g. ``week 3, session 2 of 3: 1 session completed at this stage, pain 2/10``."""
        return f"{self.stage.name}, session {self.session_number} of {self.stage.sessions}: " + (
            self.reason
        )


def replay(program: Program, history: Sequence[SessionResult]) -> Place:
    """The place after ``history`` (oldest first)."""
    place = Place()
    for result in history:
        place = step(program, place, result)
    return place


def choose_stage(program: Program, history: Sequence[SessionResult]) -> StageChoice:
    """The stage to run next after ``history`` (the walker's sessions, oldest first)."""
    place = replay(program, history)
    reason = place.why or "the program's first session"
    return StageChoice(
        program=program,
        stage_index=place.stage_index,
        session_number=place.counted + 1,
        reason=reason,
        finished=place.finished,
    )


def session_result(row: SessionRow, alarm_name: str | None = None) -> SessionResult | None:
    """What the progression rule needs from a stored session; ``None`` for a session still
    running. ``alarm_name``: the session's first alarm, when the caller has its events. An
    interrupted session did not complete."""
    if row.outcome == RUNNING:
        return None
    alarm: str | None = None
    if row.totals.alarm_count > 0 or row.outcome == "alarm":
        alarm = alarm_name or "alarm"
    completed = row.outcome == "completed"  # interrupted, stopped, alarm: not completed
    pain = row.rating.pain if row.rating is not None else None
    return SessionResult(profile_name=row.profile_name, completed=completed, alarm=alarm, pain=pain)


def history_results(
    rows: Sequence[SessionRow], alarm_names: Mapping[str, str] | None = None
) -> list[SessionResult]:
    """The walker's finished sessions, oldest first, as the progression rule reads them
    (``alarm_names``: the first alarm of sessions that had one, by session id)."""
    names = alarm_names or {}
    ordered = sorted(rows, key=lambda r: (r.started_at, r.session_id))
    results = (session_result(row, names.get(row.session_id)) for row in ordered)
    return [r for r in results if r is not None]


__all__ = [
    "Decision",
    "Place",
    "SessionResult",
    "StageChoice",
    "choose_stage",
    "history_results",
    "replay",
    "session_result",
    "step",
]
