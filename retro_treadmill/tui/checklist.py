"""The preflight checklist's items, shared by the UI's preflight screen and the headless console
(which must not import the terminal UI's toolkit for them: a headless run on a Raspberry Pi
starts without loading Textual)."""

from __future__ import annotations

from retro_treadmill.screening import SPOTTER_ITEM
from retro_treadmill.tui.model import ProfileInfo

BASE_CHECKLIST: tuple[str, ...] = (
    "The deck is clear: nothing on or behind the belt",
    "The safety key is clipped to the walker's clothing",
    "The walker stands on the side rails (feet off the belt), hands on the rails",
)
HARNESS_REQUIRED = "The harness is attached (this profile requires one)"
HARNESS_WHERE_USED = "The harness is attached (tick if no harness is used here)"


def checklist_for(profile: ProfileInfo | None, *, spotter: bool = False) -> tuple[str, ...]:
    """The items to tick before a session with ``profile`` (``spotter``: the screening or the
    clinic config requires one)."""
    harness = HARNESS_REQUIRED if profile is not None and profile.harness else HARNESS_WHERE_USED
    return (*BASE_CHECKLIST, harness, *((SPOTTER_ITEM,) if spotter else ()))


__all__ = ["BASE_CHECKLIST", "HARNESS_REQUIRED", "HARNESS_WHERE_USED", "checklist_for"]
