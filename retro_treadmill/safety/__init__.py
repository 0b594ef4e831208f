"""The safety governor (pure, synchronous): every command to the treadmill is decided here.

See :mod:`retro_treadmill.safety.governor` for the API and :mod:`retro_treadmill.safety.commands`
for the values it takes and returns.
"""

from retro_treadmill.safety.commands import (
    Actions,
    Alarm,
    AlarmKind,
    Command,
    Decision,
    Request,
    Source,
    Verdict,
)
from retro_treadmill.safety.governor import GovernorState, SafetyGovernor
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits

__all__ = [
    "DEFAULT_LIMITS",
    "Actions",
    "Alarm",
    "AlarmKind",
    "Command",
    "Decision",
    "GovernorState",
    "Request",
    "SafetyGovernor",
    "SafetyLimits",
    "Source",
    "Verdict",
]
