"""A real mosquitto broker for tests, on a free loopback port, with a generated configuration.

Usage from any test directory (import the fixtures you need in that directory's conftest.py)::

    from tests.mosquitto import mosquitto, MosquittoBroker  # noqa: F401

    async def test_something(mosquitto: MosquittoBroker) -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client: ...

Three shapes:

- plain: anonymous access (:func:`mosquitto` fixture);
- auth + ACL: a password file made with ``mosquitto_passwd`` and an ACL file
  (:func:`mosquitto_auth` fixture, users from :data:`AUTH_USERS` and :data:`DASHBOARD_ACL`);
- TLS: a CA, a server certificate for 127.0.0.1/::1/localhost and a client certificate, all
  generated at test time with ``cryptography`` (:func:`mosquitto_tls` fixture).

The broker only ever listens on 127.0.0.1 (or ::1). :meth:`MosquittoBroker.stop` checks that it
exited cleanly; :meth:`MosquittoBroker.kill` sends SIGKILL (a crash) and :meth:`start` starts it
again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import getpass
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"

AUTH_USERS: dict[str, str] = {
    "treadmill": "treadmill-secret",
    "dashboard": "dashboard-secret",
}
"""Users of the :func:`mosquitto_auth` broker (name -> password)."""

DASHBOARD_ACL = """\
# The treadmill host publishes its own topics and reads its commands.
user treadmill
topic readwrite retro-treadmill/#
topic readwrite homeassistant/#

