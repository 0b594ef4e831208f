"""The preflight checklist: Start stays disabled until every item is ticked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Static

from retro_treadmill.tui.format import preflight_heart_rate
from retro_treadmill.tui.model import ProfileInfo, SessionSnapshot
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.tui.widgets.checkitem import CheckItem

BASE_CHECKLIST: tuple[str, ...] = (
    "The deck is clear: nothing on or behind the belt",
    "The safety key is clipped to the walker's clothing",
    "The walker faces the rear of the deck, holding both rails",
)
HARNESS_REQUIRED = "The harness is attached (this profile requires one)"
HARNESS_WHERE_USED = "The harness is attached (tick if no harness is used here)"

START_READY = "Start: 5 s countdown (G)"
START_BLOCKED = "Start: tick every item first"


def checklist_for(profile: ProfileInfo | None) -> tuple[str, ...]:
    """The items to tick before a session with ``profile``."""
    harness = HARNESS_REQUIRED if profile is not None and profile.harness else HARNESS_WHERE_USED
    return (*BASE_CHECKLIST, harness)


class PreflightScreen(RetroScreen):
    """Tick every item (keys 1-4, or Tab to an item and Enter), then Start (G, or the button)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tick(0)", "Tick 1", show=False),
        Binding("2", "tick(1)", "Tick 2", show=False),
        Binding("3", "tick(2)", "Tick 3", show=False),
        Binding("4", "tick(3)", "Tick 4", show=False),
        Binding("g", "start", "Start"),
    ]

    class StartRequested(Message):
        """Every item is ticked and the operator pressed Start."""

        def __init__(self, checklist: tuple[str, ...]) -> None:
            super().__init__()
            self.checklist = checklist

    def __init__(self, profile: ProfileInfo | None) -> None:
        super().__init__()
        self.profile = profile
        self.items = checklist_for(profile)
        self._started = False

    def compose_body(self) -> Iterable[Widget]:
        """The title, one checkbox per item, Start and the keys."""
        name = self.profile.name if self.profile is not None else "the session"
        yield Static(f"Preflight checklist for {name}", classes="title", markup=False)
        with Vertical(id="checklist"):
            for index, item in enumerate(self.items):
                yield CheckItem(f"{index + 1}. {item}", id=f"item-{index}")
        yield Static("", id="preflight-hr", markup=False)
        yield Button(START_BLOCKED, id="start", disabled=True, variant="success")
        yield Static("", id="preflight-status")
        yield Static("1-4 or Enter: tick · Tab: next · G: start", classes="keys")

    def on_mount(self) -> None:
        """Focus the first item."""
        super().on_mount()
        self.query_one("#item-0", CheckItem).focus()

    @property
    def all_ticked(self) -> bool:
        """Every checklist item is ticked."""
        return all(box.value for box in self.query(CheckItem))

    def action_tick(self, index: int) -> None:
        """Toggle item ``index``."""
        boxes = list(self.query(CheckItem))
        if 0 <= index < len(boxes):
            boxes[index].action_flip()

    @on(CheckItem.Changed)
    def _changed(self) -> None:
        button = self.query_one("#start", Button)
        button.disabled = self._started or not self.all_ticked
        button.label = START_BLOCKED if button.disabled else START_READY

    @on(Button.Pressed, "#start")
    def _pressed(self) -> None:
        self.action_start()

    def draw(self, snapshot: SessionSnapshot) -> None:
        """The live heart rate, when there is one or a limit needs one to start."""
        self.query_one("#preflight-hr", Static).update(preflight_heart_rate(snapshot.heart_rate))

    def notice(self, text: str, *, refusal: bool = False) -> None:
        """Messages show under Start; after a refusal (of Start) Start may be pressed again."""
        self.query_one("#preflight-status", Static).update(text)
        if refusal:
            self._started = False
            self._changed()

    def action_start(self) -> None:
        """Ask for the countdown, once, and only when every item is ticked."""
        status = self.query_one("#preflight-status", Static)
        if not self.all_ticked:
            missing = sum(1 for box in self.query(CheckItem) if not box.value)
            status.update(f"Start is disabled: {missing} item(s) not ticked.")
            return
        if self._started:
            return
        self._started = True
        self.query_one("#start", Button).disabled = True
        status.update("Starting…")
        self.post_message(self.StartRequested(self.items))
