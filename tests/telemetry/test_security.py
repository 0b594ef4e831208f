"""Authentication, the dashboard ACL the README documents, and TLS with a generated CA."""

from __future__ import annotations

import logging
from pathlib import Path

import aiomqtt
import pytest

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.telemetry.mqtt import (
    MqttAuthError,
    MqttConnectionState,
    MqttPublisher,
    MqttTlsError,
)
from retro_treadmill.telemetry.schema import (
    RemoteCommand,
    TelemetrySample,
    Topics,
    command_payload,
)
from retro_treadmill.telemetry.settings import MqttSettings
from tests.mosquitto import AUTH_USERS, MosquittoBroker, TlsFiles, make_tls_files
from tests.telemetry.helpers import client_for, fast_settings, recording

T = Topics("retro-treadmill/tm1")


def auth_url(broker: MosquittoBroker, user: str, password: str) -> str:
    return f"mqtt://{user}:{password}@{broker.host}:{broker.port}/retro-treadmill"


async def test_wrong_password_is_refused_with_a_clear_error(
    mosquitto_auth: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, paho's included
    settings = MqttSettings.from_url(
        auth_url(mosquitto_auth, "treadmill", "not-the-password"), treadmill_id="tm1"
    )
    publisher = MqttPublisher(settings)
    with pytest.raises(MqttAuthError) as exc:
        await publisher.start()
    message = str(exc.value)
    assert isinstance(exc.value, RetroTreadmillError)
    assert "refused the login for user 'treadmill'" in message
    assert "not authorised" in message
    assert "not-the-password" not in message
    assert "not-the-password" not in caplog.text
    assert "refused the login" in caplog.text
    assert "Sending CONNECT" in caplog.text  # paho logged the CONNECT: and not its password
    assert publisher.status.state is MqttConnectionState.CLOSED
    assert publisher._task is not None
    assert publisher._task.done()


async def test_right_password_connects(mosquitto_auth: MosquittoBroker) -> None:
    settings = MqttSettings.from_url(
        auth_url(mosquitto_auth, "treadmill", AUTH_USERS["treadmill"]), treadmill_id="tm1"
    )
    async with MqttPublisher(settings) as publisher:
        await publisher.wait_connected()
        assert publisher.status.connects == 1


async def test_dashboard_acl_allows_reading_and_stop_but_not_publishing_telemetry(
    mosquitto_auth: MosquittoBroker,
) -> None:
    treadmill = MqttSettings.from_url(
        auth_url(mosquitto_auth, "treadmill", AUTH_USERS["treadmill"]),
        treadmill_id="tm1",
        discovery=False,
    )
    commands: list[RemoteCommand] = []
    dashboard_login = {"username": "dashboard", "password": AUTH_USERS["dashboard"]}
    treadmill_login = {"username": "treadmill", "password": AUTH_USERS["treadmill"]}
    async with (
        MqttPublisher(treadmill, on_command=commands.append) as pub,
        recording(client_for(mosquitto_auth, **treadmill_login), f"{T.base}/#") as spy,
        recording(client_for(mosquitto_auth, **dashboard_login), T.telemetry) as dashboard_view,
        client_for(mosquitto_auth, **dashboard_login) as dashboard,
    ):
        await pub.wait_connected()
        pub.publish_telemetry(TelemetrySample(speed_kmh=1.6))
        real = await dashboard_view.wait_for(lambda m: True)  # the dashboard may read telemetry
        forged = b'{"speed_kmh": 99}'
        # Same client, same order: had the broker accepted the forged telemetry, the spy would
        # see it before the stop.
        await dashboard.publish(T.telemetry, forged, qos=1)
        await dashboard.publish(T.command("start"), command_payload("go", "dashboard"), qos=1)
        await dashboard.publish(T.command("stop"), command_payload("check", "dashboard"), qos=1)
        stop_seen = await spy.wait_for(lambda m: m.topic == T.command("stop"))
        before_stop = spy.messages[: spy.messages.index(stop_seen)]
        assert commands == [RemoteCommand("stop", "check", "dashboard", commands[0].received_at)]
    assert real.json()["speed_kmh"] == 1.6
    assert forged not in [m.payload for m in before_stop]
    assert T.command("start") not in [m.topic for m in before_stop]


async def test_tls_with_generated_ca_and_client_certificate(
    mosquitto_tls: MosquittoBroker, tls_files: TlsFiles
) -> None:
    settings = fast_settings(
        mosquitto_tls,
        ca_file=tls_files.ca_file,
        cert_file=tls_files.client_cert,
        key_file=tls_files.client_key,
    )
    assert settings.tls
    tls = aiomqtt.TLSParameters(
        ca_certs=str(tls_files.ca_file),
        certfile=str(tls_files.client_cert),
        keyfile=str(tls_files.client_key),
    )
    async with (
        recording(client_for(mosquitto_tls, tls_params=tls), T.availability) as rec,
        MqttPublisher(settings) as publisher,
    ):
        await publisher.wait_connected()
        await rec.wait_for(lambda m: m.payload == b"online")
        status = publisher.status
    # The broker has only a TLS listener that requires a client certificate.
    assert status.broker.startswith("mqtts://")
    assert status.connects == 1


async def test_tls_with_an_untrusted_ca_is_a_clear_error(
    mosquitto_tls: MosquittoBroker, tls_files: TlsFiles, tmp_path: Path
) -> None:
    other_ca = make_tls_files(tmp_path / "other-pki")
    settings = fast_settings(
        mosquitto_tls,
        ca_file=other_ca.ca_file,
        cert_file=tls_files.client_cert,
        key_file=tls_files.client_key,
    )
    with pytest.raises(MqttTlsError, match=r"TLS handshake failed.*ca_file"):
        await MqttPublisher(settings).start()
