"""Tests of the MQTT telemetry publisher against a real mosquitto broker."""
