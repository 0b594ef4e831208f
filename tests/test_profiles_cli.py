"""The shipped profiles and ``retro-treadmill profiles list|show|validate``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from retro_treadmill.cli import main
from retro_treadmill.config import CONFIG_ENV, parse_config
from retro_treadmill.errors import ConfigError
from retro_treadmill.profiles import (
    load_profile,
    profile_paths,
    read_profile,
    resolve_profile,
    shipped_profiles_dir,
)
from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.session.profile import Profile, parse_profile
from retro_treadmill.units import kmh_to_mph

ATHLETE = "athlete-deceleration"
ATHLETE_CONFIG = "[safety]\nallow_above_default_caps = true\nmax_speed_mph = 3.0\n"
SHIPPED = sorted(p.stem for p in profile_paths())


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.fixture
def athlete_config(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_text(ATHLETE_CONFIG)
    return path


def test_the_required_presets_are_shipped() -> None:
    assert shipped_profiles_dir() == Path(__file__).resolve().parents[1] / "profiles"
    for name in (
        "first-steps",
        "patellofemoral",
        "backward-hill",
        "interval-mix",
        ATHLETE,
        "demo",
        *(f"knee-oa-week{w}" for w in range(1, 7)),
    ):
        assert name in SHIPPED


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != ATHLETE])
def test_every_shipped_profile_loads_under_the_default_caps(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert re.search(r"[Dd]rawn from .*\b(19|20)\d\d\b", profile.description, re.S)
    assert profile.speed_range_kmh[1] <= DEFAULT_LIMITS.max_speed_kmh + 1e-9
    assert profile.incline_range_pct[1] <= DEFAULT_LIMITS.max_incline_pct


def test_athlete_profile_is_refused_by_default_and_the_error_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile(ATHLETE)
    message = str(info.value)
    assert "profiles/athlete-deceleration.toml: segment 3 'interval' step 1: speed 3.0 mph" in (
        message
    )
    assert "allow_above_default_caps = true and max_speed_mph = 3.0" in message


def test_following_the_hint_literally_makes_the_athlete_profile_load() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile(ATHLETE)
    hint = re.search(r"needs (\w+) = true and (\w+) = ([\d.]+) in its \[safety\]", str(info.value))
    assert hint is not None
    config = parse_config(f"[safety]\n{hint[1]} = true\n{hint[2]} = {hint[3]}\n")
    profile = load_profile(ATHLETE, config)
    assert kmh_to_mph(profile.speed_range_kmh[1]) == pytest.approx(3.0)


def test_presets_match_their_descriptions() -> None:
    first = load_profile("first-steps")
    assert 240 <= first.total_duration_s <= 360
    assert kmh_to_mph(first.speed_range_kmh[1]) == pytest.approx(1.0)
    minutes = [load_profile(f"knee-oa-week{w}").total_duration_s / 60 for w in range(1, 7)]
    assert minutes == [10, 14, 18, 22, 26, 30]
    assert load_profile("backward-hill").incline_range_pct == (0.0, 5.0)
    mix = load_profile("interval-mix")
    assert mix.direction_changes >= 2
    assert {s.direction for s in mix.segments} == {"backward", "forward"}
    assert load_profile("demo").total_duration_s <= 150


INVALID = {
    "wrong-type.toml": ('speed = "fast"', "segment 1 'hold': speed must be a number"),
    "unknown-key.toml": ("sped = 1.0", "segment 1 'hold': unknown key 'sped'; did you mean"),
    "over-cap.toml": ("speed = 2.2", "segment 1 'hold': speed 2.2 mph exceeds the cap 1.5 mph"),
    "negative.toml": ("speed = 1.0\nduration_s = -60", "duration_s must be above 0 seconds"),
}
BODY = """name = "bad"
description = "Invalid on purpose."
audience = "tests"
units = "mph"

