"""Pilot tests: keys become intents, snapshots become what the screen shows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from textual import events
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, OptionList, ProgressBar, Static
from textual.worker import WorkerFailed

from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import (
    VIRTUAL_TREADMILL,
    Alarm,
    AlarmKind,
    LinkStatus,
    MqttStatus,
    Rejection,
    SessionSnapshot,
    SessionState,
    StopSource,
)
from retro_treadmill.tui.screens import (
    AlarmScreen,
    CountdownScreen,
    DeviceScreen,
    PreflightScreen,
    ProfileScreen,
    SessionScreen,
)
from retro_treadmill.tui.widgets.bignumber import BigNumber
from retro_treadmill.tui.widgets.plot import Plot
from retro_treadmill.units import mph_to_kmh
from tests.tui.fakes import PROFILES, RUNNING, SCANNED, FakeController, preflight

MakeApp = Callable[..., RetroTreadmillApp]


def screen_of(app: RetroTreadmillApp) -> Screen[object]:
    """The active screen (a call, so that type narrowing does not stick between checks)."""
    return app.screen


def start_disabled(app: RetroTreadmillApp) -> bool:
    return app.screen.query_one("#start", Button).disabled


def text(app: RetroTreadmillApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def show(pilot: Pilot[None], controller: FakeController, snapshot: SessionSnapshot) -> None:
    controller.push(snapshot)
    await pilot.pause()


async def test_select_treadmill_and_profile_tick_checklist_and_start(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(screen_of(app), DeviceScreen)
        await pilot.press("enter")
        assert isinstance(screen_of(app), ProfileScreen)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert controller.intents[0] == ("prepare", VIRTUAL_TREADMILL, PROFILES[1])
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PreflightScreen)

        await pilot.press("g", "1", "2", "3", "g")
        assert start_disabled(app)
        assert "start" not in controller.names()
        assert "1 item(s) not ticked" in text(app, "#preflight-status")

        await pilot.press("4")
        assert not start_disabled(app)
        await pilot.press("g", "g")
        starts = [i for i in controller.intents if i[0] == "start"]
        assert len(starts) == 1
        assert len(starts[0][1]) == 4
        assert "harness" in starts[0][1][3]

        await show(pilot, controller, preflight(state=SessionState.COUNTDOWN, countdown_s=4.2))
        assert isinstance(screen_of(app), CountdownScreen)
        assert app.screen.query_one(BigNumber).value == "5"

        await show(pilot, controller, RUNNING)
        assert isinstance(screen_of(app), SessionScreen)
        assert app.screen.query_one("#speed", BigNumber).value == "1.2"


async def test_unticking_an_item_disables_start_again(make_app: MakeApp) -> None:
    app = make_app(device=VIRTUAL_TREADMILL, profile=PROFILES[0])
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        assert isinstance(screen_of(app), PreflightScreen)
        await pilot.press("1", "2", "3", "4")
        assert not app.screen.query_one("#start", Button).disabled
        await pilot.press("2")
        assert app.screen.query_one("#start", Button).disabled


async def test_scan_results_are_listed_after_the_virtual_treadmill(
    make_app: MakeApp, controller: FakeController
) -> None:
    async def scan() -> tuple[object, ...]:
        return SCANNED

    app = make_app(scanner=scan)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0].startswith("Virtual treadmill")
        assert labels[1] == "URBAN-E1L  C4:7F:0E:11:22:33  -58 dBm"
        await pilot.press("down", "enter", "enter")
        await pilot.pause()
        assert controller.intents[0][1] == SCANNED[0]


async def test_connect_failure_returns_to_device_list_with_the_reason(make_app: MakeApp) -> None:
    controller = FakeController(prepare_error="no response to Request Control")
    app = RetroTreadmillApp(
        controller, devices=[VIRTUAL_TREADMILL], profiles=PROFILES, redraw_interval_s=0.0
    )
    async with app.run_test() as pilot:
        await pilot.press("enter", "enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(screen_of(app), DeviceScreen)
        assert "no response to Request Control" in text(app, "#scan-status")


async def test_clicking_the_stop_bar_stops(make_app: MakeApp, controller: FakeController) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.click("#stop-bar")
        assert controller.stops() == [StopSource.KEYBOARD]


async def test_session_screen_shows_the_snapshot(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, controller, replace(RUNNING, target_speed_kmh=mph_to_kmh(1.3)))
        screen = app.screen
        assert screen.query_one("#speed", BigNumber).value == "1.2"
        assert screen.query_one("#incline", BigNumber).value == "2.5"
        assert text(app, "#speed-target") == "target 1.3 mph"
        assert text(app, "#incline-target") == "target 2.5 %"
        times = text(app, "#times")
        assert "Elapsed 3:12" in times
        assert "Remaining 6:48" in times
        assert "Distance 0.06 mi" in times
        assert screen.query_one("#hr", BigNumber).value == "98"  # the heart-rate panel
        assert text(app, "#prompt") == "▶ walk backwards, hold the rails"
        assert "Segment 2/4 ramp (backward)" in text(app, "#state-line")
        assert screen.query_one(ProgressBar).progress == pytest.approx(0.32)
        status = text(app, "#status-line")
        assert "Link ✓ connected" in status
        assert "Control ✓ granted" in status
        assert "MQTT off" in status

        await show(
            pilot,
            controller,
            replace(
                RUNNING,
                units="kmh",
                heart_rate_bpm=None,
                link=LinkStatus.RECONNECTING,
                mqtt=MqttStatus.CONNECTED,
            ),
        )
        assert screen.query_one("#speed", BigNumber).value == "1.9"
        assert text(app, "#speed-title") == "SPEED km/h"
        assert screen.query_one("#hr", BigNumber).value == "--"
        assert "Distance 103 m" in text(app, "#times")
        status_line = screen.query_one("#status-line", Static)
        assert "Link ✗ reconnecting" in str(status_line.content)
        assert "MQTT ✓ connected" in str(status_line.content)
        assert status_line.has_class("-bad")


async def test_plots_sample_once_per_session_second(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        for tenth in range(31):  # 3 s of telemetry at 10 Hz
            speed = mph_to_kmh(1.0 + tenth / 100)
            controller.push(replace(RUNNING, elapsed_s=tenth / 10, speed_kmh=speed))
        await pilot.pause()
        await pilot.pause()
        assert list(app.history.speed_kmh) == pytest.approx(
            [mph_to_kmh(1.0), mph_to_kmh(1.1), mph_to_kmh(1.2), mph_to_kmh(1.3)]
        )
        plot = app.screen.query_one("#trend-speed Plot", Plot)
        assert plot.data == list(app.history.speed_kmh)


async def test_pause_and_resume_only_after_standstill(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press("r")
        assert controller.names() == []
        await pilot.press("p")
        assert controller.names() == ["pause"]

        await show(pilot, controller, replace(RUNNING, state=SessionState.PAUSED))
        await pilot.press("r")
        assert controller.names() == ["pause"]
        assert "once the belt has stopped" in text(app, "#notice")
        assert "belt slowing down" in text(app, "#state-line")

        paused = replace(RUNNING, state=SessionState.PAUSED, standstill=True, speed_kmh=0.0)
        await show(pilot, controller, paused)
        assert "R to resume" in text(app, "#state-line")
        await pilot.press("p", "plus")
        assert controller.names() == ["pause"]
        await pilot.press("r")
        assert controller.names() == ["pause", "resume"]


async def test_speed_and_incline_keys_ask_the_controller_and_show_refusals(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press("plus", "minus", "right_square_bracket", "left_square_bracket")
        assert controller.intents == [
            ("adjust_speed", pytest.approx(mph_to_kmh(0.1))),
            ("adjust_speed", pytest.approx(-mph_to_kmh(0.1))),
            ("adjust_incline", 0.5),
            ("adjust_incline", -0.5),
        ]
        refused = Rejection("speed +0.1 mph", "1.6 mph exceeds the cap 1.5 mph", seq=1)
        await show(pilot, controller, replace(RUNNING, last_rejection=refused))
        assert text(app, "#notice") == (
            "✗ Refused: speed +0.1 mph: 1.6 mph exceeds the cap 1.5 mph"
        )

        controller.intents.clear()
        await show(pilot, controller, replace(RUNNING, units="kmh", last_rejection=refused))
        await pilot.press("plus")
        assert controller.intents == [("adjust_speed", pytest.approx(0.1))]


ALARMS = [
    (AlarmKind.LINK_LOSS, "LINK TO THE TREADMILL LOST"),
    (AlarmKind.UNIT_MISMATCH, "UNIT MISMATCH"),
    (AlarmKind.OVERSPEED, "OVERSPEED"),
    (AlarmKind.STOP_NOT_CONFIRMED, "PULL THE SAFETY KEY"),
    (AlarmKind.SAFETY_KEY, "SAFETY KEY PULLED"),
    (AlarmKind.CONTROL_LOST, "CONTROL OF THE TREADMILL LOST"),
]


@pytest.mark.parametrize(("kind", "headline"), ALARMS)
async def test_each_alarm_is_full_screen_with_a_bell_until_cleared(
    make_app: MakeApp, controller: FakeController, kind: AlarmKind, headline: str
) -> None:
    app = make_app()
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, controller, RUNNING)
        alarm = Alarm(kind, "the service's sentence", seq=7)
        await show(pilot, controller, replace(RUNNING, state=SessionState.ALARM, alarm=alarm))
        assert isinstance(screen_of(app), AlarmScreen)
        assert headline in text(app, "#alarm-headline")
        assert text(app, "#alarm-message") == "the service's sentence"
        assert bells == [1]
        await show(pilot, controller, replace(RUNNING, state=SessionState.ALARM, alarm=alarm))
        assert bells == [1]  # one bell per alarm, not per snapshot

        await pilot.press("a")
        assert controller.names() == ["acknowledge_alarm"]
        await show(pilot, controller, replace(RUNNING, state=SessionState.FINISHED))
        assert isinstance(screen_of(app), SessionScreen)
        assert "FINISHED" in text(app, "#state-line")


async def test_alarm_cannot_be_acknowledged_while_the_service_forbids_it(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        alarm = Alarm(
            AlarmKind.STOP_NOT_CONFIRMED,
            "belt at 2.1 km/h 10 s after Stop",
            seq=1,
            acknowledgeable=False,
        )
        await show(pilot, controller, replace(RUNNING, state=SessionState.ALARM, alarm=alarm))
        await pilot.press("a", "enter")
        assert controller.names() == []
        assert "once the belt has stopped" in text(app, "#alarm-keys")


async def test_alarm_during_countdown_moves_to_the_session_screen_under_the_alarm(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, preflight(state=SessionState.COUNTDOWN, countdown_s=2))
        alarm = Alarm(AlarmKind.LINK_LOSS, "link lost", seq=1)
        await show(pilot, controller, preflight(state=SessionState.ALARM, alarm=alarm))
        await pilot.pause()
        assert isinstance(screen_of(app), AlarmScreen)
        assert isinstance(app.screen_stack[-2], SessionScreen)


class Boom(Widget):
    def render(self) -> str:
        raise RuntimeError("widget bug")


async def test_an_exception_in_a_widget_stops_the_belt(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()

    async def session_with_a_broken_widget() -> None:
        async with app.run_test() as pilot:
            await show(pilot, controller, RUNNING)
            await app.screen.mount(Boom())
            await pilot.pause()

    with pytest.raises(RuntimeError, match="widget bug"):
        await session_with_a_broken_widget()
    assert controller.stops()[0] is StopSource.UI_EXCEPTION
    assert app.return_code == 1


async def test_an_exception_in_a_key_handler_stops_the_belt(
    make_app: MakeApp, controller: FakeController
) -> None:
    def broken_pause() -> None:
        raise ValueError("pause bug")

    controller.pause = broken_pause  # type: ignore[method-assign]
    app = make_app()

    async def press_pause() -> None:
        async with app.run_test() as pilot:
            await show(pilot, controller, RUNNING)
            await pilot.press("p")
            await pilot.pause()

    with pytest.raises(ValueError, match="pause bug"):
        await press_pause()
    assert controller.stops()[0] is StopSource.UI_EXCEPTION


async def test_quitting_stops_the_belt(make_app: MakeApp, controller: FakeController) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press("q")
        await pilot.pause()
    assert controller.stops()[0] is StopSource.UI_EXIT
    assert not app.is_running


async def test_the_app_leaves_when_the_service_ends_the_stream(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, replace(RUNNING, state=SessionState.FINISHED))
        controller.push(None)
        await pilot.pause()
        await pilot.pause()
    assert StopSource.UI_EXIT in controller.stops()
    assert not app.is_running


async def test_preselected_device_and_profile_connect_at_once(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app(device=VIRTUAL_TREADMILL, profile=PROFILES[1])
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        assert controller.intents == [("prepare", VIRTUAL_TREADMILL, PROFILES[1])]
        screen = screen_of(app)
        assert isinstance(screen, PreflightScreen)
        assert "this profile requires one" in screen.items[3]


async def test_a_stalled_snapshot_stream_marks_the_display_stale(
    controller: FakeController,
) -> None:
    now = [100.0]
    app = RetroTreadmillApp(
        controller, devices=[VIRTUAL_TREADMILL], clock=lambda: now[0], redraw_interval_s=0.0
    )
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        now[0] += 1.5
        app.check_stale()
        assert "NO UPDATE" not in text(app, "#status-line")
        now[0] += 1.5
        app.check_stale()
        await pilot.pause()
        assert text(app, "#status-line").startswith("⚠ NO UPDATE FOR 3 s")
        assert app.screen.query_one("#status-line").has_class("-bad")
        await show(pilot, controller, RUNNING)
        assert "NO UPDATE" not in text(app, "#status-line")
        now[0] += 10
        await show(pilot, controller, replace(RUNNING, state=SessionState.FINISHED))
        now[0] += 10
        app.check_stale()
        assert "NO UPDATE" not in text(app, "#status-line")  # nothing live to be stale about


async def test_a_refused_start_shows_why_and_start_can_be_pressed_again(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, preflight())
        await pilot.press("1", "2", "3", "4", "g", "g")
        assert controller.names() == ["start"]
        refused = Rejection("start", "the link to the treadmill is down", seq=3)
        await show(pilot, controller, preflight(last_rejection=refused))
        assert "the link to the treadmill is down" in text(app, "#preflight-status")
        assert not start_disabled(app)
        await pilot.press("g")
        assert controller.names() == ["start", "start"]


async def test_a_refusal_after_resume_and_a_new_countdown_is_not_shown_again(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        refused = Rejection("speed +0.1 mph", "1.6 mph exceeds the cap 1.5 mph", seq=1)
        await show(pilot, controller, replace(RUNNING, last_rejection=refused))
        assert text(app, "#notice").startswith("✗ Refused")
        await show(pilot, controller, preflight(state=SessionState.COUNTDOWN, countdown_s=2))
        await show(pilot, controller, replace(RUNNING, last_rejection=refused, message="Resumed"))
        assert text(app, "#notice") == "Resumed"


async def test_ctrl_c_is_a_stop_too(make_app: MakeApp, controller: FakeController) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press("ctrl+c")
        assert controller.stops() == [StopSource.KEYBOARD]
        assert app.is_running


class Firehose(FakeController):
    """Publishes a new snapshot at every turn of the event loop, for ever."""

    async def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        tenth = 0
        while True:
            tenth += 1
            alarm = Alarm(AlarmKind.SAFETY_KEY, "safety key", seq=1) if tenth > 20 else None
            yield replace(RUNNING, elapsed_s=tenth / 10, alarm=alarm)
            await asyncio.sleep(0)


@pytest.mark.parametrize("quit_key", [True, False])
async def test_snapshots_arriving_while_the_app_quits_are_not_drawn(quit_key: bool) -> None:
    controller = Firehose()
    app = RetroTreadmillApp(controller, devices=[VIRTUAL_TREADMILL], redraw_interval_s=0.0)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        assert isinstance(screen_of(app), AlarmScreen)
        if quit_key:  # else the app is shut down from outside (as run_test ends)
            await pilot.press("q")
    assert not app.return_code
    assert StopSource.UI_EXCEPTION not in controller.stops()
    assert controller.stops()[-1] is StopSource.UI_EXIT


class WritesOnTheLoop(FakeController):
    """Like the service: stop() schedules the Stop write as a task on the event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.bar_at_write: list[str] = []
        self.app: RetroTreadmillApp | None = None

    def stop(self, source: StopSource) -> None:
        super().stop(source)
        asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        assert self.app is not None
        self.bar_at_write.append(str(self.app.screen.query_one("#stop-bar", Static).content))