# A dashboard (or Home Assistant) reads everything and may send only STOP.
user dashboard
topic read retro-treadmill/#
topic read homeassistant/#
topic write retro-treadmill/+/command/stop
"""
"""The ACL the README documents: a dashboard may subscribe and send command/stop, nothing else."""


def find_mosquitto() -> str | None:
    """The Debian ``mosquitto`` binary (it lives in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _PortTaken(Exception):
    """mosquitto could not bind its port."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA, a server certificate and a client certificate."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate a CA, a server certificate (127.0.0.1, ::1, localhost) and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("retro-treadmill test CA"))
        .issuer_name(name("retro-treadmill test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
    )
    client_cert, client_key = leaf("treadmill", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    files = TlsFiles(
        ca_file=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    pem = serialization.Encoding.PEM
    files.ca_file.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(server_cert.public_bytes(pem))
    files.client_cert.write_bytes(client_cert.public_bytes(pem))
    write_key(server_key, files.server_key)
    write_key(client_key, files.client_key)
    return files


class MosquittoBroker:
    """One mosquitto process with a configuration generated in ``workdir``.

    ``users`` (name -> password) turns on authentication (anonymous access off) with a password
    file written by ``mosquitto_passwd``; ``acl`` is the text of an ACL file; ``tls`` turns the
    listener into a TLS one (``require_client_cert`` asks for a client certificate too);
    ``persistent`` keeps sessions and queued QoS 1 messages on disk across a kill and restart;
    ``tcp_nodelay`` is the broker setting the README recommends for a fast remote STOP.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        tls: TlsFiles | None = None,
        require_client_cert: bool = False,
        persistent: bool = False,
        tcp_nodelay: bool = True,
    ) -> None:
        if host not in ("127.0.0.1", "::1"):
            raise ValueError(f"test brokers listen on loopback only, not {host!r}")
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.workdir = workdir
        self.host = host
        self._auto_port = port is None
        self._started = False
        self.port = port if port is not None else free_port(host)
        self.tls = tls
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self._config = (users, acl, tls, require_client_cert, persistent, tcp_nodelay)
        self._write_config(*self._config)

    def _write_config(
        self,
        users: Mapping[str, str] | None,
        acl: str | None,
        tls: TlsFiles | None,
        require_client_cert: bool,
        persistent: bool,
        tcp_nodelay: bool,
    ) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            # When run as root mosquitto switches to the user named here; root means "stay".
            f"user {getpass.getuser()}",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
            # Without it Nagle's algorithm can hold a small PUBLISH (a STOP) until the receiver's
            # delayed ACK (40-200 ms on Linux) for the previous packet arrives.
            f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}",
        ]
        if persistent:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
                "autosave_on_changes true",
            ]
        else:
            lines.append("persistence false")
        if users:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            password_file.chmod(0o600)
            passwd = shutil.which("mosquitto_passwd")
            if passwd is None:
                raise RuntimeError("mosquitto_passwd is not installed (it comes with mosquitto)")
            for user, password in users.items():
                subprocess.run(
                    [passwd, "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        if tls is not None:
            lines += [
                f"cafile {tls.ca_file}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                f"require_certificate {'true' if require_client_cert else 'false'}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it listens on its port.

        A port picked automatically that another process took in the meantime is replaced by a
        new free one (only before the first successful start: a restart keeps its port).
        """
        if self.running:
            raise RuntimeError("mosquitto is already running")
        for _ in range(3):
            try:
                self._start_once(timeout)
            except _PortTaken:
                if not self._auto_port or self._started:
                    raise RuntimeError(
                        f"port {self.port} is taken by another process:\n{self.log()}"
                    ) from None
                self.port = free_port(self.host)
                self._write_config(*self._config)
                continue
            self._started = True
            return
        raise RuntimeError("mosquitto found no free port in 3 attempts")

    def _log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _start_once(self, timeout: float) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        listening = f"listen socket on port {self.port}."
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self._close_pipes()
                if "Address already in use" in self._log_since(offset):
                    raise _PortTaken
                raise RuntimeError(
                    f"mosquitto exited with {self.process.returncode} at start:\n{self.log()}"
                )
            # Our broker has bound the port (the log says so) and accepts connections on it.
            if listening in self._log_since(offset):
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"mosquitto did not listen on {self.host}:{self.port}:\n{self.log()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and check that mosquitto exited cleanly (exit status 0)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
            raise RuntimeError(f"mosquitto ignored SIGTERM for {timeout} s") from None
        finally:
            self._close_pipes()
        if code != 0:
            raise RuntimeError(f"mosquitto exited with {code}:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the broker (a crash: nothing is saved, no clean disconnects)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    @property
    def persistence_file(self) -> Path:
        """Where a ``persistent`` broker saves sessions and queued messages."""
        return self.workdir / "mosquitto.db"

    async def wait_saved(self, since: float, within: float = 5.0) -> None:
        """Wait until a ``persistent`` broker has saved its state at or after ``since`` (Unix
        time), so that a SIGKILL after this loses nothing that happened before ``since``."""
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(FileNotFoundError):
                    if self.persistence_file.stat().st_mtime >= since:
                        return
                await asyncio.sleep(0.05)

    def log(self) -> str:
        """The broker's log file (and anything it wrote to stderr) for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-4000:]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A plain broker (anonymous access) on a free loopback port."""
    broker = MosquittoBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    was_running = broker.running
    broker.stop()
    assert was_running, "the test left the broker dead"


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker with users :data:`AUTH_USERS` and the ACL :data:`DASHBOARD_ACL`."""
    broker = MosquittoBroker(tmp_path / "mosquitto", users=AUTH_USERS, acl=DASHBOARD_ACL)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A CA with server and client certificates, generated for this test."""
    return make_tls_files(tmp_path / "pki")


@pytest.fixture
def mosquitto_tls(tmp_path: Path, tls_files: TlsFiles) -> Iterator[MosquittoBroker]:
    """A TLS broker that requires a client certificate signed by :func:`tls_files`' CA."""
    broker = MosquittoBroker(tmp_path / "mosquitto", tls=tls_files, require_client_cert=True)
    broker.start()
    yield broker
    broker.stop()


__all__ = [
    "AUTH_USERS",
    "DASHBOARD_ACL",
    "MosquittoBroker",
    "TlsFiles",
    "find_mosquitto",
    "free_port",
    "make_tls_files",
    "mosquitto",
    "mosquitto_auth",
    "mosquitto_tls",
    "tls_files",
]