[[segments]]
kind = "hold"
direction = "backward"
{line}
"""


def _write_invalid(folder: Path) -> dict[Path, str]:
    written = {}
    for file, (line, expected) in INVALID.items():
        body = BODY.format(line=line if "duration_s" in line else f"{line}\nduration_s = 60")
        (folder / file).write_text(body)
        written[folder / file] = expected
    (folder / "empty.toml").write_text("")
    written[folder / "empty.toml"] = "the profile is empty"
    return written


def test_validate_gives_one_clear_error_per_invalid_file_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = _write_invalid(tmp_path)
    for path, expected in written.items():
        assert main(["profiles", "validate", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"invalid: {path}")
        assert expected in lines[0]
    good = shipped_profiles_dir() / "demo.toml"
    assert main(["profiles", "validate", str(good), *map(str, written)]) == 2
    out, err = capsys.readouterr()
    assert "ok: " in out
    assert "demo, 2:00" in out
    assert len(err.strip().splitlines()) == len(written)


def test_validate_exits_0_for_valid_files_and_respects_config(
    athlete_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    athlete = str(shipped_profiles_dir() / f"{ATHLETE}.toml")
    valid = [str(p) for p in profile_paths() if p.stem != ATHLETE]
    assert main(["profiles", "validate", *valid]) == 0
    assert capsys.readouterr().out.count("ok: ") == len(valid)
    assert main(["profiles", "validate", athlete]) == 2
    assert "allow_above_default_caps" in capsys.readouterr().err
    assert main(["profiles", "validate", "--config", str(athlete_config), athlete]) == 0


def test_a_bad_config_is_exit_2_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[safety]\nmax_speed_mph = 2.0\n")
    assert main(["profiles", "validate", "--config", str(config), "demo"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: [safety]: max_speed_mph = 2.0 is beyond the built-in default" in err
    assert "(line 2)" in err


def test_list_shows_every_profile_in_the_chosen_units(
    athlete_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profiles", "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert re.search(rf"^{re.escape(name)}\s", out, re.M)
    assert re.search(r"^first-steps\s+5:00\s+0\.8-1\.0\s+0\s+shipped\s+A first", out, re.M)
    assert re.search(r"^backward-hill\s+16:00\s+0\.8-1\.2\s+0-5\s", out, re.M)
    assert "[not allowed by built-in defaults] Athlete" in out
    assert main(["profiles", "list", "--units", "kmh", "--config", str(athlete_config)]) == 0
    out = capsys.readouterr().out
    assert "SPEED (km/h)" in out
    assert re.search(r"^athlete-deceleration\s+20:00\s+1\.61-4\.83\s", out, re.M)
    assert "not allowed" not in out


def test_show_lists_segments_and_turn_around_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", "interval-mix"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("interval-mix  (")
    assert "Hooper" in out
    stops = re.findall(r"^\s+-- stop --\s+turn (?:backward|forward)\s+0\s+turn around$", out, re.M)
    assert len(stops) == load_profile("interval-mix").direction_changes
    assert re.search(r"^2\s+interval round 1/4\s+backward\s+1\.0 -> 1\.2\s", out, re.M)
    assert main(["profiles", "show", ATHLETE]) == 0
    out = capsys.readouterr().out
    assert "NOT ALLOWED BY built-in defaults" in out
    assert "allow_above_default_caps" in out


def test_unknown_profile_name_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", "frist-steps"]) == 2
    err = capsys.readouterr().err
    assert "no profile named 'frist-steps'; known profiles: " in err
    assert "first-steps" in err
    with pytest.raises(ConfigError):
        resolve_profile("missing/file.toml")


def test_clinic_profile_dirs_are_searched(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    text = (shipped_profiles_dir() / "demo.toml").read_text().replace('"demo"', '"clinic-demo"')
    (own / "clinic-demo.toml").write_text(text)
    config = parse_config('[profiles]\ndirs = ["own"]\n', tmp_path / "config.toml")
    assert load_profile("clinic-demo", config).name == "clinic-demo"
    assert read_profile(own / "clinic-demo.toml").source.endswith("clinic-demo.toml")


def test_console_script_validate_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "retro_treadmill", "profiles", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2
    assert "the profile is empty" in result.stderr


def _readme_blocks() -> list[str]:
    text = (shipped_profiles_dir() / "README.md").read_text()
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_the_documented_profile_example_validates() -> None:
    example = _readme_blocks()[0]
    profile = read_profile_text(example)
    assert profile.name == "my-ramp"
    assert len(profile.segments) == 2 + 3 * 2 + 1


def test_the_documented_config_example_loads(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-")
    (tmp_path / "clinic-profiles").mkdir()
    config = parse_config(_readme_blocks()[1], tmp_path / "config.toml")
    assert kmh_to_mph(config.limits.max_speed_kmh) == pytest.approx(1.2)
    assert config.mqtt["treadmill_id"] == "treadmill-1"


def read_profile_text(text: str) -> Profile:
    return parse_profile(text, "README.md")


# -- issue 13: clinic copies win, sources shown, file names, size --------------------------------


def _clinic_copy_of_demo(tmp_path: Path) -> Path:
    own = tmp_path / "own"
    own.mkdir()
    text = (shipped_profiles_dir() / "demo.toml").read_text()
    text = text.replace("Two-minute demonstration", "The clinic's own two-minute demonstration")
    (own / "demo.toml").write_text(text)
    config = tmp_path / "config.toml"
    config.write_text('[profiles]\ndirs = ["own"]\n')
    return config


def test_a_clinic_copy_of_a_shipped_profile_wins_and_is_listed_once_with_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = _clinic_copy_of_demo(tmp_path)
    config = parse_config(config_path.read_text(), config_path)
    clinic_demo = tmp_path / "own" / "demo.toml"
    assert resolve_profile("demo", config) == clinic_demo
    assert load_profile("demo", config).description.startswith("The clinic's own")
    assert main(["profiles", "list", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "SOURCE" in header
    demo_rows = [line for line in out.splitlines() if re.match(r"^demo\s", line)]
    assert len(demo_rows) == 1, out
    assert "clinic (replaces shipped)" in demo_rows[0]
    assert "The clinic's own" in demo_rows[0]
    first = next(line for line in out.splitlines() if line.startswith("first-steps "))
    assert " shipped " in first
    assert main(["profiles", "show", "demo", "--config", str(config_path)]) == 0
    assert "own/demo.toml" in capsys.readouterr().out


def test_the_ui_offers_the_clinic_copy_once(tmp_path: Path) -> None:
    from retro_treadmill.tui.sources import profile_choices

    config_path = _clinic_copy_of_demo(tmp_path)
    config = parse_config(config_path.read_text(), config_path)
    demos = [p for p in profile_choices(config) if p.name == "demo"]
    assert [p.key for p in demos] == [str(tmp_path / "own" / "demo.toml")]


def test_validate_refuses_a_profile_whose_name_is_not_its_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my-ramp.toml"
    path.write_text((shipped_profiles_dir() / "demo.toml").read_text())  # name = "demo"
    assert main(["profiles", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"invalid: {path}: ")
    assert "name 'demo' differs from the file name 'my-ramp'" in err
    assert "(line 2)" in err


def test_a_profile_file_over_1_mb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    text = (shipped_profiles_dir() / "demo.toml").read_text().replace('"demo"', '"big"')
    path.write_text(text + "#" * (1024 * 1024))
    with pytest.raises(ConfigError, match=r"the file is .* MB; a profile is at most 1 MB"):
        read_profile(path)