async def test_the_stop_write_gets_the_event_loop_before_the_ui_redraws() -> None:
    controller = WritesOnTheLoop()
    app = RetroTreadmillApp(controller, devices=[VIRTUAL_TREADMILL], redraw_interval_s=0.0)
    controller.app = app
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        await pilot.press("space")
        assert "STOP SENT" in text(app, "#stop-bar")
    assert controller.bar_at_write[0].startswith("■ STOP  [")  # written before the UI changed


async def test_a_stop_key_acts_while_the_app_is_busy_with_earlier_messages(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        busy = asyncio.Event()
        done = asyncio.Event()

        async def slow_handler() -> None:  # e.g. a screen being built
            busy.set()
            await asyncio.sleep(0.5)
            done.set()

        app.call_later(slow_handler)
        await busy.wait()
        app.post_message(events.Key("space", " "))  # as the terminal driver hands it over
        await asyncio.sleep(0)
        assert controller.stops() == [StopSource.KEYBOARD]
        assert not done.is_set()  # the app's queue is still on the earlier message
        await done.wait()
        await pilot.pause()
        assert "STOP SENT" in text(app, "#stop-bar")
        assert controller.stops() == [StopSource.KEYBOARD]  # the key did not stop twice


async def test_a_stop_key_from_the_terminal_input_thread_stops_without_an_error(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await show(pilot, controller, RUNNING)
        driver = app._driver
        assert driver is not None
        # As the terminal driver does: from its input thread, outside the app's context.
        reader = threading.Thread(target=driver.send_message, args=(events.Key("space", " "),))
        reader.start()
        reader.join()
        await asyncio.sleep(0.05)  # past the paint hold
        await pilot.pause()
        assert controller.stops() == [StopSource.KEYBOARD]
        assert "STOP SENT" in text(app, "#stop-bar")
        assert app.is_running


class BrokenStream(FakeController):
    async def snapshots(self) -> AsyncIterator[SessionSnapshot]:
        yield RUNNING
        await asyncio.sleep(0)
        raise ConnectionError("service went away")


async def test_a_failing_snapshot_stream_stops_the_belt() -> None:
    controller = BrokenStream()
    app = RetroTreadmillApp(controller, devices=[VIRTUAL_TREADMILL], redraw_interval_s=0.0)

    async def run() -> None:
        async with app.run_test() as pilot:
            await pilot.pause()
            await pilot.pause()

    with pytest.raises(WorkerFailed, match="service went away"):
        await run()
    assert controller.stops()[0] is StopSource.UI_EXCEPTION


async def test_the_session_ends_on_its_summary_and_warnings_show_on_the_session_screen(
    make_app: MakeApp, controller: FakeController
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, controller, RUNNING)
        screen = app.screen
        assert not screen.query_one("#summary", Static).display
        assert not screen.query_one("#warnings", Static).display
        warning = "event-log stopped: EventLogFailed: [Errno 28] No space left on device"
        await show(pilot, controller, replace(RUNNING, warnings=(warning,)))
        assert screen.query_one("#warnings", Static).display
        assert text(app, "#warnings") == f"⚠ {warning}"
        assert screen.query_one("#big-row").display  # the live panels stay while walking
        block = "\n".join(  # a four-segment session with an alarm, as the service words it
            [
                "Session summary: alarm (exit code 4)",
                "  Time      1:58 walking (1:58 backward, 0:00 forward); profile time 1:55",
                "  Distance  63 yd (63 yd backward)",
                "  Speed     average 1.04 mph, peak 1.18 mph",
                "  Heart     average 96 bpm, peak 104 bpm",
                "  Seg 1 backward: prescribed 1.0, ran avg 0.96 peak 0.99 mph; 0:38, 14 yd",
                "  Seg 2 backward: prescribed 1.0-1.1, ran avg 1.04 peak 1.12 mph; 0:32, 16 yd",
                "  Seg 3 backward: prescribed 1.2, ran avg 1.18 peak 1.18 mph; 0:30, 17 yd",
                "  Seg 4 backward: prescribed 1.0, ran avg 1.00 peak 1.18 mph; 0:31, 15 yd",
                "  Alarm     overspeed: Belt speed 1.6 mph above the 1.5 mph cap. Stopped.",
            ]
        )
        ended = replace(
            RUNNING, state=SessionState.FINISHED, speed_kmh=0.0, warnings=(warning,), summary=block
        )
        await show(pilot, controller, ended)
        assert screen.query_one("#summary", Static).display
        assert text(app, "#summary") == block
        assert not screen.query_one("#big-row").display  # the summary takes their place
        assert not screen.query_one("#trends").display
        assert "Q to quit" in text(app, "#state-line")
        region = screen.query_one("#summary", Static).region
        assert region.height == 10  # every line, none wrapped
        assert region.bottom <= app.screen.query_one("#keys").region.y  # above the keys line
