"""The sans-IO control-point machine: sequencing, matching, pre-emption, timeouts, retries."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from retro_treadmill.ftms.control import (
    OPCODES,
    Action,
    ControlPointMachine,
    ControlStateChanged,
    Finished,
    ResponseDiscarded,
    WriteRequest,
)
from retro_treadmill.ftms.model import Command, CommandKind, Outcome
from retro_treadmill.ftms.quirks import DeviceQuirks

START = Command(CommandKind.START)
STOP = Command(CommandKind.STOP)
RC = Command(CommandKind.REQUEST_CONTROL)


def speed(kmh: float) -> Command:
    return Command(CommandKind.SET_TARGET_SPEED, kmh)


def incline(pct: float) -> Command:
    return Command(CommandKind.SET_TARGET_INCLINE, pct)


def connected(**quirks: object) -> ControlPointMachine:
    m = ControlPointMachine(quirks=dataclasses.replace(DeviceQuirks(), **quirks))  # type: ignore[arg-type]
    m.connection_made(0.0, stop_first=False)
    return m


def writes(actions: list[Action]) -> list[Command]:
    return [a.command for a in actions if isinstance(a, WriteRequest)]


def finished(actions: list[Action]) -> list[Finished]:
    return [a for a in actions if isinstance(a, Finished)]


def answer(m: ControlPointMachine, command: Command, result: int, now: float) -> list[Action]:
    m.receive_response(OPCODES[command.kind], result, now)
    return m.actions()


def test_request_control_precedes_the_first_command_only() -> None:
    m = connected()
    m.submit(START, 0.0)
    assert writes(m.actions()) == [RC]
    assert writes(answer(m, RC, 0x01, 0.05)) == [START]
    acts = answer(m, START, 0x01, 0.2)
    [done] = finished(acts)
    assert done.outcome is Outcome.SUCCESS
    assert done.latency_s is not None
    assert abs(done.latency_s - 0.15) < 1e-9
    m.submit(speed(2.0), 0.3)
    assert writes(m.actions()) == [speed(2.0)]


def test_one_procedure_in_flight_and_queued_setpoints_coalesce() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(1.0), 0.0)
    m.submit(speed(1.5), 0.01)
    m.submit(incline(1.0), 0.02)
    t3 = m.submit(speed(2.0), 0.03)
    acts = m.actions()
    assert writes(acts) == [speed(1.0)]
    assert [f.outcome for f in finished(acts)] == [Outcome.SUPERSEDED]
    acts = answer(m, speed(1.0), 0x01, 0.1)
    assert writes(acts) == [incline(1.0)]
    acts = answer(m, incline(1.0), 0x01, 0.2)
    assert writes(acts) == [speed(2.0)]
    acts = answer(m, speed(2.0), 0x01, 0.3)
    assert [(f.ticket, f.outcome) for f in finished(acts)] == [(t3, Outcome.SUCCESS)]
    assert not m.busy


def test_stop_is_written_at_once_while_a_speed_change_awaits_its_response() -> None:
    m = connected()
    m.has_control = True
    speed_ticket = m.submit(speed(2.0), 0.0)
    queued = m.submit(incline(2.0), 0.0)
    m.actions()
    stop_ticket = m.stop(0.01)
    acts = m.actions()
    assert writes(acts) == [STOP]
    outcomes = {f.ticket: f.outcome for f in finished(acts)}
    assert outcomes == {speed_ticket: Outcome.PREEMPTED, queued: Outcome.CANCELLED}
    # The late Set Speed response is recognised as such, not taken for the Stop's.
    acts = answer(m, speed(2.0), 0x01, 0.2)
    assert [type(a) for a in acts] == [ResponseDiscarded]
    acts = answer(m, STOP, 0x01, 0.25)
    [done] = finished(acts)
    assert (done.ticket, done.outcome) == (stop_ticket, Outcome.SUCCESS)
    assert done.latency_s is not None
    assert abs(done.latency_s - 0.24) < 1e-9


def test_stop_refused_as_busy_is_rewritten_when_the_overtaken_response_arrives() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.stop(0.01)
    [w] = [a for a in m.actions() if isinstance(a, WriteRequest)]
    m.write_failed(w.procedure, 0xFE, 0.012)
    assert m.actions() == []
    acts = answer(m, speed(2.0), 0x01, 0.02)
    assert writes(acts) == [STOP]
    [done] = finished(answer(m, STOP, 0x01, 0.05))
    assert done.outcome is Outcome.SUCCESS
    assert done.attempts == 2


def test_unacknowledged_stop_is_rewritten_when_the_overtaken_response_arrives() -> None:
    """Written without response (Write Command), a Stop that overtook a pending procedure may
    have been dropped by the busy server, which cannot answer 0xFE to a Write Command: it is
    written again as soon as the server is free, not after the control-point timeout."""
    m = connected()
    m.writes_acknowledged = False
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.stop(0.01)
    assert writes(m.actions()) == [STOP]
    acts = answer(m, speed(2.0), 0x01, 0.1)
    assert writes(acts) == [STOP]
    [done] = finished(answer(m, STOP, 0x01, 0.15))
    assert done.outcome is Outcome.SUCCESS
    assert done.attempts == 2
    # Had the server taken the first Stop after all, its second answer is just discarded.
    assert [type(a) for a in answer(m, STOP, 0x04, 0.16)] == [ResponseDiscarded]


def test_unacknowledged_writes_other_than_stop_are_not_rewritten_on_a_late_response() -> None:
    m = connected()
    m.writes_acknowledged = False
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.stop(0.01)
    m.actions()
    [done] = finished(answer(m, STOP, 0x01, 0.02))  # the server took the Stop at once
    assert done.outcome is Outcome.SUCCESS
    m.submit(START, 0.03)
    assert writes(m.actions()) == [START]
    # The overtaken Set Target Speed answers late: nothing is written again for it.
    assert writes(answer(m, speed(2.0), 0x01, 0.04)) == []


def test_acknowledged_stop_is_not_rewritten_when_the_overtaken_response_arrives() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.stop(0.01)
    m.actions()
    assert writes(answer(m, speed(2.0), 0x01, 0.1)) == []


def test_busy_stop_is_also_retried_on_a_timer() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.stop(0.01)
    [w] = [a for a in m.actions() if isinstance(a, WriteRequest)]
    m.write_failed(w.procedure, 0xFE, 0.012)
    deadline = m.next_deadline()
    assert deadline is not None
    assert deadline <= 0.012 + 0.05 + 1e-9
    m.tick(deadline)
    assert writes(m.actions()) == [STOP]


def test_already_running_and_already_stopped() -> None:
    m = connected()
    m.has_control = True
    m.submit(START, 0.0)
    [done] = finished(answer(m, START, 0x04, 0.1))
    assert done.outcome is Outcome.ALREADY_RUNNING
    assert done.outcome.accepted
    m.stop(0.2)
    m.actions()
    [done] = finished(answer(m, STOP, 0x04, 0.3))
    assert done.outcome is Outcome.ALREADY_STOPPED


def test_control_not_permitted_requests_control_again_with_backoff() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    acts = answer(m, speed(2.0), 0x05, 0.1)
    assert writes(acts) == []
    assert any(isinstance(a, ControlStateChanged) and not a.granted for a in acts)
    assert m.next_deadline() == 0.1 + 0.5
    m.tick(0.6)
    assert writes(m.actions()) == [RC]
    assert writes(answer(m, RC, 0x05, 0.65)) == []
    assert m.next_deadline() == 0.65 + 1.0
    m.tick(1.65)
    assert writes(m.actions()) == [RC]
    acts = answer(m, RC, 0x01, 1.7)
    assert writes(acts) == [speed(2.0)]
    assert any(isinstance(a, ControlStateChanged) and a.granted for a in acts)
    [done] = finished(answer(m, speed(2.0), 0x01, 1.8))
    assert done.outcome is Outcome.SUCCESS


def test_control_refused_for_good_rejects_the_command() -> None:
    m = connected(control_retries=1, control_backoff_s=(0.5,))
    m.submit(START, 0.0)
    assert writes(m.actions()) == [RC]
    answer(m, RC, 0x05, 0.1)
    m.tick(0.6)
    assert writes(m.actions()) == [RC]
    [done] = finished(answer(m, RC, 0x05, 0.7))
    assert done.outcome is Outcome.REJECTED
    assert done.result_code == 0x05
    assert not m.busy


def test_stop_without_control_retries_control_without_backoff() -> None:
    m = connected()
    m.stop(0.0)
    assert writes(m.actions()) == [STOP]  # Stop first, even without control
    assert writes(answer(m, STOP, 0x05, 0.05)) == [RC]
    assert writes(answer(m, RC, 0x01, 0.1)) == [STOP]
    [done] = finished(answer(m, STOP, 0x01, 0.15))
    assert done.outcome is Outcome.SUCCESS


def test_status_control_lost_means_request_control_again_after_backoff() -> None:
    m = connected()
    m.has_control = True
    m.receive_machine_status(0xFF, 1.0)
    [lost] = m.actions()
    assert isinstance(lost, ControlStateChanged)
    assert not lost.granted
    m.submit(START, 1.1)
    assert writes(m.actions()) == []
    m.tick(1.5)
    assert writes(m.actions()) == [RC]


def test_request_control_before_each_command_quirk() -> None:
    m = connected(request_control_before_each_command=True)
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    assert writes(m.actions()) == [RC]
    assert writes(answer(m, RC, 0x01, 0.1)) == [speed(2.0)]
    answer(m, speed(2.0), 0x01, 0.2)
    m.submit(incline(1.0), 0.3)
    assert writes(m.actions()) == [RC]


def test_wait_for_belt_quirk_holds_speed_until_the_belt_moves() -> None:
    m = connected(wait_for_belt_before_speed=True, wait_for_belt_timeout_s=5.0)
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    assert writes(m.actions()) == []
    m.receive_belt_speed(0.0, 1.0)
    assert writes(m.actions()) == []
    m.receive_belt_speed(0.5, 2.0)
    assert writes(m.actions()) == [speed(2.0)]


def test_wait_for_belt_quirk_gives_up() -> None:
    m = connected(wait_for_belt_before_speed=True, wait_for_belt_timeout_s=5.0)
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    assert m.next_deadline() == 5.0
    m.tick(5.0)
    [done] = finished(m.actions())
    assert done.outcome is Outcome.BELT_NOT_MOVING


def test_settle_after_start_quirk() -> None:
    m = connected(settle_after_start_s=2.5)
    m.has_control = True
    m.submit(START, 0.0)
    m.submit(speed(2.0), 0.0)
    assert writes(m.actions()) == [START]
    assert writes(answer(m, START, 0x01, 0.1)) == []
    m.tick(2.5)
    assert writes(m.actions()) == []
    m.tick(2.6)
    assert writes(m.actions()) == [speed(2.0)]


def test_timeout_then_a_late_response_of_another_op_is_discarded() -> None:
    m = connected(control_point_timeout_s=1.0)
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.tick(1.0)
    [done] = finished(m.actions())
    assert done.outcome is Outcome.TIMEOUT
    assert done.result_code is None
    m.submit(incline(1.0), 1.1)
    assert writes(m.actions()) == [incline(1.0)]
    assert [type(a) for a in answer(m, speed(2.0), 0x01, 1.2)] == [ResponseDiscarded]
    [done] = finished(answer(m, incline(1.0), 0x01, 1.3))
    assert done.outcome is Outcome.SUCCESS


def test_after_a_lost_response_the_next_same_op_response_is_the_new_ones() -> None:
    m = connected(control_point_timeout_s=1.0)
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.actions()
    m.tick(1.0)
    m.actions()
    m.submit(speed(2.0), 1.1)
    m.actions()
    [done] = finished(answer(m, speed(2.0), 0x01, 1.2))
    assert done.outcome is Outcome.SUCCESS


def test_stop_without_response_is_rewritten_then_times_out() -> None:
    m = connected(control_point_timeout_s=1.0, stop_retries=2)
    m.has_control = True
    m.stop(0.0)
    assert writes(m.actions()) == [STOP]
    m.tick(1.0)
    assert writes(m.actions()) == [STOP]
    m.tick(2.0)
    assert writes(m.actions()) == [STOP]
    m.tick(3.0)
    [done] = finished(m.actions())
    assert done.outcome is Outcome.TIMEOUT
    assert done.attempts == 3


def test_link_loss_ends_everything_and_reconnect_writes_stop_first() -> None:
    m = connected()
    m.has_control = True
    m.submit(speed(2.0), 0.0)
    m.submit(incline(1.0), 0.0)
    m.actions()
    m.connection_lost(0.5)
    acts = m.actions()
    assert [f.outcome for f in finished(acts)] == [Outcome.LINK_LOST, Outcome.LINK_LOST]
    m.submit(START, 0.6)
    assert [f.outcome for f in finished(m.actions())] == [Outcome.LINK_LOST]
    m.connection_made(1.0, stop_first=True)
    assert writes(m.actions()) == [STOP]
    # A late answer from before the drop is not taken for anything.
    m.receive_response(0x02, 0x01, 1.01)
    assert [type(a) for a in m.actions()] == [ResponseDiscarded]


def test_write_failure_other_than_busy_fails_the_command() -> None:
    m = connected()
    m.has_control = True
    m.submit(START, 0.0)
    [w] = m.actions()
    assert isinstance(w, WriteRequest)
    m.write_failed(w.procedure, 0xFD, 0.01)
    [done] = finished(m.actions())
    assert done.outcome is Outcome.WRITE_FAILED
    assert "0xFD" in done.detail


_ops = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from([START, speed(1.0), speed(2.0), incline(1.0)])),
    st.tuples(st.just("stop"), st.booleans()),
    st.tuples(st.just("respond"), st.sampled_from([0x01, 0x04, 0x05, 0x03])),
    st.tuples(st.just("respond_other"), st.sampled_from([0x00, 0x02, 0x03, 0x07, 0x08])),
    st.tuples(st.just("busy"), st.just(0)),
    st.tuples(st.just("status"), st.sampled_from([0xFF, 0x01, 0x04])),
    st.tuples(st.just("belt"), st.sampled_from([0.0, 1.0])),
    st.tuples(st.just("tick"), st.floats(0.0, 4.0)),
    st.tuples(st.just("drop"), st.just(0)),
    st.tuples(st.just("reconnect"), st.booleans()),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ops, max_size=60))
def test_invariants_under_random_events(ops: list[tuple[str, object]]) -> None:
    """After any sequence: every ticket ends exactly once; a Stop is written at once; nothing is
    written after a Stop except that Stop (and its Request Control) until it ends; nothing is
    written while disconnected; at most one procedure is unanswered (barring a pre-empting Stop)."""
    m = connected(wait_for_belt_before_speed=True)
    now = 0.0
    tickets: set[int] = set()
    ended: list[int] = []
    last_write: WriteRequest | None = None
    stop_ticket: int | None = None
    for op, arg in ops:
        now += 0.01
        if op == "submit":
            assert isinstance(arg, Command)
            tickets.add(m.submit(arg, now))
        elif op == "stop":
            t = m.stop(now, pause=bool(arg))
            tickets.add(t)
            acts = m.actions()
            if m.connected and not (arg and stop_ticket is not None):
                # The Stop (or Pause) is written in this very call.
                assert writes(acts)[:1] in ([STOP], [Command(CommandKind.PAUSE)])
            for a in acts:
                if isinstance(a, Finished):
                    ended.append(a.ticket)
                    if a.ticket == stop_ticket:
                        stop_ticket = None
            if (m.connected and not arg) or (m.connected and stop_ticket is None):
                stop_ticket = t
            if acts and writes(acts):
                last_write = [a for a in acts if isinstance(a, WriteRequest)][-1]
            continue
        elif op == "respond" and last_write is not None:
            assert isinstance(arg, int)
            m.receive_response(OPCODES[last_write.command.kind], arg, now)
        elif op == "respond_other":
            assert isinstance(arg, int)
            m.receive_response(arg, 0x01, now)
        elif op == "busy" and last_write is not None:
            m.write_failed(last_write.procedure, 0xFE, now)
        elif op == "status":
            assert isinstance(arg, int)
            m.receive_machine_status(arg, now)
        elif op == "belt":
            assert isinstance(arg, float)
            m.receive_belt_speed(arg, now)
        elif op == "tick":
            assert isinstance(arg, float)
            now += arg
            m.tick(now)
        elif op == "drop":
            m.connection_lost(now)
        elif op == "reconnect" and not m.connected:
            t2 = m.connection_made(now, stop_first=bool(arg))
            if t2 is not None:
                tickets.add(t2)
                stop_ticket = t2
        for a in m.actions():
            if isinstance(a, WriteRequest):
                assert m.connected
                if stop_ticket is not None:
                    assert a.command in (STOP, Command(CommandKind.PAUSE), RC)
                last_write = a
            elif isinstance(a, Finished):
                ended.append(a.ticket)
                if a.ticket == stop_ticket:
                    stop_ticket = None
    assert len(ended) == len(set(ended)), "a ticket ended twice"
    assert set(ended) <= tickets
    # Everything not ended is still pending in the machine.
    if not m.busy:
        assert set(ended) == tickets


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["start", "speed", "incline", "stop", "pause", "wait"]),
            st.floats(0.0, 1.0),
        ),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.0, 0.5),
    st.booleans(),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_against_a_strict_server_model(
    steps: list[tuple[str, float]],
    lose: float,
    enforce: bool,
    acknowledged: bool,
    rnd: random.Random,
) -> None:
    """A strict server (ATT 0xFE while a procedure is pending - or, for Write Commands, the write
    silently dropped -, control enforced or not, responses delayed or lost): a Stop is written in
    the call that issues it, nothing submitted before a Stop is written after it, and every
    ticket ends once time has passed."""
    m = connected(control_point_timeout_s=1.0)
    m.writes_acknowledged = acknowledged
    now = 0.0
    pending: tuple[int, float] | None = None  # the server's pending procedure: (op, respond at)
    control = False
    submitted_at: dict[int, float] = {}
    ended: set[int] = set()
    last_stop: tuple[int, float] = (0, -1.0)  # (ticket, time) of the last Stop

    def handle(actions: list[Action]) -> None:
        nonlocal pending, control
        for a in actions:
            if isinstance(a, Finished):
                assert a.ticket not in ended
                ended.add(a.ticket)
            elif isinstance(a, WriteRequest):
                if a.command.kind not in (CommandKind.STOP, CommandKind.PAUSE) and not a.auxiliary:
                    stop_ticket, stop_time = last_stop
                    assert a.ticket > stop_ticket or submitted_at[a.ticket] > stop_time
                if pending is not None:
                    if acknowledged:
                        m.write_failed(a.procedure, 0xFE, now)
                        handle(m.actions())
                    continue
                op = OPCODES[a.command.kind]
                if op == 0x00:
                    control = True
                if rnd.random() >= lose:  # else: applied, never answered
                    pending = (op, now + rnd.uniform(0.0, 0.4))

    def respond() -> None:
        nonlocal pending
        assert pending is not None
        op, pending = pending[0], None
        m.receive_response(op, 0x01 if (control or not enforce or op == 0x00) else 0x05, now)
        handle(m.actions())

    for kind, dt in steps:
        if kind == "wait":
            now += dt
        elif kind in ("stop", "pause"):
            t = m.stop(now, pause=kind == "pause")
            submitted_at[t] = now
            acts = m.actions()
            if kind == "stop":
                assert STOP in writes(acts)
                last_stop = (t, now)
            handle(acts)
        else:
            cmd = {"start": START, "speed": speed(1.0 + dt), "incline": incline(dt)}[kind]
            submitted_at[m.submit(cmd, now)] = now
            handle(m.actions())
        horizon = now + dt
        while True:
            due = [d for d in (m.next_deadline(), pending[1] if pending else None) if d is not None]
            if not due or min(due) > horizon:
                break
            now = max(now, min(due))
            if pending is not None and pending[1] <= now:
                respond()
            else:
                m.tick(now)
                handle(m.actions())
    for _ in range(1000):
        due = [d for d in (m.next_deadline(), pending[1] if pending else None) if d is not None]
        if not due:
            break
        now = max(now, min(due))
        if pending is not None and pending[1] <= now:
            respond()
        else:
            m.tick(now)
            handle(m.actions())
    assert ended == set(submitted_at)


def test_a_stop_is_written_whatever_its_request_control_answers() -> None:
    """Issue 13: a Stop answered 0x05 requests control again, and is written again even when
    that request is refused or unanswered (it used to retry the request alone, never the Stop)."""
    m = connected(control_point_timeout_s=1.0)
    m.has_control = True
    m.stop(0.0)
    assert writes(m.actions()) == [STOP]
    m.receive_response(0x08, 0x05, 0.1)
    assert writes(m.actions()) == [RC]
    m.receive_response(0x00, 0x05, 0.2)
    assert writes(m.actions()) == [STOP]
    m.receive_response(0x08, 0x05, 0.3)
    assert writes(m.actions()) == [RC]
    m.tick(1.4)  # no answer to the request: the Stop goes out anyway
    assert writes(m.actions()) == [STOP]


def test_a_stop_sent_again_after_a_refusal_requests_control_first() -> None:
    m = connected()
    m.has_control = True
    m.stop(0.0, request_control=True)
    assert writes(m.actions()) == [RC]
    m.receive_response(0x00, 0x01, 0.05)
    assert writes(m.actions()) == [STOP]
    m.receive_response(0x08, 0x01, 0.1)
    [done] = finished(m.actions())
    assert done.outcome is Outcome.SUCCESS
    m.stop(1.0, request_control=True)
    assert writes(m.actions()) == [RC]
    m.receive_response(0x00, 0x03, 1.05)  # refused: the Stop goes out anyway
    assert writes(m.actions()) == [STOP]
