"""The FTMS client: connect to a treadmill, control it and watch it over Bluetooth LE.

- :mod:`retro_treadmill.ftms.client` - :class:`FtmsClient` (asyncio, over bleak's ``BleakClient``);
- :mod:`retro_treadmill.ftms.events` - the typed events it emits (telemetry, link, control);
- :mod:`retro_treadmill.ftms.control` - the sans-IO control-point procedure machine;
- :mod:`retro_treadmill.ftms.monitor` - sans-IO belt state, silence and units self-test;
- :mod:`retro_treadmill.ftms.quirks` - per-device quirks (``quirks.toml``) and overrides;
- :mod:`retro_treadmill.ftms.audit` - the audit trail (JSON lines for ``--event-log``).

``FtmsClient`` and ``ReconnectPolicy`` are imported lazily (they pull in bleak); the events and
quirks are plain values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retro_treadmill.ftms.audit import AuditRecord, AuditTrail, JsonLinesWriter
from retro_treadmill.ftms.events import (
    BeltStateChanged,
    CommandResult,
    Connected,
    ControlChanged,
    DeviceDescription,
    FtmsEvent,
    LinkLost,
    MachineStatusEvent,
    ReconnectFailed,
    Reconnecting,
    TelemetrySilence,
    TrainingStatusEvent,
    TreadmillDataEvent,
    UnitMismatch,
)
from retro_treadmill.ftms.model import BeltState, Command, CommandKind, Outcome
from retro_treadmill.ftms.quirks import (
    DeviceQuirks,
    QuirksTable,
    load_quirks_table,
    merge_overrides,
)

if TYPE_CHECKING:
    from retro_treadmill.ftms.client import EventStream, FtmsClient, ReconnectPolicy


def __getattr__(name: str) -> Any:
    if name in ("FtmsClient", "ReconnectPolicy", "EventStream"):
        from retro_treadmill.ftms import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuditRecord",
    "AuditTrail",
    "BeltState",
    "BeltStateChanged",
    "Command",
    "CommandKind",
    "CommandResult",
    "Connected",
    "ControlChanged",
    "DeviceDescription",
    "DeviceQuirks",
    "EventStream",
    "FtmsClient",
    "FtmsEvent",
    "JsonLinesWriter",
    "LinkLost",
    "MachineStatusEvent",
    "Outcome",
    "QuirksTable",
    "ReconnectFailed",
    "ReconnectPolicy",
    "Reconnecting",
    "TelemetrySilence",
    "TrainingStatusEvent",
    "TreadmillDataEvent",
    "UnitMismatch",
    "load_quirks_table",
    "merge_overrides",
]
