"""Telemetry: MQTT publishing with a remote STOP.

- :mod:`retro_treadmill.telemetry.settings` - ``--mqtt`` URL / clinic config -> ``MqttSettings``.
- :mod:`retro_treadmill.telemetry.schema` - topics, typed payload builders, JSON Schemas (pure).
- :mod:`retro_treadmill.telemetry.discovery` - Home Assistant MQTT discovery configs (pure).
- :mod:`retro_treadmill.telemetry.mqtt` - ``MqttPublisher``: the aiomqtt IO shell.

Import the submodules directly; this package does not import aiomqtt by itself.
"""
