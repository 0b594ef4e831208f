"""The Textual app: a view over the session service, with STOP on every screen.

State flows down (``SessionSnapshot`` from :meth:`SessionController.snapshots`, consumed in a
worker); intents flow up (the controller's methods). The app never decides anything about the belt:
the service and its safety governor do. It fails closed: an unhandled exception anywhere in the UI,
and leaving the UI for any reason, calls ``controller.stop(...)`` first.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from rich.console import RenderableType
from textual import events, on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from retro_treadmill.errors import RetroTreadmillError
from retro_treadmill.records.paths import database_path
from retro_treadmill.screening import Screening, spotter_reason
from retro_treadmill.tui.history import History
from retro_treadmill.tui.keys import STOP_BINDING_KEYS, both_cases, is_stop_key
from retro_treadmill.tui.model import (
    DeviceInfo,
    DeviceScanner,
    ProfileInfo,
    ProfileSource,
    SessionController,
    SessionSnapshot,
    SessionState,
    StopSource,
)
from retro_treadmill.tui.screens import (
    AlarmScreen,
    ConnectingScreen,
    CountdownScreen,
    DeviceScreen,
    PreflightScreen,
    ProfileScreen,
    RetroScreen,
    ScreeningScreen,
    SessionScreen,
)
from retro_treadmill.tui.screens.rating import RatingScreen
from retro_treadmill.tui.screens.records import HistoryScreen
from retro_treadmill.tui.walker import WalkerInfo
from retro_treadmill.tui.widgets.stopbar import StopBar
from retro_treadmill.units import SpeedUnit

# States in which the display must keep up with a moving (or about to move) belt.
_LIVE_STATES = frozenset(
    {SessionState.COUNTDOWN, SessionState.RUNNING, SessionState.PAUSED, SessionState.STOPPING}
)
STOP_PAINT_HOLD_S = 0.01
"""After a stop key the app paints nothing for this long: a paint takes milliseconds and cannot
be interrupted, and the Stop write needs a few event-loop turns to leave (bleak, bumble, the link).
Ten milliseconds of frozen screen are invisible; a paint in the Stop's way tripled its p99."""
STOP_YIELDS = 20
"""Event-loop turns the app gives away after a stop before it paints: enough for the write to
pass the FTMS client, bleak and the link (measured on the virtual link: a handful)."""

_SESSION_STATES = frozenset(
    {
        SessionState.RUNNING,
        SessionState.PAUSED,
        SessionState.STOPPING,
        SessionState.FINISHED,
        SessionState.ALARM,
    }
)


