"""MQTT telemetry publisher with a remote STOP, on aiomqtt.

The session service owns one :class:`MqttPublisher`::

    settings = MqttSettings.from_url(args.mqtt, treadmill_id="tm1", discovery=not args.no_disc)
    async with MqttPublisher(settings, on_command=service.remote_command) as mqtt:
        mqtt.publish_state(StateUpdate(state="running", profile="gentle", ...))
        mqtt.publish_telemetry(TelemetrySample(speed_kmh=1.9, incline_pct=1.0, ...))
        mqtt.publish_event(Event(EventCategory.ALARM, "overspeed", "Belt too fast: stopping"))

``publish_*`` are synchronous and never block: they put the payload into a bounded queue
(telemetry: latest samples, drop-oldest, rate limited; events: kept in order up to
``event_queue_size``, the oldest dropped and counted beyond it; state: the latest only). One
background task connects, reconnects with backoff, publishes ``online`` and the Home Assistant
discovery configs, flushes the queues and receives ``command/#``. An accepted remote ``stop`` or
``pause`` reaches ``on_command`` synchronously in the task that read it from the socket, before it
is logged or answered with an event. Errors never escape the background task: they become
:class:`MqttStatus` (``on_status`` callback and :attr:`MqttPublisher.status`).

Call ``publish_*`` from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.telemetry.discovery import discovery_messages
from retro_treadmill.telemetry.schema import (
    AVAILABILITY_OFFLINE,
    AVAILABILITY_ONLINE,
    CommandRejection,
    Event,
    EventCategory,
    RemoteCommand,
    Severity,
    StateUpdate,
    TelemetrySample,
    Topics,
    encode,
    parse_remote_command,
)
from retro_treadmill.telemetry.settings import MqttConfigError, MqttSettings

_log = logging.getLogger(__name__)

# CONNACK codes that mean "your credentials are not accepted": MQTT 3.1.1 (4, 5) and 5.0 (0x86,
# 0x87, 0x8C bad authentication method).
_AUTH_REFUSED = frozenset({4, 5, 0x86, 0x87, 0x8C})

REJECTIONS_PER_S = 5
"""Most ``remote_command_rejected`` events (and log lines) per second; more are only counted."""


class MqttBrokerError(RetroTreadmillError):
    """The MQTT broker refused us for a reason that retrying will not fix."""


class MqttAuthError(MqttBrokerError):
    """The broker refused the login (CONNACK "not authorised" / "bad user name or password")."""


class MqttTlsError(MqttBrokerError):
    """The TLS handshake failed (certificate not trusted, wrong host name, bad client cert)."""


class MqttConnectionState(StrEnum):
    """Where the publisher's connection is."""

    CONNECTING = "connecting"
    """First attempt under way."""
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    """Broker unreachable or the connection dropped; retrying with backoff."""
    REFUSED = "refused"
    """The broker refused the login or the TLS handshake failed; retrying at the longest backoff."""
    CLOSED = "closed"
    """Closed on purpose."""


@dataclass(frozen=True)
class MqttStatus:
    """A snapshot of the publisher for the UI and the event log."""

    state: MqttConnectionState
    broker: str
    """Broker URL without the password."""
    connects: int = 0
    """Successful connections so far (``connects - 1`` reconnects)."""
    failed_attempts: int = 0
    events_queued: int = 0
    events_published: int = 0
    events_dropped: int = 0
    """Events thrown away because the queue was full while the broker was unreachable."""
    telemetry_published: int = 0
    telemetry_dropped: int = 0
    """Telemetry samples thrown away (queue full: drop-oldest)."""
    telemetry_throttled: int = 0
    """Samples replaced by a newer one within the rate limit (never sent, by design)."""
    commands_accepted: int = 0
    commands_rejected: int = 0
    last_error: str | None = None
    retry_in_s: float | None = None


@dataclass
class _Counters:
    connects: int = 0
    failed_attempts: int = 0
    events_published: int = 0
    events_dropped: int = 0
    events_dropped_unreported: int = 0
    telemetry_published: int = 0
    telemetry_dropped: int = 0
    telemetry_throttled: int = 0
    commands_accepted: int = 0
    commands_rejected: int = 0


def _reason_value(rc: object) -> int | None:
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


