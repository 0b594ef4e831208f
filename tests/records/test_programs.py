"""Program files: the shipped programs load, bad files are refused naming file, stage, key, line;
``programs list|show|validate``."""

from __future__ import annotations

from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.config import parse_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.programs import list_programs, load_program, read_program
from retro_treadmill.records.programs import parse_program

GOOD = """\
name = "p"
description = "a test program"
audience = "tests"

[progression]
max_pain = 2

[[stages]]
name = "one"
profile = "first-steps"
sessions = 2

[[stages]]
name = "two"
profile = "knee-oa-week1"
sessions = 1
"""


def test_shipped_programs_load_and_use_real_profiles() -> None:
    entries = list_programs()
    assert {e.path.stem for e in entries} >= {
        "knee-oa-6-weeks",
        "patellofemoral-4-weeks",
        "first-week",
    }
    assert all(e.error is None for e in entries), [str(e.error) for e in entries]
    knee = load_program("knee-oa-6-weeks")
    assert [(s.profile, s.sessions) for s in knee.stages] == [
        (f"knee-oa-week{n}", 3) for n in range(1, 7)
    ]
    assert knee.rule.max_pain == 3
    assert knee.rule.pain_rise == 2
    assert "Alghadir" in knee.description
    pfp = load_program("patellofemoral-4-weeks")
    assert pfp.stages[-1].profile == "patellofemoral"
    assert "Roos" in pfp.description
    first = load_program("first-week")  # issue 16: the home user's path as a program
    assert [(s.profile, s.sessions) for s in first.stages] == [
        (f"start-week{n}", 3) for n in range(1, 4)
    ]
    assert "Dufek" in first.description


def test_a_good_program_parses() -> None:
    program = parse_program(GOOD, "p.toml")
    assert [s.name for s in program.stages] == ["one", "two"]
    assert program.rule.max_pain == 2
    assert program.rule.pain_rise == 2  # the default
    assert program.total_sessions == 3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("sessions = 2", "sesions = 2"),
            "p.toml: stage 1: unknown key 'sesions'; did you mean 'sessions'? (line 11)",
        ),
        (
            ("sessions = 1", "sessions = 0"),
            "p.toml: stage 2: sessions must be between 1 and 100, got 0 (line 16)",
        ),
        (
            ("sessions = 1", 'sessions = "three"'),
            "p.toml: stage 2: sessions must be a whole number, got 'three' (line 16)",
        ),
        (
            ('profile = "knee-oa-week1"\n', ""),
            "p.toml: stage 2: missing required key 'profile' (line 13)",
        ),
        (
            ("max_pain = 2", "max_pain = 11"),
            "p.toml: [progression]: max_pain must be between 0 and 10, got 11 (line 6)",
        ),
        (
            ("max_pain = 2", "max_pane = 2"),
            "p.toml: [progression]: unknown key 'max_pane'; did you mean 'max_pain'? (line 6)",
        ),
        (('name = "p"', 'name = "P q"'), "p.toml: name 'P q' must be lowercase"),
        (('audience = "tests"\n', ""), "p.toml: missing required key 'audience'"),
        (("[[stages]]", "[[stagez]]"), "p.toml: unknown key 'stagez'; did you mean 'stages'?"),
    ],
)
def test_bad_programs_name_file_stage_key_and_line(edit: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*edit, 1) if edit[0] != "[[stages]]" else GOOD.replace(*edit)
    with pytest.raises(ConfigError) as caught:
        parse_program(text, "p.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_not_toml_and_empty() -> None:
    with pytest.raises(ConfigError, match=r"^p\.toml: not valid TOML"):
        parse_program("name = ", "p.toml")
    with pytest.raises(ConfigError, match="the file is empty"):
        parse_program("", "p.toml")


def test_a_stage_whose_profile_does_not_exist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace("knee-oa-week1", "knee-oa-week9"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.toml: stage 2: profile 'knee-oa-week9': no profile"):
        read_program(path)
    path.write_text(GOOD.replace('name = "p"', 'name = "q"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="differs from the file name 'p'"):
        read_program(path)


def test_clinic_programs_sit_in_the_clinic_profile_folder(tmp_path: Path) -> None:
    folder = tmp_path / "clinic-profiles" / "programs"
    folder.mkdir(parents=True)
    (folder / "p.toml").write_text(GOOD, encoding="utf-8")
    config = parse_config('[profiles]\ndirs = ["clinic-profiles"]\n', tmp_path / "config.toml")
    assert load_program("p", config).stages[0].profile == "first-steps"
    with pytest.raises(ConfigError, match="no program named 'p'"):
        load_program("p")


def test_programs_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["programs", "list"]) == 0
    out = capsys.readouterr().out
    assert "knee-oa-6-weeks: Knee osteoarthritis" in out
    assert "18 sessions: knee-oa-week1 x3" in out
    assert main(["programs", "show", "patellofemoral-4-weeks"]) == 0
    out = capsys.readouterr().out
    assert "2. weeks 2-4: patellofemoral x9 (15:00 each)" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('name = "p"', 'name = "bad"').replace("sessions = 1", "x = 1"))
    assert main(["programs", "validate", str(bad)]) == 2
    assert "stage 2: unknown key 'x'" in capsys.readouterr().err
