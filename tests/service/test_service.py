"""The session service in-process against the virtual treadmill: remote stop over a real broker,
and failing closed on exceptions (issue 5, issue 7's remote stop through the service)."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt

from protocols.ftms import SetTargetSpeed
from retro_treadmill.ftms.events import UnitMismatch
from retro_treadmill.service import ExitCode, SessionService
from retro_treadmill.telemetry.schema import Topics
from retro_treadmill.telemetry.settings import MqttSettings
from retro_treadmill.tui.model import (
    VIRTUAL_TREADMILL,
    AlarmKind,
    ProfileInfo,
    SessionSnapshot,
    SessionState,
    StopSource,
)
from tests.mosquitto import MosquittoBroker
from tests.service.conftest import STOP, Rig, make_rig, stop_writes_after, until, walking
from tests.stall import latency_within


async def test_mqtt_command_stop_stops_the_belt_within_100_ms(mosquitto: MosquittoBroker) -> None:
    settings = MqttSettings.from_url(
        f"mqtt://{mosquitto.host}:{mosquitto.port}/retro-treadmill",
        treadmill_id="tm1",
        discovery=False,
    )

    async def remote_stop_session() -> tuple[float, float]:
        async with make_rig() as rig:
            service = rig.service(mqtt=settings)
            sent: list[float] = []

            async def remote_stop(service: SessionService) -> None:
                assert service.mqtt is not None
                async with asyncio.timeout(10):
                    await service.mqtt.wait_connected()
                topic = Topics(settings.base_topic).command("stop")
                payload = json.dumps({"reason": "dashboard drill", "sender": "desk-1"})
                async with aiomqtt.Client(mosquitto.host, mosquitto.port) as desk:
                    sent.append(time.perf_counter())
                    await desk.publish(topic, payload, qos=1)
                    await until(service, lambda: bool(stop_writes_after(rig, sent[0])), timeout=5)
                await rig.sim.wait_for(
                    lambda s: s.belt_speed_kmh == 0.0 and not s.running, timeout=30
                )
                await until(service, service.session_over)

            code = await service.serve(walking(remote_stop))

            assert code is ExitCode.STOPPED
            assert rig.sim.belt_speed_kmh == 0.0
            stops = [
                r for r in service.log.records if r["kind"] == "operator" and r["action"] == "stop"
            ]
            assert stops[0]["by"] == "mqtt"
            assert "desk-1" in stops[0]["detail"]
            return sent[0], stop_writes_after(rig, sent[0])[0] - sent[0]

    await latency_within(0.100, remote_stop_session, "publish -> Stop on the treadmill")


async def test_an_exception_inside_a_task_stops_the_belt(rig: Rig) -> None:
    service = rig.service()

    async def break_the_ticker(service: SessionService) -> None:
        assert service.engine is not None

        def boom(now: float) -> None:
            raise RuntimeError("boom in the ticker")

        service.engine.tick = boom  # type: ignore[assignment,method-assign]
        await asyncio.sleep(30)  # cancelled when the ticker fails

    started = time.perf_counter()
    code = await service.serve(walking(break_the_ticker))

    assert code is ExitCode.INTERNAL_ERROR
    assert stop_writes_after(rig, started), "no Stop reached the treadmill"
    assert rig.sim.writes[-1].data == STOP
    await rig.sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, timeout=30)
    alarms = [r for r in service.log.records if r["kind"] == "alarm"]
    assert alarms
    assert alarms[0]["alarm"] == "internal_error"
    assert "boom in the ticker" in alarms[0]["message"]
    outcome = [r for r in service.log.records if r["kind"] == "outcome"]
    assert outcome[-1]["exit_code"] == 1


async def test_an_exception_in_the_front_end_stops_the_belt(rig: Rig) -> None:
    service = rig.service()

    async def crash(service: SessionService) -> None:
        raise ValueError("the front end broke")

    code = await service.serve(walking(crash))

    assert code is ExitCode.INTERNAL_ERROR
    assert rig.sim.writes[-1].data == STOP
    await rig.sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, timeout=30)
    assert "the front end broke" in (service.error or "")


async def test_a_ui_exception_stop_writes_stop_and_ends_with_an_internal_error(rig: Rig) -> None:
    service = rig.service()

    async def ui_crash(service: SessionService) -> None:
        service.stop(StopSource.UI_EXCEPTION)  # what the TUI does in _handle_exception
        await until(service, lambda: bool(stop_writes_after(rig, 0.0)), timeout=5)
        await service.terminate.wait()

    code = await service.serve(walking(ui_crash))

    assert code is ExitCode.INTERNAL_ERROR
    assert rig.sim.writes[-1].data == STOP
    await rig.sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, timeout=30)


async def test_stop_is_written_at_once_while_a_setpoint_awaits_its_response() -> None:
    async def stop_during_pending_setpoint() -> tuple[float, float]:
        async with make_rig() as rig:
            service = rig.service()
            called: list[float] = []

            async def stop_during_setpoint(service: SessionService) -> None:
                # Responses now take 3 s (simulated): the next setpoint stays pending.
                await rig.sim.inject("delay-responses:by=3s")
                service.adjust_speed(0.16)
                await until(service, lambda: rig.sim.writes[-1].data[:1] == b"\x02", timeout=10)
                called.append(time.perf_counter())
                service.stop(StopSource.KEYBOARD)
                await until(service, lambda: bool(stop_writes_after(rig, called[0])), timeout=5)
                await until(service, service.session_over, timeout=30)

            code = await service.serve(walking(stop_during_setpoint))

            assert code is ExitCode.STOPPED
            return called[0], stop_writes_after(rig, called[0])[0] - called[0]

    # 3 s of simulated delay is 300 ms of wall time: the Stop did not wait for the response.
    await latency_within(0.050, stop_during_pending_setpoint, "Stop behind a pending setpoint")


async def test_stop_with_a_treadmill_connected_but_no_session_writes_stop(rig: Rig) -> None:
    # The belt may have been started from the console: Stop is written whatever the engine
    # state, also before any session (engine) exists.
    from retro_treadmill.ftms.client import FtmsClient
    from retro_treadmill.sim.server import DEFAULT_ADDRESS

    service = rig.service()

    async def stop_before_a_session(service: SessionService) -> None:
        client = FtmsClient(rig.adapter, DEFAULT_ADDRESS, clock=rig.clock)
        await client.connect()
        service.client = client
        assert service.engine is None
        called = time.perf_counter()
        service.stop(StopSource.KEYBOARD)
        await until(service, lambda: bool(stop_writes_after(rig, called)), timeout=5)
        await service.stops_settled()

    code = await service.serve(stop_before_a_session)

    assert code is ExitCode.STOPPED
    assert rig.sim.writes[-1].data == STOP


async def test_a_stop_asked_for_while_connecting_is_written_once_connected(rig: Rig) -> None:
    service = rig.service()

    async def stop_while_connecting(service: SessionService) -> None:
        profile = service.profile
        assert profile is not None

        preparing = asyncio.create_task(
            service.prepare(VIRTUAL_TREADMILL, ProfileInfo.from_profile(profile, "demo"))
        )
        await asyncio.sleep(0)  # the connect has begun; the link is not up yet
        assert service.client is None or not service.client.connected
        service.stop(StopSource.KEYBOARD)
        await preparing
        await until(service, lambda: bool(stop_writes_after(rig, 0.0)), timeout=5)
        await service.stops_settled()

    code = await service.serve(stop_while_connecting)

    assert code is ExitCode.STOPPED
    assert STOP in [w.data for w in rig.sim.writes]
    assert not [w for w in rig.sim.writes if w.data[:1] in (b"\x02", b"\x07")]


async def test_the_clients_unit_self_test_is_a_full_alarm_only_the_operator_clears(
    rig: Rig,
) -> None:
    # The FTMS client's units self-test (UnitMismatch event) halts the session like a governor
    # alarm: state alarm, the alarm in the snapshot (the UI's full-screen alarm), belt stopped,
    # nothing moves it again by itself; acknowledge + resume is the operator's decision.
    service = rig.service()
    seen: list[SessionSnapshot] = []

    async def confused(service: SessionService) -> None:
        client = service.client
        assert client is not None
        now = rig.clock.now()
        client._emit(UnitMismatch(now, target_kmh=1.61, reported_kmh=2.59, ratio=1.609))
        await until(service, lambda: service.snapshot.alarm is not None, timeout=10)
        await until(service, service.session_over, timeout=30)
        seen.append(service.snapshot)
        halted_at = len(rig.sim.writes)
        await rig.clock.sleep(10.0)  # 10 s of session time: nothing restarts by itself
        moving = [w for w in rig.sim.writes[halted_at:] if w.data[:1] in (b"\x02", b"\x07")]
        assert moving == []
        service.acknowledge_alarm()
        seen.append(service.snapshot)

    code = await service.serve(walking(confused))

    halted = seen[0]
    assert halted.state is SessionState.ALARM
    assert halted.alarm is not None
    assert halted.alarm.kind is AlarmKind.UNIT_MISMATCH
    assert "mixes up km/h and mph" in halted.alarm.message
    assert rig.sim.belt_speed_kmh == 0.0
    assert STOP in [w.data for w in rig.sim.writes]
    # Acknowledged with the belt stopped: the session waits for the operator's resume.
    assert seen[1].state is SessionState.PAUSED
    assert code is ExitCode.ALARM


async def test_an_exception_in_a_callback_of_the_service_stops_the_belt(rig: Rig) -> None:
    # A callback nobody awaits (call_soon, a done callback) raising in our code: the loop's
    # exception handler fails closed instead of printing and carrying on.
    from retro_treadmill.ftms.events import TreadmillDataEvent

    service = rig.service()

    async def broken_callback(service: SessionService) -> None:
        bogus = TreadmillDataEvent(0.0, None)  # type: ignore[arg-type]
        asyncio.get_running_loop().call_soon(service._on_ftms_event, bogus)
        async with asyncio.timeout(10):
            await service.terminate.wait()

    started = time.perf_counter()
    code = await service.serve(walking(broken_callback))

    assert code is ExitCode.INTERNAL_ERROR
    assert stop_writes_after(rig, started)
    await rig.sim.wait_for(lambda s: s.belt_speed_kmh == 0.0, timeout=30)
    errors = [r for r in service.log.records if r["kind"] == "error"]
    assert any(r["task"] == "event-loop" and r["ours"] for r in errors)
    assert "AttributeError in a callback" in (service.error or "")


async def test_an_exception_in_bumbles_own_callbacks_is_logged_not_fatal(rig: Rig) -> None:
    service = rig.service()

    def foreign() -> None:
        raise RuntimeError("not ours")

    async def then(service: SessionService) -> None:
        asyncio.get_running_loop().call_soon(foreign)
        await asyncio.sleep(0.05)
        assert service.error is None
        service.stop(StopSource.KEYBOARD)
        await until(service, service.session_over, timeout=30)

    code = await service.serve(walking(then))

    assert code is ExitCode.STOPPED
    errors = [r for r in service.log.records if r["kind"] == "error"]
    assert any(r["task"] == "event-loop" and not r["ours"] for r in errors)


async def test_a_setpoint_the_treadmill_already_runs_is_not_written_again(rig: Rig) -> None:
    # An engine that repeats the same approved setpoint every tick must not keep the control
    # point busy; after the console changed the target, the same value is written again.
    from retro_treadmill.safety import commands as sc
    from retro_treadmill.session.engine import SessionOutput

    service = rig.service()
    counts: list[int] = []

    def speed_writes(kmh: float) -> int:
        wire = SetTargetSpeed(kmh).build()
        return sum(1 for w in rig.sim.writes if w.data == wire)

    async def repeat(service: SessionService) -> None:
        engine = service.engine
        assert engine is not None
        target = engine.governor.target_speed_kmh
        await until(service, lambda: speed_writes(target) >= 1)
        await rig.clock.sleep(2.0)
        before = speed_writes(target)
        for _ in range(5):
            service._apply(SessionOutput(commands=(sc.SetSpeed(target),)))
        await rig.clock.sleep(2.0)
        counts.append(speed_writes(target) - before)
        rig.sim.console_speed(0.1)  # status 0x05 with another target
        await rig.clock.sleep(1.0)
        before = speed_writes(target)
        service._apply(SessionOutput(commands=(sc.SetSpeed(target),)))
        await until(service, lambda: speed_writes(target) > before, timeout=5)
        counts.append(speed_writes(target) - before)
        service.stop(StopSource.KEYBOARD)
        await until(service, service.session_over, timeout=30)

    await service.serve(walking(repeat))

    assert counts[0] == 0
    assert counts[1] >= 1


async def test_closing_while_the_link_is_down_says_to_pull_the_safety_key() -> None:
    # The walker's belt keeps running when the link drops (keeps-running personality) and the
    # service closes before the reconnect could write its Stop: it says so, loudly.
    from retro_treadmill.tui.model import LinkStatus

    async with make_rig(personality="keeps-running-on-disconnect") as rig:
        service = rig.service()

        async def drop_and_leave(service: SessionService) -> None:
            await rig.sim.drop_link()
            await until(service, lambda: service.link is not LinkStatus.CONNECTED, timeout=10)

        await service.serve(walking(drop_and_leave))

    alarms = [r for r in service.log.records if r["kind"] == "alarm"]
    assert any("closing Stop could not be written" in r["message"] for r in alarms), alarms


async def test_sigterm_or_sighup_ends_a_waiting_front_end_once_the_belt_stands_still(
    rig: Rig,
) -> None:
    # A front end that only ends on `terminate` (the TUI): SIGTERM (a supervisor) and SIGHUP
    # (the terminal is gone) stop the belt and end the session once the belt stands still; a
    # TUI left running on a closed terminal spun at 75 % CPU.
    service = rig.service()
    belt: list[float] = []

    async def tui_like(service: SessionService) -> None:
        service.on_signal("SIGHUP")
        async with asyncio.timeout(20):
            await service.terminate.wait()
        belt.append(rig.sim.belt_speed_kmh)

    code = await service.serve(walking(tui_like))

    assert code is ExitCode.STOPPED
    assert belt == [0.0]
    assert service.session_over()


async def test_a_first_sigint_stops_the_belt_and_leaves_the_front_end_running(rig: Rig) -> None:
    service = rig.service()
    seen: list[bool] = []

    async def tui_like(service: SessionService) -> None:
        service.on_signal("SIGINT")
        await until(service, service.session_over, timeout=20)
        await rig.clock.sleep(2.0)
        seen.append(service.terminate.is_set())
        service.on_signal("SIGINT")  # the second one leaves at once
        seen.append(service.terminate.is_set())

    code = await service.serve(walking(tui_like))

    assert code is ExitCode.STOPPED
    assert seen == [False, True]
    assert rig.sim.belt_speed_kmh == 0.0
