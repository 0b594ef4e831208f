"""The virtual FTMS treadmill: physics, personalities and faults behind a bumble GATT server.

See :mod:`retro_treadmill.sim.server` for the Python API, :mod:`retro_treadmill.sim.faults` for
the fault syntax and :mod:`retro_treadmill.sim.personalities` for the device personalities.
"""

from __future__ import annotations

from retro_treadmill.sim.faults import Fault, FaultKind, parse_fault
from retro_treadmill.sim.personalities import PERSONALITIES, Personality, get_personality
from retro_treadmill.sim.physics import BeltModel, MotorSpec, RunState
from retro_treadmill.sim.server import ControlPointWrite, SentValue, VirtualTreadmill

__all__ = [
    "PERSONALITIES",
    "BeltModel",
    "ControlPointWrite",
    "Fault",
    "FaultKind",
    "MotorSpec",
    "Personality",
    "RunState",
    "SentValue",
    "VirtualTreadmill",
    "get_personality",
    "parse_fault",
]
