"""Telemetry: MQTT publishing with a remote STOP.

- :mod:`retro_treadmill.telemetry.settings` - ``--mqtt`` URL / clinic config -> ``MqttSettings``.
- :mod:`retro_treadmill.telemetry.schema` - topics, typed payload builders, JSON Schemas (pure).
- :mod:`retro_treadmill.telemetry.discovery` - Home Assistant MQTT discovery configs (pure).
- :mod:`retro_treadmill.telemetry.mqtt` - ``MqttPublisher``: the aiomqtt IO shell.
- :mod:`retro_treadmill.telemetry.eventlog` - the session's JSON-lines event log (``--event-log``).
- :mod:`retro_treadmill.telemetry.fleet` / :mod:`~retro_treadmill.telemetry.monitor` - the
  ``monitor`` command's model (pure) and Textual app.

Import the submodules directly; this package does not import aiomqtt by itself.
"""
