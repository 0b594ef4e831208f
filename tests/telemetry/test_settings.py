"""``--mqtt`` URLs and settings: what is accepted; errors say what is wrong (never the password)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.telemetry.settings import (
    PASSWORD_ENV,
    MqttConfigError,
    MqttSettings,
    add_cli_arguments,
    redact_url,
    settings_from_args,
)


def test_full_url_sets_every_part() -> None:
    s = MqttSettings.from_url(
        "mqtt://clinic:s3cr%40t@broker.local:1884/rehab/floor2", treadmill_id="tm1"
    )
    assert (s.host, s.port, s.tls) == ("broker.local", 1884, False)
    assert (s.username, s.password) == ("clinic", "s3cr@t")
    assert s.prefix == "rehab/floor2"
    assert s.base_topic == "rehab/floor2/tm1"


def test_defaults_port_and_prefix_by_scheme() -> None:
    plain = MqttSettings.from_url("mqtt://localhost", treadmill_id="a")
    secure = MqttSettings.from_url("mqtts://localhost", treadmill_id="a")
    assert (plain.port, plain.tls, plain.prefix) == (1883, False, "retro-treadmill")
    assert (secure.port, secure.tls) == (8883, True)
    assert plain.username is None
    assert plain.password is None


def test_ipv6_loopback_url() -> None:
    s = MqttSettings.from_url("mqtt://[::1]:1999/x", treadmill_id="a")
    assert (s.host, s.port) == ("::1", 1999)
    assert s.redacted_url == "mqtt://[::1]:1999/x"


def test_password_never_in_repr_or_redacted_url() -> None:
    s = MqttSettings.from_url("mqtts://u:hunter2@h:8883/p", treadmill_id="a")
    assert "hunter2" not in repr(s)
    assert s.redacted_url == "mqtts://u:***@h:8883/p"
    assert redact_url("mqtt://u:hunter2@h/p") == "mqtt://u:***@h/p"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:hunter2@h/p", "must start with mqtt:// or mqtts://"),
        ("broker.local:1883", "must start with mqtt:// or mqtts://"),
        ("mqtt://u:hunter2@:1883/p", "no broker host"),
        ("mqtt://u:hunter2@h:99999/p", "invalid MQTT URL"),
        ("mqtt://u:hunter2@h:abc/p", "invalid MQTT URL"),
        ("mqtt://u:hunter2@h/p/#", "must not have a '?query' or '#fragment'"),
        ("mqtt://u:hunter2@h/a/+/b", "must not contain '+', '#'"),
        ("mqtt://:hunter2@h/p", "a password needs a user name"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(url: str, expected: str) -> None:
    with pytest.raises(MqttConfigError) as exc:
        MqttSettings.from_url(url, treadmill_id="tm1")
    assert expected in str(exc.value)
    assert "hunter2" not in str(exc.value)
    assert isinstance(exc.value, ConfigError)


def test_bad_treadmill_id_is_refused() -> None:
    with pytest.raises(MqttConfigError, match="treadmill id 'a/b'"):
        MqttSettings.from_url("mqtt://h", treadmill_id="a/b")


def test_tls_files_need_tls_and_must_exist(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(MqttConfigError, match="TLS is off"):
        MqttSettings.from_url("mqtt://h", treadmill_id="a", ca_file=ca)
    with pytest.raises(MqttConfigError, match="does not exist"):
        MqttSettings.from_url("mqtts://h", treadmill_id="a", ca_file=tmp_path / "missing.pem")
    with pytest.raises(MqttConfigError, match="both cert_file and key_file"):
        MqttSettings.from_url("mqtts://h", treadmill_id="a", cert_file=ca)


def test_settings_from_a_config_object_without_url() -> None:
    s = MqttSettings(host="127.0.0.1", treadmill_id="tm2", discovery=False, telemetry_rate_hz=1)
    assert s.redacted_url == "mqtt://127.0.0.1:1883/retro-treadmill"
    assert not s.discovery


def parse_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    return parser.parse_args(argv)


def test_no_mqtt_option_means_no_publisher() -> None:
    assert settings_from_args(parse_cli(), default_id="x") is None


def test_cli_options_become_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    args = parse_cli("--mqtt", "mqtts://u:p@h/clinic", "--mqtt-no-discovery", "--mqtt-ca", str(ca))
    settings = settings_from_args(args, default_id="FS-1A2B3C (Kingsmith)")
    assert settings is not None
    assert settings.treadmill_id == "FS-1A2B3C-Kingsmith"
    assert settings.discovery is False
    assert settings.ca_file == ca
    explicit = settings_from_args(
        parse_cli("--mqtt", "mqtt://h", "--mqtt-id", "bay3"), default_id="x"
    )
    assert explicit is not None
    assert explicit.treadmill_id == "bay3"


def test_password_from_the_environment_keeps_it_off_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    from_env = settings_from_args(parse_cli("--mqtt", "mqtt://u@h"), default_id="x")
    in_url = settings_from_args(parse_cli("--mqtt", "mqtt://u:in-url@h"), default_id="x")
    assert from_env is not None
    assert from_env.password == "from-env"
    assert in_url is not None
    assert in_url.password == "in-url"
