"""MQTT connection settings: from ``--mqtt mqtt[s]://user:pass@host:port/prefix`` or a config.

The password is kept out of ``repr`` and every message; :meth:`MqttSettings.redacted_url` is the
form to show a person.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from retro_treadmill.errors import ConfigError

DEFAULT_PREFIX = "retro-treadmill"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_USERINFO_RE = re.compile(r"(//[^:/@]*):[^@/]*@")


class MqttConfigError(ConfigError):
    """The MQTT URL or MQTT settings are invalid; the message says which part and what to do."""


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print or log)."""
    return _USERINFO_RE.sub(r"\1:***@", url)


def _check_topic_prefix(prefix: str, what: str, source: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        raise MqttConfigError(f"{what} is empty", path=source, field=what)
    if any(c in prefix for c in "+#\x00") or "//" in prefix:
        raise MqttConfigError(
            f"{what} {prefix!r} must not contain '+', '#', NUL or empty levels ('//')",
            path=source,
            field=what,
        )
    return prefix


@dataclass(frozen=True)
class MqttSettings:
    """Everything the MQTT publisher needs. Build with :meth:`from_url` or directly from a config.

    Topics live under ``<prefix>/<treadmill_id>/``. ``remote_stop``/``remote_pause`` switch the
    remote ``command/stop`` and ``command/pause`` topics (nothing remote can start, resume or speed
    up). ``telemetry_rate_hz`` limits telemetry messages; ``event_queue_size`` and
    ``telemetry_queue_size`` bound what is kept while the broker is unreachable.
    """

    host: str
    treadmill_id: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    discovery: bool = True
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    remote_stop: bool = True
    remote_pause: bool = True
    telemetry_rate_hz: float = 2.0
    event_queue_size: int = 1000
    telemetry_queue_size: int = 10
    keepalive_s: int = 15
    connect_timeout_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        src = self.source or "MQTT settings"
        if not self.host:
            raise MqttConfigError("no broker host given", path=src, field="host")
        if not 0 < self.port < 65536:
            raise MqttConfigError(f"port {self.port} is outside 1-65535", path=src, field="port")
        if not _ID_RE.match(self.treadmill_id):
            raise MqttConfigError(
                f"treadmill id {self.treadmill_id!r} must be 1-64 letters, digits, '_' or '-'",
                path=src,
                field="treadmill_id",
            )
        object.__setattr__(self, "prefix", _check_topic_prefix(self.prefix, "prefix", src))
        object.__setattr__(
            self,
            "discovery_prefix",
            _check_topic_prefix(self.discovery_prefix, "discovery_prefix", src),
        )
        if self.password is not None and self.username is None:
            raise MqttConfigError("a password needs a user name", path=src, field="username")
        if (self.cert_file is None) != (self.key_file is None):
            raise MqttConfigError(
                "a client certificate needs both cert_file and key_file",
                path=src,
                field="cert_file" if self.cert_file is None else "key_file",
            )
        tls_files = {
            "ca_file": self.ca_file,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
        }
        for name, value in tls_files.items():
            if value is None:
                continue
            if not self.tls:
                raise MqttConfigError(
                    f"{name} is set but TLS is off: use an mqtts:// URL", path=src, field=name
                )
            if not Path(value).is_file():
                raise MqttConfigError(f"{name} {value} does not exist", path=src, field=name)
        if not self.telemetry_rate_hz > 0:
            raise MqttConfigError(
                "telemetry_rate_hz must be > 0", path=src, field="telemetry_rate_hz"
            )
        for name in ("event_queue_size", "telemetry_queue_size", "keepalive_s"):
            if getattr(self, name) < 1:
                raise MqttConfigError(f"{name} must be >= 1", path=src, field=name)
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise MqttConfigError(
                "need 0 < reconnect_min_s <= reconnect_max_s", path=src, field="reconnect_min_s"
            )
        if not self.connect_timeout_s > 0:
            raise MqttConfigError(
                "connect_timeout_s must be > 0", path=src, field="connect_timeout_s"
            )

    @classmethod
    def from_url(cls, url: str, *, treadmill_id: str, **options: Any) -> MqttSettings:
        """Parse ``mqtt[s]://[user[:password]@]host[:port][/prefix]``.

        User name and password may be percent-encoded. ``options`` sets any other field
        (``discovery=False``, ``ca_file=...``). Raises :class:`MqttConfigError` naming the part of
        the URL that is wrong; the password never appears in the message.
        """
        shown = redact_url(url)
        source = f"--mqtt {shown}"
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise MqttConfigError(
                f"invalid MQTT URL ({exc}); expected mqtt[s]://user:password@host:port/prefix",
                path=source,
                field="url",
            ) from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            got = f"'{parts.scheme}://'" if parts.scheme else "no scheme"
            raise MqttConfigError(
                f"the URL must start with mqtt:// or mqtts:// (got {got})",
                path=source,
                field="url",
            )
        if not parts.hostname:
            raise MqttConfigError(
                "no broker host in the URL, e.g. mqtt://broker.local:1883/retro-treadmill",
                path=source,
                field="host",
            )
        tail = url.rsplit("@", 1)[-1]
        if "?" in tail or "#" in tail:
            raise MqttConfigError(
                "the URL must not have a '?query' or '#fragment'; give options separately",
                path=source,
                field="url",
            )
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if username == "":
            username = None
            if password is not None:
                raise MqttConfigError("a password needs a user name", path=source, field="url")
        prefix = parts.path.strip("/") or DEFAULT_PREFIX
        values: dict[str, Any] = {
            "host": parts.hostname,
            "port": port if port is not None else DEFAULT_PORTS[scheme],
            "tls": scheme == "mqtts",
            "username": username,
            "password": password,
            "prefix": prefix,
            "treadmill_id": treadmill_id,
            "source": source,
        }
        unknown = set(options) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown MQTT settings: {', '.join(sorted(unknown))}")
        values.update(options)
        return cls(**values)

    @property
    def redacted_url(self) -> str:
        """The broker URL for display: ``mqtts://user:***@host:8883/prefix``."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = ""
        if self.username is not None:
            user = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.prefix}"

    @property
    def base_topic(self) -> str:
        """``<prefix>/<treadmill_id>``: every topic of this treadmill lives below it."""
        return f"{self.prefix}/{self.treadmill_id}"


PASSWORD_ENV = "RETRO_TREADMILL_MQTT_PASSWORD"
"""Environment variable with the MQTT password when the ``--mqtt`` URL has a user but no password
(keeps the password out of ``ps`` and shell history)."""


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--mqtt URL`` and its companions to a subcommand's parser (``run``, ``simulate``)."""
    group = parser.add_argument_group("MQTT telemetry")
    group.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish telemetry to mqtt[s]://user[:password]@host[:port]/prefix "
        f"(password may come from ${PASSWORD_ENV})",
    )
    group.add_argument(
        "--mqtt-id", metavar="ID", help="treadmill id in the topics (default: from the device)"
    )
    group.add_argument(
        "--mqtt-no-discovery",
        action="store_true",
        help="do not announce (and remove earlier) Home Assistant discovery entities",
    )
    group.add_argument("--mqtt-ca", metavar="PEM", type=Path, help="CA that signed the broker")
    group.add_argument("--mqtt-cert", metavar="PEM", type=Path, help="client certificate")
    group.add_argument("--mqtt-key", metavar="PEM", type=Path, help="client certificate's key")


