"""The progression rule, table-driven: which stage a walker runs next after their sessions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from retro_treadmill.records.programs import Program, ProgressionRule, Stage
from retro_treadmill.records.progression import (
    Decision,
    SessionResult,
    choose_stage,
    replay,
)

PROGRAM = Program(
    name="three",
    description="test",
    audience="test",
    stages=(Stage("week 1", "p1", 3), Stage("week 2", "p2", 2), Stage("week 3", "p3", 1)),
    rule=ProgressionRule(max_pain=3, pain_rise=2),
)


def ok(profile: str, pain: int = 1) -> SessionResult:
    """A completed session with no alarm."""
    return SessionResult(profile, completed=True, pain=pain)


def stopped(profile: str, pain: int | None = 1) -> SessionResult:
    return SessionResult(profile, completed=False, pain=pain)


def alarm(profile: str, pain: int | None = 1) -> SessionResult:
    return SessionResult(profile, completed=False, alarm="heart_rate", pain=pain)


@dataclass(frozen=True)
class Case:
    name: str
    history: tuple[SessionResult, ...]
    stage: str
    session: int
    decision: Decision | None
    reason: str


CASES = [
    Case("nothing yet", (), "week 1", 1, None, "the program's first session"),
    # -- completed -------------------------------------------------------------------------------
    Case(
        "one completed",
        (ok("p1", 2),),
        "week 1",
        2,
        Decision.COUNTED,
        "1 session completed at this stage, pain 2/10",
    ),
    Case(
        "two completed",
        (ok("p1"), ok("p1", 2)),
        "week 1",
        3,
        Decision.COUNTED,
        "2 sessions completed at this stage, pain 2/10",
    ),
    Case(
        "three completed: advance",
        (ok("p1", 2), ok("p1", 2), ok("p1", 3)),
        "week 2",
        1,
        Decision.ADVANCED,
        "week 1 done: 3 sessions completed with pain at most 3/10 (last 3/10)",
    ),
    Case(
        "every stage done: program complete, last stage again",
        (ok("p1"),) * 3 + (ok("p2"),) * 2 + (ok("p3"),),
        "week 3",
        1,
        Decision.FINISHED,
        "program complete (week 3 done, last pain 1/10); repeating the last stage",
    ),
    # -- not counted -----------------------------------------------------------------------------
    Case(
        "pain above the threshold does not count",
        (ok("p1", 3), ok("p1", 4)),
        "week 1",
        2,
        Decision.NOT_COUNTED,
        "last session not counted (pain 4/10 above 3/10); 1 session counted",
    ),
    Case(
        "stopped early does not count",
        (ok("p1"), stopped("p1")),
        "week 1",
        2,
        Decision.NOT_COUNTED,
        "last session not counted (stopped before the end); 1 session counted",
    ),
    Case(
        "unrated does not count",
        (SessionResult("p1", completed=True, pain=None),),
        "week 1",
        1,
        Decision.NOT_COUNTED,
        "last session not counted (no pain rating)",
    ),
    # -- pain rising -----------------------------------------------------------------------------
    Case(
        "pain rose by 2: repeat the stage",
        (ok("p1", 0), ok("p1", 0), ok("p1", 2)),
        "week 1",
        1,
        Decision.REPEAT,
        "repeating week 1: pain rose from 0 to 2/10",
    ),
    Case(
        "pain rose by 1: still counts",
        (ok("p1", 1), ok("p1", 2)),
        "week 1",
        3,
        Decision.COUNTED,
        "2 sessions completed at this stage, pain 2/10",
    ),
    Case(
        "pain rose across a stage change",
        (ok("p1", 0),) * 3 + (ok("p2", 3),),
        "week 2",
        1,
        Decision.REPEAT,
        "repeating week 2: pain rose from 0 to 3/10",
    ),
    # -- alarm -----------------------------------------------------------------------------------
    Case(
        "alarm at the first stage: start it again",
        (ok("p1"), ok("p1"), alarm("p1")),
        "week 1",
        1,
        Decision.STEPPED_BACK,
        "starting week 1 again after a safety alarm (heart_rate)",
    ),
    Case(
        "alarm at week 2: back to week 1",
        (ok("p1"),) * 3 + (ok("p2"), alarm("p2", 0)),
        "week 1",
        1,
        Decision.STEPPED_BACK,
        "stepped back from week 2 after a safety alarm (heart_rate)",
    ),
    Case(
        "an alarm outweighs low pain on a completed session",
        (ok("p1"),) * 3 + (SessionResult("p2", completed=True, alarm="overspeed", pain=0),),
        "week 1",
        1,
        Decision.STEPPED_BACK,
        "stepped back from week 2 after a safety alarm (overspeed)",
    ),
    # -- mixed -----------------------------------------------------------------------------------
    Case(
        "another profile picked by the clinician is ignored",
        (ok("p1"), ok("other", 9), SessionResult("other", False, "x", 9), ok("p1")),
        "week 1",
        3,
        Decision.COUNTED,
        "2 sessions completed at this stage, pain 1/10",
    ),
    Case(
        "mixed: advance, alarm back, climb again",
        (ok("p1"),) * 3 + (alarm("p2"),) + (ok("p1"),) * 3 + (ok("p2"),),
        "week 2",
        2,
        Decision.COUNTED,
        "1 session completed at this stage, pain 1/10",
    ),
    Case(
        "mixed: not counted sessions keep the count, a rise resets it",
        (ok("p1", 1), stopped("p1", 1), ok("p1", 1), ok("p1", 3)),
        "week 1",
        1,
        Decision.REPEAT,
        "repeating week 1: pain rose from 1 to 3/10",
    ),
    Case(
        "mixed: a rise is measured from the last rated session, not the last session",
        (ok("p1", 1), SessionResult("p1", completed=True, pain=None), ok("p1", 2)),
        "week 1",
        3,
        Decision.COUNTED,
        "2 sessions completed at this stage, pain 2/10",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_progression(case: Case) -> None:
    choice = choose_stage(PROGRAM, case.history)
    assert choice.stage.name == case.stage
    assert choice.session_number == case.session
    assert choice.reason == case.reason
    assert replay(PROGRAM, case.history).decision == case.decision
    assert choice.text == f"{case.stage}, session {case.session} of {choice.stage.sessions}: " + (
        case.reason
    )


def test_the_rule_is_the_programs_own() -> None:
    strict = Program("s", "d", "a", PROGRAM.stages, ProgressionRule(max_pain=1, pain_rise=1))
    assert choose_stage(strict, (ok("p1", 2),)).reason == (
        "last session not counted (pain 2/10 above 1/10)"
    )
    assert replay(strict, (ok("p1", 0), ok("p1", 1))).decision == Decision.REPEAT
