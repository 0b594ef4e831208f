"""Fixtures: the real mosquitto broker (tests/mosquitto.py)."""

from tests.mosquitto import mosquitto, mosquitto_auth, mosquitto_tls, tls_files

__all__ = ["mosquitto", "mosquitto_auth", "mosquitto_tls", "tls_files"]
