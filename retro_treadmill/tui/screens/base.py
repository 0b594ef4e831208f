"""The base of every screen: a status line on top, the STOP bar at the bottom."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget

from retro_treadmill.tui.model import SessionSnapshot
from retro_treadmill.tui.widgets.status import StatusLine
from retro_treadmill.tui.widgets.stopbar import StopBar


class RetroScreen(Screen[None]):
    """A screen that shows snapshots; subclasses compose their body and draw in ``draw``.

    ``show`` may be called before the screen is mounted; the latest snapshot is drawn on mount.
    """

    def __init__(self, snapshot: SessionSnapshot | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot or SessionSnapshot()
        self.stale_s: float | None = None
        self._ready = False
        self._pending: list[tuple[str, bool]] = []

    def compose(self) -> ComposeResult:
        """Status line, the body, the STOP bar."""
        yield StatusLine()
        yield from self.compose_body()
        yield StopBar()

    def compose_body(self) -> Iterable[Widget]:
        """The widgets between the status line and the STOP bar."""
        return ()

    def on_mount(self) -> None:
        """Draw the latest snapshot once the widgets exist."""
        self._ready = True
        self._draw_all(self.snapshot)
        for text, refusal in self._pending:
            self.notice(text, refusal=refusal)
        self._pending.clear()

    def show(self, snapshot: SessionSnapshot) -> None:
        """Show ``snapshot`` (now if mounted, else on mount); a new snapshot is never stale."""
        self.snapshot = snapshot
        self.stale_s = None
        if self._ready:
            self._draw_all(snapshot)

    def set_stale(self, seconds: float | None) -> None:
        """Mark the display stale: no snapshot for ``seconds`` (``None``: fresh)."""
        self.stale_s = seconds
        if self._ready:
            self.query_one(StatusLine).show(self.snapshot, seconds)

    def _draw_all(self, snapshot: SessionSnapshot) -> None:
        self.query_one(StatusLine).show(snapshot, self.stale_s)
        self.draw(snapshot)

    def draw(self, snapshot: SessionSnapshot) -> None:
        """Update the body's widgets from ``snapshot``."""

    def post_notice(self, text: str, *, refusal: bool = False) -> None:
        """Show a notice now, or once the screen is mounted."""
        if self._ready:
            self.notice(text, refusal=refusal)
        else:
            self._pending.append((text, refusal))

    def notice(self, text: str, *, refusal: bool = False) -> None:
        """Show a service message or (``refusal``) why a request was refused.

        By default a refusal shows as a toast and a message is not shown.
        """
        if refusal:
            self.app.notify(text, severity="warning", markup=False)