def classify_connect_error(exc: BaseException, settings: MqttSettings) -> MqttBrokerError | None:
    """A permanent error (wrong password, TLS failure) as a readable error; ``None`` if a retry may
    help (broker down, timeout, network)."""
    where = f"MQTT broker {settings.redacted_url}"
    if isinstance(exc, MqttConnectError) and _reason_value(exc.rc) in _AUTH_REFUSED:
        who = f"user {settings.username!r}" if settings.username else "anonymous login"
        return MqttAuthError(
            f"{where} refused the login for {who}: not authorised ({exc.rc}). "
            "Check the user name and password in the --mqtt URL or the clinic config."
        )
    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError) or "certificate" in text.lower():
        return MqttTlsError(
            f"{where}: TLS handshake failed ({text}). Check ca_file (the CA that signed the "
            "broker's certificate), the host name in the URL, and cert_file/key_file."
        )
    return None


def _tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None and settings.key_file is not None:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    except (ssl.SSLError, OSError) as exc:
        raise MqttConfigError(
            f"cannot load the TLS files: {exc}", path=settings.source or "MQTT settings"
        ) from None
    return context


class MqttPublisher:
    """Publishes one treadmill's availability, state, telemetry and events; receives commands.

    ``on_command`` gets each accepted :class:`RemoteCommand` (stop/pause) as soon as it is read;
    it must not block (record the intent and return, like ``SessionController.stop``); a coroutine
    function is accepted too and its coroutine is started at once as a task.
    ``on_status`` gets a :class:`MqttStatus` on each connection state change. ``clock`` (monotonic
    seconds) drives the telemetry rate limit and ``RemoteCommand.received_at``; ``wall_clock``
    (Unix time) stamps payloads.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_command: Callable[[RemoteCommand], object] | None = None,
        on_status: Callable[[MqttStatus], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.base_topic)
        self._on_command = on_command
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._on_status = on_status
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = logger or _log
        self._tls = _tls_context(settings)
        self._interval = 1.0 / settings.telemetry_rate_hz

        self._events: deque[bytes] = deque()
        self._telemetry: deque[bytes] = deque(maxlen=settings.telemetry_queue_size)
        self._held_telemetry: bytes | None = None
        self._next_telemetry_at = float("-inf")
        self._state_payload: bytes | None = None
        self._state_dirty = False
        self._seq = 0
        self._wake = asyncio.Event()

        self._state = MqttConnectionState.CONNECTING
        self._counters = _Counters()
        self._last_error: str | None = None
        self._retry_in: float | None = None
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failures = 0
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._fatal: MqttBrokerError | None = None
        self._rejection_window_start = float("-inf")
        self._rejections_in_window = 0
        self._rejections_suppressed = 0
        self._disconnected_since: float | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the background task and wait for the first connection attempt.

        Raises :class:`MqttAuthError` / :class:`MqttTlsError` if the broker refuses the login or
        the TLS handshake (nothing is left running then). An unreachable broker is not an error:
        the publisher keeps retrying in the background and the session goes on.
        """
        if self._task is not None:
            raise RuntimeError("MqttPublisher.start() called twice")
        self._task = asyncio.create_task(self.run(), name=f"mqtt:{self.settings.treadmill_id}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.connect_timeout_s + 1.0):
                await self._first_attempt.wait()
        if self._fatal is not None:
            await self.aclose()
            raise self._fatal

    async def aclose(self, flush_timeout_s: float = 2.0) -> None:
        """Send what is queued (events, the last state and telemetry sample; up to
        ``flush_timeout_s``), publish ``offline``, disconnect. Bounded in time; never raises."""
        if self._closing:
            return
        self._closing = True
        client = self._client
        if client is not None and self._state is MqttConnectionState.CONNECTED:
            if self._held_telemetry is not None:
                self._enqueue_telemetry(self._held_telemetry, self._clock())
                self._idle.clear()
            self._wake.set()
            try:
                async with asyncio.timeout(flush_timeout_s):
                    await self._idle.wait()
                    await client.publish(
                        self.topics.availability, AVAILABILITY_OFFLINE, qos=1, retain=True
                    )
            except (TimeoutError, aiomqtt.MqttError) as exc:
                self._log.warning("MQTT: could not say 'offline' before closing: %s", exc)
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                # The disconnect waits at most connect_timeout_s for the broker's answer.
                async with asyncio.timeout(self.settings.connect_timeout_s + 1.0):
                    await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    raise  # our caller is being cancelled (else: the task's own, as asked)
            except TimeoutError:
                self._log.warning("MQTT: the connection task did not end in time; left to close")
            except Exception:
                self._log.exception("MQTT: the connection task failed while closing")
        self._set_state(MqttConnectionState.CLOSED)

    async def wait_connected(self) -> None:
        """Wait until connected (wrap in ``asyncio.timeout`` to bound the wait)."""
        await self._connected.wait()

    async def wait_idle(self) -> None:
        """Wait until everything queued so far has been sent (events acknowledged by the broker).

        Telemetry held back by the rate limit does not count. Wrap in ``asyncio.timeout``.
        """
        await self._idle.wait()

    # --- publishing (synchronous, non-blocking) ---------------------------------------------------

    def publish_state(self, update: StateUpdate) -> None:
        """Set the retained session state (only the latest is kept while disconnected)."""
        if self._closing:
            return
        payload = update.to_payload(self.settings.treadmill_id, self._wall_clock())
        self._state_payload = encode(payload)
        self._state_dirty = True
        self._idle.clear()
        self._wake.set()

    def publish_telemetry(self, sample: TelemetrySample) -> None:
        """Queue a telemetry sample; at most ``telemetry_rate_hz`` are sent per second.

        A sample inside the rate limit is held and replaced by newer ones; the latest held one goes
        out when the interval has passed, so the last value (e.g. speed 0) is always sent.
        """
        if self._closing:
            return
        payload = encode(sample.to_payload(self.settings.treadmill_id, self._wall_clock()))
        now = self._clock()
        if self._held_telemetry is not None:
            self._counters.telemetry_throttled += 1
        if now >= self._next_telemetry_at:
            self._enqueue_telemetry(payload, now)
        else:
            self._held_telemetry = payload
        self._idle.clear()
        self._wake.set()

    def publish_event(self, event: Event) -> None:
        """Queue an event (QoS 1). Kept in order; beyond ``event_queue_size`` the oldest is dropped
        and counted (and a ``events_dropped`` event tells subscribers after reconnecting)."""
        if self._closing:
            return
        self._seq += 1
        try:
            payload = encode(
                event.to_payload(self.settings.treadmill_id, self._wall_clock(), self._seq)
            )
        except (TypeError, ValueError) as exc:
            self._log.error("MQTT: event %s has data that is not JSON (%s)", event.code, exc)
            bare = Event(event.category, event.code, event.message, event.severity, {})
            payload = encode(
                bare.to_payload(self.settings.treadmill_id, self._wall_clock(), self._seq)
            )
        if len(self._events) >= self.settings.event_queue_size:
            self._events.popleft()
            self._counters.events_dropped += 1
            self._counters.events_dropped_unreported += 1
        self._events.append(payload)
        self._idle.clear()
        self._wake.set()

    def _enqueue_telemetry(self, payload: bytes, now: float) -> None:
        if len(self._telemetry) == self._telemetry.maxlen:
            self._counters.telemetry_dropped += 1
        self._telemetry.append(payload)
        self._held_telemetry = None
        self._next_telemetry_at = now + self._interval

    # --- status -----------------------------------------------------------------------------------

    @property
    def status(self) -> MqttStatus:
        """The current :class:`MqttStatus`."""
        c = self._counters
        return MqttStatus(
            state=self._state,
            broker=self.settings.redacted_url,
            connects=c.connects,
            failed_attempts=c.failed_attempts,
            events_queued=len(self._events),
            events_published=c.events_published,
            events_dropped=c.events_dropped,
            telemetry_published=c.telemetry_published,
            telemetry_dropped=c.telemetry_dropped,
            telemetry_throttled=c.telemetry_throttled,
            commands_accepted=c.commands_accepted,
            commands_rejected=c.commands_rejected,
            last_error=self._last_error,
            retry_in_s=self._retry_in,
        )

    def _set_state(self, state: MqttConnectionState) -> None:
        if state is self._state and state is not MqttConnectionState.RECONNECTING:
            return
        self._state = state
        if self._on_status is not None:
            try:
                self._on_status(self.status)
            except Exception:
                self._log.exception("MQTT: the on_status callback failed")

    # --- the background task ----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff until cancelled. Never raises anything else."""
        while not self._closing:
            fatal: MqttBrokerError | None = None
            try:
                await self._connect_and_serve()
                error = "connection closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fatal = classify_connect_error(_first_leaf(exc), self.settings)
                error = str(fatal) if fatal else _describe(exc)
            finally:
                self._client = None
                self._connected.clear()
            self._failures += 1
            self._counters.failed_attempts += 1
            self._last_error = error
            if self._disconnected_since is None:
                self._disconnected_since = self._clock()
            if fatal is not None and self._counters.connects == 0:
                # The first attempt was refused: tell start() and stop; retrying cannot help.
                self._fatal = fatal
                self._first_attempt.set()
                self._log.error("%s", fatal)
                self._set_state(MqttConnectionState.REFUSED)
                return
            self._first_attempt.set()
            if self._is_closing():
                break
            delay = self._backoff(self._failures, permanent=fatal is not None)
            self._retry_in = delay
            self._set_state(
                MqttConnectionState.REFUSED if fatal else MqttConnectionState.RECONNECTING
            )
            self._log.warning(
                "MQTT %s: %s; retrying in %.2f s", self.settings.redacted_url, error, delay
            )
            await asyncio.sleep(delay)

    def _is_closing(self) -> bool:
        return self._closing

    def _backoff(self, failures: int, *, permanent: bool) -> float:
        s = self.settings
        if permanent:
            return s.reconnect_max_s
        base = min(s.reconnect_max_s, s.reconnect_min_s * 2.0 ** min(30, max(0, failures - 1)))
        return base * random.uniform(0.75, 1.0)

    def _make_client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=f"retro-treadmill-{s.treadmill_id}-{random.getrandbits(32):08x}",
            will=aiomqtt.Will(self.topics.availability, AVAILABILITY_OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=s.connect_timeout_s,
            tls_context=self._tls,
            logger=self._log.getChild("paho"),
            # Small packets (a STOP's PUBACK, events) go out at once, not after a delayed ACK.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def _connect_and_serve(self) -> None:
        if self._first_attempt.is_set():
            self._set_state(MqttConnectionState.RECONNECTING)
        client = self._make_client()
        async with client:
            self._client = client
            # Subscribe before announcing "online": a dashboard that sees us online can stop us.
            await client.subscribe(self.topics.command_filter, qos=1)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client), name="mqtt-receive")
                tg.create_task(self._send(client), name="mqtt-send")

    def _on_connected(self) -> None:
        self._counters.connects += 1
        self._failures = 0
        self._retry_in = None
        self._last_error = None
        self._first_attempt.set()
        down_s = None
        if self._disconnected_since is not None:
            down_s = self._clock() - self._disconnected_since
        self._disconnected_since = None
        self._state_dirty = self._state_payload is not None
        self._connected.set()
        self._set_state(MqttConnectionState.CONNECTED)
        if down_s is None:
            self._log.info("MQTT connected to %s", self.settings.redacted_url)
        else:
            self._log.warning(
                "MQTT reconnected to %s after %.1f s", self.settings.redacted_url, down_s
            )
        self._wake.set()

    async def _send(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.availability, AVAILABILITY_ONLINE, qos=1, retain=True)
        for topic, payload in discovery_messages(self.settings):
            await client.publish(topic, payload, qos=1, retain=True)
        self._on_connected()
        while True:
            self._wake.clear()
            while self._events:
                event = self._events.popleft()
                try:
                    await client.publish(self.topics.event, event, qos=1)
                except BaseException:
                    # Not acknowledged (PUBACK): back to the front, resent after reconnecting.
                    self._events.appendleft(event)
                    raise
                self._counters.events_published += 1
            if self._counters.events_dropped_unreported:
                await self._publish_drop_notice(client)
            if self._state_dirty and self._state_payload is not None:
                self._state_dirty = False
                try:
                    await client.publish(self.topics.state, self._state_payload, qos=1, retain=True)
                except BaseException:
                    self._state_dirty = True
                    raise
            now = self._clock()
            if (
                not self._telemetry
                and self._held_telemetry is not None
                and now >= self._next_telemetry_at
            ):
                self._enqueue_telemetry(self._held_telemetry, now)
            while self._telemetry:
                sample = self._telemetry.popleft()
                try:
                    await client.publish(self.topics.telemetry, sample, qos=0)
                except BaseException:
                    self._counters.telemetry_dropped += 1
                    raise
                self._counters.telemetry_published += 1
            if self._events or (self._state_dirty and self._state_payload is not None):
                continue
            if not self._telemetry:
                self._idle.set()
            timeout = None
            if self._held_telemetry is not None:
                timeout = max(0.0, self._next_telemetry_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("MQTT: the on_command callback failed", exc_info=task.exception())

    async def _publish_drop_notice(self, client: aiomqtt.Client) -> None:
        dropped = self._counters.events_dropped_unreported
        notice = Event(
            EventCategory.MQTT,
            "events_dropped",
            f"{dropped} events before these were dropped: the MQTT queue was full",
            Severity.WARNING,
            {"dropped": dropped, "total_dropped": self._counters.events_dropped},
        )
        self._seq += 1
        body = notice.to_payload(self.settings.treadmill_id, self._wall_clock(), self._seq)
        await client.publish(self.topics.event, encode(body), qos=1)
        self._counters.events_dropped_unreported -= dropped
        self._counters.events_published += 1

    async def _receive(self, client: aiomqtt.Client) -> None:
        prefix = self.topics.command_prefix + "/"
        async for message in client.messages:
            topic = message.topic.value
            if not topic.startswith(prefix):
                continue
            raw = bytes(message.payload or b"")
            self.handle_command(topic[len(prefix) :], raw, retained=bool(message.retain))

    def handle_command(self, name: str, payload: bytes, *, retained: bool = False) -> None:
        """Act on a message on ``command/<name>`` (called by the receive task; public so that
        other transports can feed it). Never raises."""
        result = parse_remote_command(
            name,
            payload,
            retained=retained,
            received_at=self._clock(),
            allow_stop=self.settings.remote_stop,
            allow_pause=self.settings.remote_pause,
        )
        if isinstance(result, CommandRejection):
            self._counters.commands_rejected += 1
            # A flood of junk on command/# must not push real events out of the queue: at most
            # REJECTIONS_PER_S rejection events (and log lines) per second; the rest are counted.
            now = result.received_at
            if now - self._rejection_window_start >= 1.0:
                self._rejection_window_start = now
                self._rejections_in_window = 0
            self._rejections_in_window += 1
            if self._rejections_in_window > REJECTIONS_PER_S:
                self._rejections_suppressed += 1
                return
            suppressed, self._rejections_suppressed = self._rejections_suppressed, 0
            self._log.warning(
                "MQTT: rejected remote command %r from %s: %s",
                result.command,
                result.sender or "unknown sender",
                result.why,
            )
            self.publish_event(
                Event(
                    EventCategory.REMOTE_COMMAND,
                    "remote_command_rejected",
                    f"Remote command {result.command!r} rejected: {result.why}",
                    Severity.WARNING,
                    {
                        "command": result.command,
                        "sender": result.sender,
                        "why": result.why,
                        "suppressed_before": suppressed,
                    },
                )
            )
            return
        delivered = True
        if self._on_command is not None:
            try:
                outcome = self._on_command(result)
                if inspect.isawaitable(outcome):
                    # An async callback: run it now rather than drop an unawaited coroutine.
                    task = asyncio.ensure_future(outcome)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_done)
            except Exception:
                delivered = False
                self._log.exception("MQTT: the on_command callback failed for %s", result)
        self._counters.commands_accepted += 1
        self._log.warning("MQTT: remote %s from %s: %s", result.kind, result.sender, result.reason)
        self.publish_event(
            Event(
                EventCategory.REMOTE_COMMAND,
                "remote_command_accepted" if delivered else "remote_command_failed",
                f"Remote {result.kind} from {result.sender}: {result.reason}",
                Severity.WARNING if delivered else Severity.CRITICAL,
                {
                    "command": result.kind,
                    "sender": result.sender,
                    "reason": result.reason,
                    "payload_problem": result.payload_problem,
                },
            )
        )


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    leaf = _first_leaf(exc)
    text = str(leaf) or type(leaf).__name__
    cause = leaf.__cause__
    if cause is not None and str(cause):
        text = f"{text} ({cause})"
    return text


__all__ = [
    "MqttAuthError",
    "MqttBrokerError",
    "MqttConnectionState",
    "MqttPublisher",
    "MqttStatus",
    "MqttTlsError",
    "classify_connect_error",
]
