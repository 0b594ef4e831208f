"""The safety screening form, shown before the first preflight on a machine never screened."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from retro_treadmill.screening import CLEARANCE, QUESTIONS, Screening, spotter_reason
from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.screens.base import RetroScreen


class ScreeningScreen(RetroScreen):
    """Four yes/no questions: Y or N answers the marked one (then the next is marked), up/down
    move, Enter saves once every question has an answer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(both_cases("y"), "answer(True)", "Yes"),
        Binding(both_cases("n"), "answer(False)", "No"),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("enter", "save", "Save"),
    ]

    class Answered(Message):
        """Every question answered and saved by the operator."""

        def __init__(self, screening: Screening) -> None:
            super().__init__()
            self.screening = screening

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, bool] = {}
        self.current = 0
        self._sent = False

    def compose_body(self) -> Iterable[Widget]:
        """Title, one line per question, the outcome, the keys."""
        yield Static(
            "Safety screening before backward walking (answer for the person who will walk)",
            classes="title",
            markup=False,
        )
        for index in range(len(QUESTIONS)):
            yield Static("", id=f"question-{index}", classes="question", markup=False)
        yield Static("", id="screening-outcome", classes="prompt", markup=False)
        yield Static("Y yes · N no · ↑↓ move · Enter save", classes="keys", markup=False)

    def on_mount(self) -> None:
        """Draw the questions."""
        super().on_mount()
        self._redraw()

    def _redraw(self) -> None:
        for index, (key, text) in enumerate(QUESTIONS):
            answer = self.answers.get(key)
            mark = "[ ? ]" if answer is None else "[yes]" if answer else "[no ]"
            pointer = "▶" if index == self.current else " "
            self.query_one(f"#question-{index}", Static).update(f"{pointer} {mark} {text}")
        self.query_one("#screening-outcome", Static).update(self.outcome())

    def outcome(self) -> str:
        """What the answers so far mean."""
        missing = len(QUESTIONS) - len(self.answers)
        if missing:
            return f"{missing} question(s) to answer."
        reason = spotter_reason(Screening(dict(self.answers)), require_spotter=False)
        if reason:
            return f"A spotter is required: {reason}. {CLEARANCE} Enter: save and continue."
        return "No spotter required by the screening. Enter: save and continue."

    def action_answer(self, yes: bool) -> None:
        """Answer the marked question, then mark the next unanswered one."""
        key = QUESTIONS[self.current][0]
        self.answers[key] = yes
        for step in range(1, len(QUESTIONS) + 1):
            candidate = (self.current + step) % len(QUESTIONS)
            if QUESTIONS[candidate][0] not in self.answers:
                self.current = candidate
                break
        self._redraw()

    def action_move(self, delta: int) -> None:
        """Mark the previous or next question."""
        self.current = (self.current + delta) % len(QUESTIONS)
        self._redraw()

    def action_save(self) -> None:
        """Save once every question has an answer."""
        if len(self.answers) < len(QUESTIONS) or self._sent:
            self._redraw()
            return
        self._sent = True
        self.post_message(self.Answered(Screening(dict(self.answers), time.time())))


__all__ = ["ScreeningScreen"]
