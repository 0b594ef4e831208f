"""Named device personalities of the virtual treadmill: one data record per behaviour.

Each record says how a family of real machines (ftms-notes) behaves on the wire: ranges and motor
dynamics, whether control is enforced, how the control point answers, which Treadmill Data layout
it sends, what it does on disconnect. The server reads these fields; it has no per-name branches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from retro_treadmill.errors import ConfigError
from retro_treadmill.sim.physics import MotorSpec

RecordMode = Literal["single", "split", "truncated"]
"""How a Treadmill Data record goes on the air: one notification; split with More Data
(FTMS §4.9.1.1, Matrix TouchXL / Technogym MyRun); or cut at 20 bytes with flags promising more
(Matrix, ftms-notes §3.4.2)."""

ResponseVia = Literal["indicate", "notify"]
DisconnectAction = Literal["keep-running", "stop"]

DEFAULT_DATA_FIELDS: frozenset[str] = frozenset(
    {"total_distance_m", "inclination_pct", "ramp_angle_deg", "total_energy_kcal", "elapsed_time_s"}
)
"""Speed, distance, inclination, energy and elapsed time: the common shape on real machines."""


@dataclass(frozen=True)
class Personality:
    """How one kind of treadmill behaves; every field is data the server interprets."""

    name: str
    description: str
    motor: MotorSpec = field(default_factory=MotorSpec)
    manufacturer: str = "retro-treadmill"
    model: str = "Virtual Treadmill"
    fitness_machine_features: int = (1 << 2) | (1 << 3) | (1 << 9) | (1 << 12)
    """2ACC: total distance, inclination, expended energy, elapsed time (FTMS §4.3.1.1)."""
    target_setting_features: int = 0b11
    """2ACC: speed and inclination targets (FTMS §4.3.1.2)."""
    enforce_control: bool = True
    """Every op but Request Control needs control (FTMS §4.16.2); cheap controllers skip it."""
    require_encryption: bool = False
    """2AD9 writes need an encrypted link (FTMS Table 4.1 "Security: Encryption"): ATT error
    0x0F Insufficient Encryption until the client pairs. The cheap machines skip it."""
    require_cccd: bool = True
    """Refuse control-point writes with ATT 0xFD when responses cannot be delivered."""
    response_via: ResponseVia = "indicate"
    control_point_write: Literal["write", "write-without-response", "both"] = "write"
    """Write property 2AD9 declares; every kind is accepted (CITYSPORTS declares only Write
    Without Response yet takes Write Requests, ftms-notes §6)."""
    strict_results: bool = True
    """0x04 Operation Failed for Start-while-running / Stop-while-stopped, 0x03 out of range.
    When False, such requests get Success and out-of-range targets are clamped."""
    incline_supported: bool = True
    """When False, Set Target Inclination gets Success but nothing moves (Urevo E1L)."""
    ignores_speed: bool = False
    """Set Target Speed answers Success but the belt keeps its speed (Xterra T85, Sperax)."""
    speed_param_unit: Literal["kmh", "mph"] = "kmh"
    """``"mph"``: the 0.01 parameter of Set Target Speed is read as mph (JFTM T202)."""
    record_mode: RecordMode = "single"
    data_fields: frozenset[str] = DEFAULT_DATA_FIELDS
    step_counter: bool = False
    """Vendor step count behind RFU flag bit 13 (Urevo, CITYSPORTS, KingSmith)."""
    telemetry_interval_s: float = 1.0
    status_ramp_stream: bool = False
    """Send 2ADA 0x05 Target Speed Changed at every motor step (Urevo, ftms-notes §7)."""
    status_padding: int = 0
    """Zero bytes appended to 2ADA statuses (Urevo, CITYSPORTS: ``04 00 00``)."""
    training_pre: int = 0x01
    """2AD3 code when idle: 0x01 Idle (spec); Urevo sends 0x0E Pre-Workout."""
    training_running: int = 0x0D
    """2AD3 code while running: 0x0D Manual Mode (Quick Start)."""
    training_post: int = 0x0F
    """2AD3 code after a stop: 0x0F Post-Workout."""
    on_disconnect: DisconnectAction = "keep-running"
    """What the belt does when the controlling client's link drops."""
    ftms_available: bool = True
    reported_incline_offset_pct: float = 0.0
    """Treadmill Data reports the incline this much above the real one (adidas T-800: 6 % at
    level, QZ #5113); the ``incline_offset`` quirk corrects it."""
    start_delay_s: float = 0.0
    """The belt starts moving this long after a Start (a console's 3-2-1 countdown)."""
    early_speed: Literal["apply", "lost", "disconnect"] = "apply"
    """A Set Target Speed that arrives before the belt moves: applied; answered Success and
    lost (QZ PR #4621); or the link drops (KingSmith walking pads, ftms-notes §6)."""
    repeated_request_control: Literal["ok", "disconnect"] = "ok"
    """A second Request Control on one connection: fine, or the link drops (some FITSHOW and
    Sunny models break when it precedes every setpoint, QZ PR #4703 / #4944)."""
    incline_range_characteristic: bool = True
    """Whether 2AD5 Supported Inclination Range exists (missing on some, hassio-ftms #16)."""
    training_status_readable: bool = True
    """When False, reading 2AD3 Training Status fails with an ATT error (hassio-ftms #36,
    pyftms #17); its notifications still flow."""

    def with_changes(self, **changes: object) -> Personality:
        """A copy with some fields replaced (for tests and custom devices)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


SPEC = Personality(
    name="spec",
    description="Follows FTMS v1.0.1 strictly: control enforced, indications, result codes 02-05.",
)

ENCRYPTED = SPEC.with_changes(
    name="encrypted",
    description=(
        "Spec plus the control point's Encryption requirement: writes fail with ATT 0x0F "
        "Insufficient Encryption until the client pairs (Just Works)."
    ),
    require_encryption=True,
)
"""Not in :data:`PERSONALITIES` (not selectable by name yet): pass it as a Personality."""

_URQ_MOTOR = MotorSpec(
    min_speed_kmh=0.96,
    max_speed_kmh=6.43,
    speed_increment_kmh=0.32,
    accel_step_kmh=0.16,
    accel_interval_s=0.3,
    decel_step_kmh=0.16,
    decel_interval_s=0.3,
    min_incline_pct=0.0,
    max_incline_pct=0.0,
    incline_increment_pct=0.0,
    incline_rate_pct_per_s=0.0,
    speed_quantum="mph",
)

PERSONALITIES: dict[str, Personality] = {
    p.name: p
    for p in (
        SPEC,
        SPEC.with_changes(
            name="lenient",
            description=(
                "CITYSPORTS-like: control not enforced, repeated Start succeeds, targets clamped, "
                "2AD9 declared Write Without Response (Write Requests work too), statuses padded "
                "with zero bytes, Treadmill Data every 0.5 s."
            ),
            enforce_control=False,
            require_cccd=False,
            strict_results=False,
            control_point_write="write-without-response",
            status_padding=2,
            telemetry_interval_s=0.5,
            motor=MotorSpec(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=0.5),
        ),
        SPEC.with_changes(
            name="urevo-e1l",
            description=(
                "Urevo E1L: responses as notifications, 0.1 mph speed steps (0.16 km/h per 0.3 s "
                "ramps with a 0x05 status at each step), no incline motor yet Success for Set "
                "Target Inclination, bit-13 step counter, training status 0E/0D/0F."
            ),
            manufacturer="Urevo",
            model="E1L",
            motor=_URQ_MOTOR,
            fitness_machine_features=0x5645,
            target_setting_features=0x05,
            enforce_control=False,
            require_cccd=False,
            strict_results=False,
            response_via="notify",
            incline_supported=False,
            step_counter=True,
            data_fields=frozenset({"total_distance_m", "total_energy_kcal", "elapsed_time_s"}),
            telemetry_interval_s=0.5,
            status_ramp_stream=True,
            status_padding=2,
            training_pre=0x0E,
        ),
        SPEC.with_changes(
            name="matrix",
            description=(
                "Matrix: flags promise ~30 bytes, notifications are cut at 20 bytes (MTU 23); "
                "the fields past byte 20 never arrive."
            ),
            manufacturer="Matrix",
            record_mode="truncated",
            data_fields=frozenset(
                {
                    "average_speed_kmh",
                    "total_distance_m",
                    "inclination_pct",
                    "ramp_angle_deg",
                    "positive_elevation_gain_m",
                    "negative_elevation_gain_m",
                    "metabolic_equivalent",
                    "elapsed_time_s",
                    "remaining_time_s",
                }
            ),
        ),
        SPEC.with_changes(
            name="split-records",
            description=(
                "Splits every Treadmill Data record in two notifications with More Data "
                "(Technogym MyRun / Matrix TouchXL shape)."
            ),
            record_mode="split",
            data_fields=DEFAULT_DATA_FIELDS | {"average_speed_kmh", "metabolic_equivalent"},
        ),
        SPEC.with_changes(
            name="mph-confused",
            description=(
                "Reads the Set Target Speed parameter as mph (JFTM T202): the belt runs 1.609x "
                "the requested km/h, and reports that faster speed in km/h."
            ),
            speed_param_unit="mph",
        ),
        SPEC.with_changes(
            name="ignores-speed",
            description="Answers Set Target Speed with Success but the belt keeps its speed.",
            ignores_speed=True,
        ),
        SPEC.with_changes(
            name="keeps-running-on-disconnect",
            description="Spec behaviour; the belt keeps running when the controlling link drops.",
            on_disconnect="keep-running",
        ),
        SPEC.with_changes(
            name="adidas-t800",
            description=(
                "adidas T-800: Treadmill Data reports the incline 6 % above the real one (6 % at "
                "level, QZ #5113); incline in 1 % steps. Needs the incline_offset quirk."
            ),
            manufacturer="adidas",
            model="T-800",
            reported_incline_offset_pct=6.0,
            motor=MotorSpec(max_incline_pct=15.0, incline_increment_pct=1.0),
        ),
        SPEC.with_changes(
            name="incline-stuck",
            description=(
                "Answers Set Target Inclination with Success but the incline motor never moves; "
                "Treadmill Data reports the real (unchanged) incline."
            ),
            incline_supported=False,
        ),
        SPEC.with_changes(
            name="speed-lost-when-stopped",
            description=(
                "A Set Target Speed written before the belt moves is answered Success and lost "
                "(QZ PR #4621): the belt runs at its start speed until the next one."
            ),
            early_speed="lost",
            start_delay_s=2.0,
        ),
        SPEC.with_changes(
            name="kingsmith",
            description=(
                "KingSmith walking pad: a Set Target Speed before the belt moves drops the link "
                "(ftms-notes §6). Advertise a KS- name to get the wait_for_belt_before_speed quirk."
            ),
            manufacturer="KingSmith",
            early_speed="disconnect",
            start_delay_s=2.0,
        ),
        SPEC.with_changes(
            name="fitshow",
            description=(
                "FITSHOW / Sunny: a second Request Control on one connection drops the link (QZ "
                "PR #4703, #4944); control is to be requested once per connection."
            ),
            manufacturer="FITSHOW",
            repeated_request_control="disconnect",
        ),
        SPEC.with_changes(
            name="no-incline-range",
            description=(
                "No 2AD5 Supported Inclination Range characteristic (hassio-ftms #16); 2AD3 "
                "Training Status cannot be read (hassio-ftms #36, pyftms #17)."
            ),
            incline_range_characteristic=False,
            training_status_readable=False,
        ),
        SPEC.with_changes(
            name="stops-on-disconnect",
            description=(
                "Spec behaviour; the belt coasts to a stop when the controlling link drops."
            ),
            on_disconnect="stop",
        ),
    )
}
"""Every named personality, by name (``--personality NAME``)."""


def get_personality(name: str) -> Personality:
    """The personality called ``name``; ConfigError naming the choices otherwise."""
    try:
        return PERSONALITIES[name]
    except KeyError:
        choices = ", ".join(PERSONALITIES)
        raise ConfigError(
            f"unknown virtual treadmill personality {name!r}; choose one of: {choices}",
            field="personality",
        ) from None


__all__ = [
    "DEFAULT_DATA_FIELDS",
    "ENCRYPTED",
    "PERSONALITIES",
    "SPEC",
    "DisconnectAction",
    "Personality",
    "RecordMode",
    "ResponseVia",
    "get_personality",
]
