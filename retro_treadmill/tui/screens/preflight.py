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

from retro_treadmill.screening import SPOTTER_ITEM
from retro_treadmill.session.plan import SpeedPlan
from retro_treadmill.tui.checklist import checklist_for
from retro_treadmill.tui.format import preflight_heart_rate
from retro_treadmill.tui.keys import both_cases
from retro_treadmill.tui.model import ProfileInfo, SessionSnapshot
from retro_treadmill.tui.screens.base import RetroScreen
from retro_treadmill.tui.widgets.checkitem import CheckItem
from retro_treadmill.units import SpeedUnit

START_READY = "Start: 5 s countdown (G)"
START_BLOCKED = "Start: tick every item first"


def plan_text(plan: SpeedPlan, units: SpeedUnit) -> str:
    """The speeds the treadmill runs, compact enough for 80x24: the segments that differ from the
    prescription by more than 0.05 mph, or one line saying none does."""
    title = f"Speeds on this treadmill (steps of {plan.step_kmh:g} km/h):"
    differing = [line for line in plan.lines(units) if line.endswith("(differs)")]
    if not differing:
        return f"{title} every segment runs within 0.05 mph of the prescription."
    return "\n".join([title, *(line.removesuffix("  (differs)") for line in differing)])


class PreflightScreen(RetroScreen):
    """Tick every item (keys 1-4, or Tab to an item and Enter), then Start (G, or the button)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tick(0)", "Tick 1", show=False),
        Binding("2", "tick(1)", "Tick 2", show=False),
        Binding("3", "tick(2)", "Tick 3", show=False),
        Binding("4", "tick(3)", "Tick 4", show=False),
        Binding("5", "tick(4)", "Tick 5", show=False),
        Binding("6", "tick(5)", "Tick 6", show=False),
        Binding(both_cases("g"), "start", "Start"),
    ]

    class StartRequested(Message):
        """Every item is ticked and the operator pressed Start."""

        def __init__(self, checklist: tuple[str, ...]) -> None:
            super().__init__()
            self.checklist = checklist

    def __init__(
        self,
        profile: ProfileInfo | None,
        plan: SpeedPlan | None = None,
        units: SpeedUnit = "mph",
        *,
        walker: str | None = None,
        spotter_reason: str = "",
    ) -> None:
        super().__init__()
        self.profile = profile
        self.plan = plan
        self.units: SpeedUnit = units
        self.walker = walker
        """The walker and their caps (``run --walker``), shown under the title."""
        self.spotter_reason = spotter_reason
        """Why the spotter item is required (``""``: not required, not shown)."""
        items = checklist_for(profile, spotter=bool(spotter_reason))
        if plan is not None and plan.needs_acceptance:
            items = (*items, plan.acceptance_item(self.units))
        self.items = items
        self._refused = plan.refusal if plan is not None else ""
        self._started = False
        self._drawn: dict[str, str] = {}

    def compose_body(self) -> Iterable[Widget]:
        """The title, one checkbox per item, Start and the keys."""
        name = self.profile.name if self.profile is not None else "the session"
        # What to check scrolls when it does not fit (80x24 with the speed plan, the straddle
        # prompt and a spotter item); Start and its answer below it always show.
        with Vertical(id="preflight-body"):
            yield Static(f"Preflight checklist for {name}", classes="title", markup=False)
            if self.walker:
                caps = Static(self.walker, id="walker-caps", markup=False)
                caps.styles.padding = (0, 1)
                yield caps
            if self.plan is not None:
                yield Static(plan_text(self.plan, self.units), id="speed-plan", markup=False)
            with Vertical(id="checklist", classes="-compact" if self.spotter_reason else ""):
                for index, item in enumerate(self.items):
                    yield CheckItem(f"{index + 1}. {item}", id=f"item-{index}")
            if self.spotter_reason:
                yield Static(
                    f"Spotter required: {self.spotter_reason}.", id="spotter-reason", markup=False
                )
            yield Static("", id="preflight-prompt", classes="prompt", markup=False)
            yield Static("", id="preflight-hr", markup=False)
        yield Button(START_BLOCKED, id="start", disabled=True, variant="success")
        yield Static(self._refused, id="preflight-status", markup=False)
        keys = f"1-{len(self.items)} or Enter: tick · Tab: next · G: start"
        yield Static(keys, classes="keys")

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
        button.disabled = bool(self._refused) or self._started or not self.all_ticked
        button.label = START_BLOCKED if button.disabled else START_READY

    @on(Button.Pressed, "#start")
    def _pressed(self) -> None:
        self.action_start()

    def draw(self, snapshot: SessionSnapshot) -> None:
        """The straddle start (where the walker stands while the belt starts) and the live heart
        rate, when there is one or a limit needs one to start."""
        # Snapshots come at several per second and rarely change these: a line is updated (a new
        # layout of the screen) only when its text changed.
        for widget_id, text in (
            ("preflight-prompt", snapshot.prompt),
            ("preflight-hr", preflight_heart_rate(snapshot.heart_rate)),
        ):
            if self._drawn.get(widget_id) != text:
                self._drawn[widget_id] = text
                self.query_one(f"#{widget_id}", Static).update(text)

    def _status(self, text: str) -> None:
        self.query_one("#preflight-status", Static).update(text)

    def notice(self, text: str, *, refusal: bool = False) -> None:
        """Messages show under Start; after a refusal (of Start) Start may be pressed again."""
        self._status(text)
        if refusal:
            self._started = False
            self._changed()

    def action_start(self) -> None:
        """Ask for the countdown, once, and only when every item is ticked."""
        if self._refused:  # this profile cannot run on this treadmill: the reason stays up
            self._status(self._refused)
            return
        if not self.all_ticked:
            boxes = list(self.query(CheckItem))
            missing = sum(1 for box in boxes if not box.value)
            spotter = self.items.index(SPOTTER_ITEM) if self.spotter_reason else -1
            if spotter >= 0 and not boxes[spotter].value:
                self._status(
                    f"Start refused: tick item {spotter + 1}, the spotter: {self.spotter_reason}."
                )
                return
            self._status(f"Start is disabled: {missing} item(s) not ticked.")
            return
        if self._started:
            return
        self._started = True
        self.query_one("#start", Button).disabled = True
        self._status("Starting…")
        self.post_message(self.StartRequested(self.items))
