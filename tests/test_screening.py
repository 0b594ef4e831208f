"""The safety screening: answers, the spotter rule, the store, the clinic key, the CLI."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.commands.run import RunPlan, screen
from retro_treadmill.config import ClinicConfig, parse_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.records.paths import database_path
from retro_treadmill.records.store import SCHEMA_VERSION, Store
from retro_treadmill.screening import (
    KEYS,
    SPOTTER_ITEM,
    Screening,
    ever_ran,
    load_screening,
    parse_answers,
    reset_screening,
    save_screening,
    screening_scope,
    spotter_reason,
)
from retro_treadmill.session.profile import parse_profile

NO = dict.fromkeys(KEYS, False)


def test_any_yes_requires_a_spotter_and_says_which_answer() -> None:
    assert spotter_reason(Screening(NO), require_spotter=False) == ""
    for key in KEYS:
        reason = spotter_reason(Screening({**NO, key: True}), require_spotter=False)
        assert reason.startswith("the screening answered yes to: ")
    dizzy = spotter_reason(Screening({**NO, "dizziness": True}), require_spotter=False)
    assert "inner-ear" in dizzy


def test_unknown_answers_and_the_clinic_key_require_the_spotter() -> None:
    assert "no screening is on record" in spotter_reason(None, require_spotter=False)
    clinic = spotter_reason(Screening(NO), require_spotter=True)
    assert "require_spotter" in clinic


def test_a_screening_needs_every_answer_and_nothing_else() -> None:
    with pytest.raises(ValueError, match="missing"):
        Screening({"balance": False})
    with pytest.raises(ValueError, match="unknown"):
        Screening({**NO, "mood": True})


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        (["balance=no"], "missing: dizziness, neurological, surgery"),
        (["balance=maybe"], "yes or no"),
        (["mood=no"], "KEY=yes|no"),
        (["balance"], "KEY=yes|no"),
        (["balance=no", "balance=yes"], "twice"),
    ],
)
def test_script_answers_are_checked(pairs: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_answers(pairs)


def test_script_answers_parse() -> None:
    answers = parse_answers(["balance=yes", "dizziness=n", "neurological=no", "surgery=NO"])
    assert answers == {**NO, "balance": True}


def test_answers_are_kept_in_the_store_reviewed_and_reset(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    assert load_screening(db) is None
    assert not ever_ran(db)
    save_screening(db, Screening({**NO, "surgery": True}, 1234.5))
    kept = load_screening(db)
    assert kept is not None
    assert kept.answers == {**NO, "surgery": True}
    assert kept.answered_at == 1234.5
    save_screening(db, Screening(NO, 2000.0))  # answered again: replaces
    again = load_screening(db)
    assert again is not None
    assert not again.any_yes
    assert reset_screening(db)
    assert load_screening(db) is None
    assert not reset_screening(db)
    with Store.open(db) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_stored_answer_that_is_missing_counts_as_yes(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    save_screening(db, Screening(NO, 1.0))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE screening SET answers_json = ?", (json.dumps({"balance": False}),))
    kept = load_screening(db)
    assert kept is not None
    assert kept.any_yes  # fail closed: an answer the store lost is not a "no"


def test_require_spotter_is_a_safety_key_and_must_be_a_boolean() -> None:
    assert not parse_config("").require_spotter
    assert parse_config("[safety]\nrequire_spotter = true\n").require_spotter
    with pytest.raises(ConfigError, match="require_spotter must be true or false"):
        parse_config('[safety]\nrequire_spotter = "yes"\n')


def test_the_screening_command_sets_shows_and_resets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert main(["screening", "show", *data]) == 1
    args = ["balance=no", "dizziness=yes", "neurological=no", "surgery=no"]
    assert main(["screening", "set", *data, *args]) == 0
    out = capsys.readouterr().out
    assert "A spotter is required" in out
    assert "physiotherapist" in out
    assert main(["screening", "show", "--json", *data]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["answers"]["dizziness"] is True
    assert shown["spotter_required"] is True
    assert main(["screening", "set", *data, "balance=no"]) == 2
    assert main(["screening", "reset", *data]) == 0
    assert main(["screening", "show", *data]) == 1


PROFILE = parse_profile(
    'name = "p"\ndescription = "d"\naudience = "a"\nunits = "mph"\n'
    '[[segments]]\nkind = "hold"\ndirection = "backward"\nspeed = 1.0\nduration_s = 60\n'
)


def plan(tmp_path: Path, *, headless: bool, config: ClinicConfig | None = None) -> RunPlan:
    return RunPlan(
        config=config or ClinicConfig(),
        profile=PROFILE,
        profile_key="p",
        units="mph",
        headless=headless,
        yes_preflight=False,
        simulate="spec",
        data_dir=str(tmp_path),
    )


def test_run_asks_a_headless_terminal_once_and_keeps_the_answers(tmp_path: Path) -> None:
    replies = iter(["n", "y", "n", "n"])
    said: list[str] = []
    first = plan(tmp_path, headless=True)
    screen(first, ask=lambda _q: next(replies), say=said.append)
    assert "inner-ear" in first.spotter_reason
    assert first.screening_yes
    assert any("physiotherapist" in line for line in said)
    second = plan(tmp_path, headless=True)
    screen(second, ask=lambda _q: pytest.fail("asked again"), say=said.append)
    assert second.spotter_reason == first.spotter_reason
    assert load_screening(database_path(str(tmp_path))) is not None


def test_run_in_the_tui_defers_to_the_form_and_the_clinic_key_applies_meanwhile(
    tmp_path: Path,
) -> None:
    tui = plan(tmp_path, headless=False)
    screen(tui)
    assert tui.screening_needed
    # Not yet known, but the form comes first: the spotter item depends on its answers.
    assert tui.spotter_reason == ""
    strict = plan(tmp_path, headless=False, config=parse_config("[safety]\nrequire_spotter = true"))
    screen(strict)
    assert "require_spotter" in strict.spotter_reason
    save_screening(database_path(str(tmp_path)), Screening(NO, 1.0))
    after = plan(tmp_path, headless=False)
    screen(after)
    assert not after.screening_needed
    assert after.spotter_reason == ""
    assert SPOTTER_ITEM.startswith("A spotter")


def test_the_forms_answers_set_or_clear_the_services_spotter_requirement(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from retro_treadmill.commands.run import screening_callbacks

    service = SimpleNamespace(required_items={})
    tui = plan(tmp_path, headless=False)
    screen(tui)
    hooks = screening_callbacks(tui, service)  # type: ignore[arg-type]
    reason = hooks["on_screening"](Screening({**NO, "balance": True}, 1.0))
    assert "balance" in reason
    assert service.required_items == {}  # the thread only keeps the answers
    hooks["on_screening_kept"](reason)
    assert SPOTTER_ITEM in service.required_items
    assert not tui.screening_needed
    reason = hooks["on_screening"](Screening(NO, 2.0))
    assert reason == ""
    hooks["on_screening_kept"](reason)
    assert service.required_items == {}
    kept = load_screening(database_path(str(tmp_path)))
    assert kept is not None
    assert not kept.any_yes
    # a walker's form answers are kept as theirs, not the machine's
    walker = dataclasses.replace(plan(tmp_path, headless=False), walker="W-3")
    screen(walker)
    assert walker.screening_needed
    screening_callbacks(walker, service)["on_screening"](Screening({**NO, "surgery": True}, 3.0))  # type: ignore[arg-type]
    theirs = load_screening(database_path(str(tmp_path)), screening_scope("W-3"))
    assert theirs is not None
    assert theirs.answers["surgery"]
    machine = load_screening(database_path(str(tmp_path)))
    assert machine is not None
    assert not machine.any_yes


async def test_the_tui_form_changes_the_required_items_on_the_event_loop(tmp_path: Path) -> None:
    """The form's answers are kept in a thread; the service's required items (read by start()
    on the loop) change only on the loop."""
    import threading
    from types import SimpleNamespace
    from typing import Any

    from retro_treadmill.commands.run import screening_callbacks
    from retro_treadmill.tui.app import RetroTreadmillApp
    from retro_treadmill.tui.model import VIRTUAL_TREADMILL
    from retro_treadmill.tui.screens import PreflightScreen
    from tests.tui.fakes import PROFILES, FakeController, preflight

    threads: list[str] = []

    class Watched(dict[str, str]):
        def __setitem__(self, key: str, value: str) -> None:
            threads.append(threading.current_thread().name)
            super().__setitem__(key, value)

        def pop(self, key: str, default: Any = None) -> Any:
            threads.append(threading.current_thread().name)
            return super().pop(key, default)

    service = SimpleNamespace(required_items=Watched())
    tui = plan(tmp_path, headless=False)
    screen(tui)
    controller = FakeController()
    app = RetroTreadmillApp(
        controller,
        devices=[VIRTUAL_TREADMILL],
        profiles=PROFILES,
        device=VIRTUAL_TREADMILL,
        profile=PROFILES[0],
        alarm_bell_interval_s=0.0,
        redraw_interval_s=0.0,
        screening_needed=True,
        **screening_callbacks(tui, service),  # type: ignore[arg-type]
    )
    loop_thread = threading.current_thread().name
    async with app.run_test(size=(80, 24)) as pilot:
        controller.push(preflight())
        await pilot.pause()
        await pilot.press("n", "n", "y", "n", "enter")
        for _ in range(50):
            await pilot.pause(0.05)
            if isinstance(app.screen, PreflightScreen):
                break
        assert isinstance(app.screen, PreflightScreen)
        await pilot.pause()
        await pilot.pause()  # the preflight mounted before the app closes
    assert SPOTTER_ITEM in service.required_items
    assert threads == [loop_thread]
    kept = load_screening(database_path(str(tmp_path)))
    assert kept is not None
    assert kept.answers["neurological"]


def test_each_walker_is_screened_on_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Walker A's "no" answers do not clear walker B (or the machine): B's first run, headless
    without a terminal, requires the spotter item (unknown counts as yes); the TUI asks B."""
    data = ["--data-dir", str(tmp_path)]
    no = [f"{key}=no" for key in KEYS]
    assert main(["screening", "set", *data, "--walker", "A", *no]) == 0
    assert main(["screening", "show", "--json", *data, "--walker", "A"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["spotter_required"] is False
    assert main(["screening", "show", *data, "--walker", "B"]) == 1
    assert main(["screening", "show", *data]) == 1  # the machine's answers are not A's

    walker_a = dataclasses.replace(plan(tmp_path, headless=True), walker="A")
    screen(walker_a, say=lambda _line: None)
    assert walker_a.spotter_reason == ""
    walker_b = dataclasses.replace(plan(tmp_path, headless=True), walker="B")
    screen(walker_b, say=lambda _line: None)
    # not screened: the spotter item is required, and says whose screening is missing
    assert "no screening is on record for walker B" in walker_b.spotter_reason
    tui_b = dataclasses.replace(plan(tmp_path, headless=False), walker="B")
    screen(tui_b)
    assert tui_b.screening_needed  # the TUI asks B's own screening

    replies = iter(["n", "n", "n", "y"])
    asked_b = dataclasses.replace(plan(tmp_path, headless=True), walker="B")
    screen(asked_b, ask=lambda _q: next(replies), say=lambda _line: None)
    assert "surgery" in asked_b.spotter_reason
    kept = load_screening(database_path(str(tmp_path)), screening_scope("B"))
    assert kept is not None
    assert kept.answers["surgery"]
    a_kept = load_screening(database_path(str(tmp_path)), screening_scope("A"))
    assert a_kept is not None
    assert not a_kept.any_yes
    assert main(["screening", "reset", *data, "--walker", "A"]) == 0
    assert load_screening(database_path(str(tmp_path)), screening_scope("A")) is None
    assert load_screening(database_path(str(tmp_path)), screening_scope("B")) is not None
