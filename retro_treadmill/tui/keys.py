"""Key names: the stop keys, and letter keys that work whatever Shift or Caps Lock say."""

from __future__ import annotations

STOP_KEYS = frozenset({"space", "s", "escape", "ctrl+c"})
"""The keys that stop the belt on every screen (no widget may take them for anything else), in
any case and with or without Shift (see :func:`is_stop_key`)."""


def unshifted(key: str) -> str:
    """``key`` as if neither Shift nor Caps Lock were on: ``S`` -> ``s``, ``shift+space`` ->
    ``space``, ``ctrl+shift+c`` -> ``ctrl+c`` (the kitty keyboard protocol reports Shift on
    keys that have no capital)."""
    *modifiers, name = key.split("+")
    if len(name) == 1:
        name = name.lower()
    return "+".join([*(m for m in modifiers if m != "shift"), name])


def is_stop_key(key: str) -> bool:
    """Whether the Textual key name ``key`` is a stop key, whatever the keyboard state."""
    return unshifted(key) in STOP_KEYS


def both_cases(*keys: str) -> str:
    """A binding's key list with each letter in both cases: the README writes G, the terminal
    sends ``g``, or ``G`` with Shift or Caps Lock on; either must work."""
    out: list[str] = []
    for key in keys:
        out.append(key)
        if len(key) == 1 and key.isalpha():
            out.append(key.swapcase())
    return ",".join(out)


STOP_BINDING_KEYS = ",".join(
    sorted({*STOP_KEYS, "S", "shift+s", "shift+space", "shift+escape", "ctrl+shift+c"})
)
"""Every form a terminal may hand over for a stop key (with Shift, Caps Lock, the kitty keyboard
protocol): the app's priority binding, for keys that do not come through the terminal driver."""

__all__ = ["STOP_BINDING_KEYS", "STOP_KEYS", "both_cases", "is_stop_key", "unshifted"]
