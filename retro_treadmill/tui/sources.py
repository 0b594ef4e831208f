"""Plain-data providers for the selection screens, built on the profile loader."""

from __future__ import annotations

from retro_treadmill.config import ClinicConfig
from retro_treadmill.profiles import list_profiles
from retro_treadmill.tui.model import ProfileInfo


def profile_choices(config: ClinicConfig | None = None) -> list[ProfileInfo]:
    """The profiles that run under the effective limits (``profiles list`` minus the refused ones),
    keyed by path so that ``run --profile KEY`` loads exactly the one shown."""
    return [
        ProfileInfo.from_profile(entry.profile, str(entry.path))
        for entry in list_profiles(config)
        if entry.profile is not None and entry.error is None
    ]


__all__ = ["profile_choices"]
