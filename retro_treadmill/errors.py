"""The error hierarchy. Every error this application raises on purpose derives from
:class:`RetroTreadmillError` and carries the data a person needs to fix the cause."""

from __future__ import annotations


class RetroTreadmillError(Exception):
    """Root of every error raised by retro-treadmill on purpose."""


class ConfigError(RetroTreadmillError):
    """A configuration or profile file is invalid.

    The message names the file, the place in it (line, segment, key) and what to do.
    """

    def __init__(self, message: str, *, path: str = "", where: str = "", field: str = "") -> None:
        parts = [p for p in (path, where) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path = path
        self.where = where
        self.field = field
        self.detail = message


class DeviceError(RetroTreadmillError):
    """The treadmill (or the link to it) did not behave as required."""


class StartRefused(RetroTreadmillError):
    """The session did not start: the safety governor (or the profile on this treadmill) refused
    the Start, for the reason given; nothing was commanded to move."""


__all__ = ["ConfigError", "DeviceError", "RetroTreadmillError", "StartRefused"]