def settings_from_args(args: argparse.Namespace, *, default_id: str) -> MqttSettings | None:
    """:class:`MqttSettings` from the options :func:`add_cli_arguments` added; ``None`` without
    ``--mqtt``. ``default_id`` is used when ``--mqtt-id`` is absent (it is made topic-safe)."""
    url: str | None = getattr(args, "mqtt", None)
    if not url:
        return None
    treadmill_id = getattr(args, "mqtt_id", None) or topic_safe_id(default_id)
    options: dict[str, Any] = {
        "discovery": not getattr(args, "mqtt_no_discovery", False),
        "ca_file": getattr(args, "mqtt_ca", None),
        "cert_file": getattr(args, "mqtt_cert", None),
        "key_file": getattr(args, "mqtt_key", None),
    }
    settings = MqttSettings.from_url(url, treadmill_id=treadmill_id, **options)
    password = os.environ.get(PASSWORD_ENV)
    if settings.username is not None and settings.password is None and password:
        settings = dataclasses.replace(settings, password=password)
    return settings


def topic_safe_id(name: str) -> str:
    """``name`` (a device name or address) as a treadmill id: letters, digits, ``_`` and ``-``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64]
    return cleaned or "treadmill"


__all__ = [
    "DEFAULT_DISCOVERY_PREFIX",
    "DEFAULT_PREFIX",
    "PASSWORD_ENV",
    "MqttConfigError",
    "MqttSettings",
    "add_cli_arguments",
    "redact_url",
    "settings_from_args",
    "topic_safe_id",
]