class RetroTreadmillApp(App[None]):
    """The retro-treadmill terminal UI.

    ``devices`` are always listed (e.g. :data:`~retro_treadmill.tui.model.VIRTUAL_TREADMILL`),
    ``scanner`` adds scan results. ``device``/``profile`` preselect (``run --device/--profile``):
    with both, the app connects at once. ``units`` is the display unit before the first snapshot
    (afterwards ``SessionSnapshot.units`` rules). When no snapshot arrives for ``stale_after_s``
    (``clock`` seconds) during a session, every screen says the display is stale. Snapshots are
    drawn at most once per ``redraw_interval_s`` (the controller's stream conflates, so the newest
    is drawn): 4 a second by default, as the headless console, because the service publishes at
    10 Hz (faster still under ``--time-scale``), faster than anyone reads, and painting less
    leaves the event loop (and a Raspberry Pi's CPU) to the treadmill. Keys are not paced by it:
    STOP acts at once.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it
    TITLE = "retro-treadmill"
    ENABLE_COMMAND_PALETTE = False
    ESCAPE_TO_MINIMIZE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # The stop keys act in post_message, before the app's queue; this binding (priority: no
        # widget may swallow them) serves keys that arrive any other way (simulate_key).
        Binding(STOP_BINDING_KEYS, "stop", "STOP", priority=True, show=False),
        Binding(both_cases("q"), "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        controller: SessionController,
        *,
        devices: Sequence[DeviceInfo] = (),
        scanner: DeviceScanner | None = None,
        profiles: ProfileSource = (),
        units: SpeedUnit = "mph",
        device: DeviceInfo | None = None,
        profile: ProfileInfo | None = None,
        alarm_bell_interval_s: float = 5.0,
        stale_after_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        redraw_interval_s: float = 0.25,
        records_path: Path | None = None,
        walker: WalkerInfo | None = None,
        rate_session: str | None = None,
        screening_needed: bool = False,
        spotter_reason: str = "",
        on_screening: Callable[[Screening], str] | None = None,
        on_screening_kept: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.walker = walker
        """``run --walker``: shown on the profile screen (stage) and the preflight (caps)."""
        self.rate_session = rate_session
        """The recorded session whose rating form follows its summary (``run --walker``)."""
        self._rating_offered = False
        self.screening_needed = screening_needed
        """No screening on record: the screening form comes before the preflight."""
        self.spotter_reason = spotter_reason
        """Why the preflight's spotter item is required (``""``: not required)."""
        self.on_screening = on_screening
        """Keeps the answers and returns the new spotter reason (blocking IO: run in a thread,
        so it must not touch what the event loop reads)."""
        self.on_screening_kept = on_screening_kept
        """Applies the new spotter reason (the service's required items), on the event loop."""
        self.records_path = records_path
        """The session store the history screen reads (``None``: the default location)."""
        self.controller = controller
        self.devices = tuple(devices)
        self.scanner = scanner
        self.profile_source = profiles
        self.units: SpeedUnit = units
        self.device = device
        self.profile = profile
        self.alarm_bell_interval_s = alarm_bell_interval_s
        self.stale_after_s = stale_after_s
        self.redraw_interval_s = redraw_interval_s
        self.clock = clock
        self._last_snapshot_at = clock()
        self.snapshot = SessionSnapshot(units=units)
        self.history = History()
        self.stops_requested = 0
        self._base: RetroScreen | None = None
        self._alarm_screen: AlarmScreen | None = None
        self._bell_seq: int | None = None
        self._rejection_seq: int | None = None
        self._message = ""
        self._leaving = False
        self._stopped_on_exit = False
        self._ui_context: contextvars.Context | None = None

    # -- fail closed -------------------------------------------------------------------------

    def post_message(self, message: Message) -> bool:
        """A stop key stops the belt here, as the terminal driver hands the key to the app, not
        when the app's message queue reaches it: the queue may be behind a paint or a slow
        handler. The key itself is not queued (its binding would stop a second time); the
        screen is told afterwards."""
        if not (isinstance(message, events.Key) and is_stop_key(message.key)):
            return super().post_message(message)
        loop = self._loop
        if threading.get_ident() == self._thread_id or loop is None:
            self._stop_key()
        else:  # from another thread: on the loop at its next turn, still ahead of the queue
            loop.call_soon_threadsafe(self._stop_key)
        return super().post_message(self.StopKeyed())

    def _stop_key(self) -> None:
        # The driver's task runs outside the app's context (Textual's timers need it).
        context = self._ui_context
        if context is None:  # not mounted yet: nothing painted, no paint to hold
            self._stop_now()
        else:
            context.copy().run(self._stop_now)

    class StopKeyed(Message):
        """A stop key was pressed; the belt's Stop is already on its way."""

    async def on_retro_treadmill_app_stop_keyed(self, _: StopKeyed) -> None:
        await self._show_stop_sent()

    async def action_stop(self) -> None:
        """STOP (the STOP bar, a key from :meth:`simulate_key`): to the controller at once."""
        self._stop_now()
        await self._show_stop_sent()

    def _stop_source(self) -> StopSource:
        return StopSource.ALARM_SCREEN if self._alarm_screen is not None else StopSource.KEYBOARD

    def _stop_now(self) -> None:
        self.stops_requested += 1
        self._fail_closed(self._stop_source())
        if self._ui_context is not None and not self.leaving:
            self.delay_update(STOP_PAINT_HOLD_S)

    async def _show_stop_sent(self) -> None:
        """Give the event loop to the Stop write before the UI paints anything (a paint takes
        milliseconds, and the app's message pump would run it before the write task's turn)."""
        for _ in range(STOP_YIELDS):
            await asyncio.sleep(0)
        if self.leaving:
            return
        for bar in self.screen.query(StopBar):
            bar.mark_sent()

    async def on_stop_bar_pressed(self, _: StopBar.Pressed) -> None:
        """A click on the STOP bar."""
        await self.action_stop()

    def _fail_closed(self, source: StopSource) -> None:
        try:
            self.controller.stop(source)
        except Exception as exc:  # the stop path must not hide the original error
            self.log.error(f"controller.stop({source}) raised {exc!r}")

    def _handle_exception(self, error: Exception) -> None:
        # Textual routes every unhandled exception (event handlers, render, workers with
        # exit_on_error) here before it tears the app down: stop the belt first.
        self._fail_closed(StopSource.UI_EXCEPTION)
        super()._handle_exception(error)

    def exit(
        self, result: None = None, return_code: int = 0, message: RenderableType | None = None
    ) -> None:
        """Leave the app: from here on snapshots are no longer drawn (the screens are going)."""
        self._leaving = True
        super().exit(result, return_code, message)

    @property
    def leaving(self) -> bool:
        """The app is shutting down (an exit, an unhandled exception, or a shutdown from outside
        such as ``run_test`` ending): its screens may already be half torn down."""
        return self._leaving or not self.is_running or self._closing or self._closed

    async def action_quit(self) -> None:
        """Quit: stop the belt, then leave."""
        self._fail_closed(StopSource.UI_EXIT)
        self.exit()

    def on_unmount(self) -> None:
        """Leaving the UI for any reason stops the belt."""
        self._fail_closed(StopSource.UI_EXIT)

    # -- snapshots -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        """First screen, then follow the service's snapshots in a worker."""
        self._ui_context = contextvars.copy_context()
        if self.device is not None and self.profile is not None:
            self._connect(self.device, self.profile)
        elif self.device is not None:
            self._switch_base(self._profile_screen())
        else:
            self._switch_base(DeviceScreen(self.devices, self.scanner))
        self._follow_snapshots()
        self.set_interval(0.5, self.check_stale)

    @work(name="snapshots", group="snapshots", exclusive=True, exit_on_error=True)
    async def _follow_snapshots(self) -> None:
        async for snapshot in self.controller.snapshots():
            if self.leaving:
                return
            self.apply_snapshot(snapshot)
            if self.redraw_interval_s > 0:
                await asyncio.sleep(self.redraw_interval_s)
        # The service closed the stream: it has shut down.
        self._fail_closed(StopSource.UI_EXIT)
        self.exit()

    def apply_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Show ``snapshot``: pick the screen for its state, redraw, raise or clear the alarm."""
        if self.leaving:
            return
        self.snapshot = snapshot
        self._last_snapshot_at = self.clock()
        self.history.record(snapshot)
        self._route(snapshot.state)
        if self._base is not None:
            self._base.show(snapshot)
            self._sync_notice(snapshot, self._base)
        self._sync_alarm(snapshot)
        self._offer_rating(snapshot)

    def _offer_rating(self, snapshot: SessionSnapshot) -> None:
        """Once the summary shows (the belt has stopped), the rating form goes over it, once."""
        if self.rate_session is None or self._rating_offered or not snapshot.summary:
            return
        if self._alarm_screen is not None:
            return  # the alarm first; the form follows once it is acknowledged
        self._rating_offered = True
        path = self.records_path if self.records_path is not None else database_path()
        form = RatingScreen(self.rate_session, path=path)

        def done(_rating: object) -> None:
            def close() -> None:
                if self.screen is form:
                    form.dismiss()

            self.set_timer(1.5, close)  # long enough to read "Saved: ..."

        form.on_done = done
        self.push_screen(form)

    def _sync_notice(self, snapshot: SessionSnapshot, screen: RetroScreen) -> None:
        # A refusal shows once, when its seq is new (on whichever screen is up); a service
        # message shows when it changes.
        rejection = snapshot.last_rejection
        if rejection is not None and rejection.seq != self._rejection_seq:
            self._rejection_seq = rejection.seq
            screen.post_notice(f"✗ Refused: {rejection.request}: {rejection.reason}", refusal=True)
        elif snapshot.message and snapshot.message != self._message:
            screen.post_notice(snapshot.message)
        self._message = snapshot.message

    def check_stale(self) -> None:
        """Say so on screen when the session is live and snapshots stopped coming."""
        if self.leaving:
            return
        age = self.clock() - self._last_snapshot_at
        stale = self.snapshot.state in _LIVE_STATES and age > self.stale_after_s
        if self._base is not None and (stale or self._base.stale_s is not None):
            self._base.set_stale(age if stale else None)

    def _route(self, state: SessionState) -> None:
        base = self._base
        if state is SessionState.PREFLIGHT:
            if not isinstance(base, PreflightScreen | ScreeningScreen):
                self._switch_base(self._preflight_screen(self.profile))
        elif state is SessionState.COUNTDOWN:
            if not isinstance(base, CountdownScreen):
                self._switch_base(CountdownScreen())
        elif state in _SESSION_STATES and not isinstance(base, SessionScreen):
            self._switch_base(SessionScreen(self.controller, self.history))

    def _switch_base(self, screen: RetroScreen) -> None:
        if self._alarm_screen is not None:
            self._alarm_screen.dismiss()
            self._alarm_screen = None
        if self._base is None:
            self.push_screen(screen)
        else:
            self.switch_screen(screen)
        self._base = screen
        screen.show(self.snapshot)
        if self.snapshot.alarm is not None:
            self._sync_alarm(self.snapshot)

    def _sync_alarm(self, snapshot: SessionSnapshot) -> None:
        alarm = snapshot.alarm
        if alarm is None:
            if self._alarm_screen is not None:
                self._alarm_screen.dismiss()
                self._alarm_screen = None
            return
        if alarm.seq != self._bell_seq:
            self._bell_seq = alarm.seq
            self.bell()
        if self._alarm_screen is None:
            self._alarm_screen = AlarmScreen(alarm, self.controller, self.alarm_bell_interval_s)
            self.push_screen(self._alarm_screen)
        else:
            self._alarm_screen.show(alarm)

    # -- selection and preflight ---------------------------------------------------------------

    def _profile_screen(self) -> ProfileScreen:
        source = self.profile_source
        profiles = source() if callable(source) else source
        name = self.device.name if self.device is not None else ""
        stage = self.walker.stage_line if self.walker is not None else None
        return ProfileScreen(profiles, self.units, name, stage=stage)

    def _walker_caps(self) -> str | None:
        return self.walker.caps_line if self.walker is not None else None

    def on_device_screen_chosen(self, message: DeviceScreen.Chosen) -> None:
        """Device chosen: choose a profile next (or connect if one was preselected)."""
        self.device = message.device
        if self.profile is not None:
            self._connect(message.device, self.profile)
        else:
            self._switch_base(self._profile_screen())

    def on_device_screen_strap_chosen(self, message: DeviceScreen.StrapChosen) -> None:
        """A heart-rate strap chosen: the service connects it with the treadmill."""
        choose = getattr(self.controller, "choose_strap", None)
        if callable(choose):
            choose(message.device)

    def on_profile_screen_back(self, _: ProfileScreen.Back) -> None:
        """Back to the treadmill list."""
        self._switch_base(DeviceScreen(self.devices, self.scanner))

    def on_profile_screen_history_requested(self, _: ProfileScreen.HistoryRequested) -> None:
        """H on the profile screen: the history, over the profiles (B goes back)."""
        path = self.records_path if self.records_path is not None else database_path()
        self.push_screen(HistoryScreen(path, self.units))

    def on_profile_screen_chosen(self, message: ProfileScreen.Chosen) -> None:
        """Profile chosen: connect."""
        self.profile = message.profile
        if self.device is not None:
            self._connect(self.device, message.profile)

    def _connect(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        self._switch_base(ConnectingScreen(device, profile))
        self._prepare(device, profile)

    @work(name="prepare", group="prepare", exclusive=True, exit_on_error=True)
    async def _prepare(self, device: DeviceInfo, profile: ProfileInfo) -> None:
        try:
            await self.controller.prepare(device, profile)
        except RetroTreadmillError as exc:
            self._switch_base(
                DeviceScreen(self.devices, self.scanner, error=f"{device.name}: {exc}")
            )
            return
        if isinstance(self._base, ConnectingScreen):
            self._switch_base(self._preflight_screen(profile))

    def _preflight_screen(self, profile: ProfileInfo | None) -> RetroScreen:
        """The screening form first when this machine was never screened, else the preflight
        (with the treadmill's speeds once known, the walker's caps and the spotter item)."""
        if self.screening_needed:
            return ScreeningScreen()
        snap = self.snapshot
        return PreflightScreen(
            profile,
            snap.speed_plan,
            snap.units,
            walker=self._walker_caps(),
            spotter_reason=self.spotter_reason,
        )

    @on(ScreeningScreen.Answered)
    def _screened(self, message: ScreeningScreen.Answered) -> None:
        self._keep_screening(message.screening)

    @work(name="screening", group="screening", exclusive=True, exit_on_error=True)
    async def _keep_screening(self, screening: Screening) -> None:
        if self.on_screening is not None:
            reason = await asyncio.to_thread(self.on_screening, screening)
        else:
            reason = spotter_reason(screening, require_spotter=False)
        if self.on_screening_kept is not None:
            self.on_screening_kept(reason)  # on the loop, like the service's start()
        self.screening_needed = False
        self.spotter_reason = reason
        if isinstance(self._base, ScreeningScreen):
            self._switch_base(self._preflight_screen(self.profile))

    def on_preflight_screen_start_requested(self, message: PreflightScreen.StartRequested) -> None:
        """Every item ticked and Start pressed: the service starts the countdown."""
        self.controller.start(message.checklist)


async def run_app(
    controller: SessionController,
    *,
    headless: bool = False,
    size: tuple[int, int] | None = None,
    devices: Sequence[DeviceInfo] = (),
    scanner: DeviceScanner | None = None,
    profiles: ProfileSource = (),
    units: SpeedUnit = "mph",
    device: DeviceInfo | None = None,
    profile: ProfileInfo | None = None,
    records_path: Path | None = None,
) -> RetroTreadmillApp:
    """Run the UI until it exits; the belt is stopped on the way out whatever happens.

    ``headless``/``size`` run it without a terminal (tests, benches). Returns the app (its
    ``return_code`` is non-zero after an unhandled exception).
    """
    app = RetroTreadmillApp(
        controller,
        devices=devices,
        scanner=scanner,
        profiles=profiles,
        units=units,
        device=device,
        profile=profile,
        records_path=records_path,
    )
    try:
        await app.run_async(headless=headless, size=size)
    finally:
        controller.stop(StopSource.UI_EXIT)
    return app


__all__ = ["RetroTreadmillApp", "run_app"]
