"""A checklist item whose state reads in words: ``[x]`` ticked, ``[ ]`` not (not colour alone)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class CheckItem(Widget, can_focus=True):
    """One checklist line. Enter (or a click) toggles it; space is STOP and never toggles."""

    DEFAULT_CSS = """
    CheckItem {
        height: auto;
        width: 100%;
    }
    CheckItem:focus {
        text-style: bold reverse;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "flip", "Tick", show=False)]

    value: reactive[bool] = reactive(False)

    class Changed(Message):
        """The item was ticked or unticked."""

        def __init__(self, item: CheckItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label

    def render(self) -> Text:
        """``[x] label`` or ``[ ] label``."""
        return Text(f"{'[x]' if self.value else '[ ]'} {self.label}")

    def action_flip(self) -> None:
        """Tick or untick."""
        self.value = not self.value

    def on_click(self) -> None:
        """A click toggles too."""
        self.action_flip()

    def watch_value(self) -> None:
        """Tell the screen."""
        self.post_message(self.Changed(self))
