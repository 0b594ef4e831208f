"""Home Assistant MQTT discovery: one device per treadmill with sensors and a STOP button.

Config topics are ``<discovery_prefix>/<component>/retro_treadmill_<id>/<object>/config``
(retained). With discovery off the publisher sends an empty retained payload to each of them,
which makes Home Assistant remove entities an earlier run created. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retro_treadmill import __version__
from retro_treadmill.telemetry.schema import (
    AVAILABILITY_OFFLINE,
    AVAILABILITY_ONLINE,
    Topics,
    command_payload,
    encode,
)
from retro_treadmill.telemetry.settings import MqttSettings

STALE_AFTER_S = 30
"""Telemetry sensors turn "unavailable" in Home Assistant when no telemetry came for this long."""


@dataclass(frozen=True)
class DiscoveryEntity:
    """One Home Assistant entity: its component (``sensor``, ``button``) and object id."""

    component: str
    object_id: str
    config: dict[str, Any]


def node_id(settings: MqttSettings) -> str:
    """The discovery node id of this treadmill: ``retro_treadmill_<treadmill_id>``."""
    return f"retro_treadmill_{settings.treadmill_id}"


def config_topic(settings: MqttSettings, entity: DiscoveryEntity) -> str:
    """``<discovery_prefix>/<component>/<node_id>/<object_id>/config``."""
    return (
        f"{settings.discovery_prefix}/{entity.component}/{node_id(settings)}/"
        f"{entity.object_id}/config"
    )


def entities(settings: MqttSettings) -> list[DiscoveryEntity]:
    """The entities of one treadmill: speed, incline, distance, heart rate, state, STOP."""
    topics = Topics(settings.base_topic)
    node = node_id(settings)
    device = {
        "identifiers": [node],
        "name": f"Retro treadmill {settings.treadmill_id}",
        "manufacturer": "retro-treadmill",
        "model": "FTMS treadmill (backward walking)",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": topics.availability,
        "payload_available": AVAILABILITY_ONLINE,
        "payload_not_available": AVAILABILITY_OFFLINE,
        "device": device,
    }

    def sensor(object_id: str, name: str, field_name: str, **extra: Any) -> DiscoveryEntity:
        return DiscoveryEntity(
            "sensor",
            object_id,
            {
                "name": name,
                "unique_id": f"{node}_{object_id}",
                "state_topic": topics.telemetry,
                "value_template": f"{{{{ value_json.{field_name} }}}}",
                "expire_after": STALE_AFTER_S,
                **extra,
                **common,
            },
        )

    return [
        sensor(
            "speed",
            "Speed",
            "speed_kmh",
            unit_of_measurement="km/h",
            device_class="speed",
            state_class="measurement",
            suggested_display_precision=2,
        ),
        sensor(
            "incline",
            "Incline",
            "incline_pct",
            unit_of_measurement="%",
            state_class="measurement",
            icon="mdi:slope-uphill",
        ),
        sensor(
            "distance",
            "Distance",
            "distance_m",
            unit_of_measurement="m",
            device_class="distance",
            state_class="total_increasing",
        ),
        sensor(
            "heart_rate",
            "Heart rate",
            "heart_rate_bpm",
            unit_of_measurement="bpm",
            state_class="measurement",
            icon="mdi:heart-pulse",
        ),
        DiscoveryEntity(
            "sensor",
            "state",
            {
                "name": "Session state",
                "unique_id": f"{node}_state",
                "state_topic": topics.state,
                "value_template": "{{ value_json.state }}",
                "icon": "mdi:walk",
                **common,
            },
        ),
        DiscoveryEntity(
            "button",
            "stop",
            {
                "name": "STOP belt",
                "unique_id": f"{node}_stop",
                "command_topic": topics.command("stop"),
                "payload_press": command_payload(
                    "stop button in Home Assistant", "home-assistant"
                ).decode(),
                "qos": 1,
                "retain": False,
                "icon": "mdi:stop-circle",
                **common,
            },
        ),
    ]


def discovery_messages(settings: MqttSettings) -> list[tuple[str, bytes]]:
    """(topic, retained payload) pairs to publish on every connect.

    With ``settings.discovery`` on: each entity's JSON config. Off: an empty payload per config
    topic, which removes what an earlier run announced.
    """
    return [
        (config_topic(settings, e), encode(e.config) if settings.discovery else b"")
        for e in entities(settings)
    ]


__all__ = [
    "STALE_AFTER_S",
    "DiscoveryEntity",
    "config_topic",
    "discovery_messages",
    "entities",
    "node_id",
]
