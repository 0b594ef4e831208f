"""The session service: the asyncio shell that wires the FTMS client, the session engine (with
its safety governor), MQTT, the event log and a front end (the Textual UI or the headless
console) together. See :mod:`retro_treadmill.service.session`."""

from __future__ import annotations

from retro_treadmill.service.session import ExitCode, SessionService, StopOrigin

__all__ = ["ExitCode", "SessionService", "StopOrigin"]
