"""Loading a profile: every mistake is refused with one clear message naming file, segment, field
and line; valid values are taken exactly as written (never clamped)."""

from __future__ import annotations

import dataclasses

import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.session.profile import DeviceRange, parse_profile
from retro_treadmill.units import mph_to_kmh

HEADER = """\
name = "x"
description = "A test profile."
audience = "tests"
units = "mph"
"""

GOOD = (
    HEADER
    + """
[[segments]]
kind = "warm-up"
direction = "backward"
speed = 1.0
duration_s = 60

[[segments]]
kind = "ramp"
direction = "backward"
speed = { from = 1.0, to = 1.4 }
incline = { from = 0, to = 2 }
duration_s = 120
prompt = "Ramp up"

[[segments]]
kind = "hold"
direction = "backward"
speed = 1.4
incline = 2
duration_s = 60
"""
)


def _error(text: str, path: str = "profiles/x.toml", **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_profile(text, path, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_valid_profile_keeps_values_exactly_in_kmh() -> None:
    profile = parse_profile(GOOD, "profiles/x.toml")
    ramp = profile.segments[1]
    assert ramp.speed_from_kmh == pytest.approx(mph_to_kmh(1.0))
    assert ramp.speed_to_kmh == pytest.approx(mph_to_kmh(1.4))
    assert (ramp.incline_from_pct, ramp.incline_to_pct) == (0.0, 2.0)
    assert ramp.prompt == "Ramp up"
    assert ramp.label == "segment 2 'ramp'"
    assert profile.total_duration_s == 240
    assert profile.source == "profiles/x.toml"


def test_kmh_profiles_are_not_converted() -> None:
    text = (
        GOOD.replace('units = "mph"', 'units = "kmh"').replace("1.4", "2.2").replace("1.0", "1.5")
    )
    profile = parse_profile(text)
    assert profile.units == "kmh"
    assert profile.speed_range_kmh == (1.5, 2.2)


def test_speed_over_the_default_cap_names_file_segment_field_line_and_config_key() -> None:
    error = _error(GOOD.replace("to = 1.4 }", "to = 2.2 }"))
    message = str(error)
    assert message.startswith(
        "profiles/x.toml: segment 2 'ramp': speed 2.2 mph exceeds the cap 1.5 mph"
    )
    assert "(line 15)" in message
    assert "allow_above_default_caps = true and max_speed_mph = 2.2" in message
    assert error.field == "segments[2].speed"
    assert error.path == "profiles/x.toml"


@pytest.mark.parametrize(
    ("old", "new", "expected", "field"),
    [
        # wrong types
        (
            "speed = 1.4\n",
            'speed = "fast"\n',
            "segment 3 'hold': speed must be a number or",
            "speed",
        ),
        (
            'duration_s = 60\n\n[[segments]]\nkind = "ramp"',
            'duration_s = 1.5\n\n[[segments]]\nkind = "ramp"',
            "segment 1 'warm-up': duration_s must be a whole number of seconds",
            "duration_s",
        ),
        ('prompt = "Ramp up"', "prompt = 3", "segment 2 'ramp': prompt must be a string", "prompt"),
        ("speed = 1.0\n", "speed = true\n", "speed must be a number or { from", "speed"),
        ("incline = 2\n", "incline = [2]\n", "incline must be a number", "incline"),
        # unknown keys, with the closest known key suggested
        (
            'prompt = "Ramp up"',
            'promt = "Ramp up"',
            "unknown key 'promt'; did you mean 'prompt'?",
            "promt",
        ),
        ("to = 1.4 }", "too = 1.4 }", "unknown key 'too'; did you mean 'to'?", "too"),
        ('kind = "hold"', 'kind = "hodl"', "is not a segment kind; did you mean 'hold'?", "kind"),
        # negative, zero durations
        (
            "duration_s = 120",
            "duration_s = -120",
            "duration_s must be above 0 seconds, got -120",
            "duration_s",
        ),
        (
            "duration_s = 120",
            "duration_s = 0",
            "duration_s must be above 0 seconds, got 0",
            "duration_s",
        ),
        # speeds and inclines outside the caps or below the running minimum
        ("speed = 1.4\n", "speed = 1.6\n", "speed 1.6 mph exceeds the cap 1.5 mph", "speed"),
        (
            "speed = 1.4\n",
            "speed = 0\n",
            "speed 0.0 mph is below the minimum running speed",
            "speed",
        ),
        ("speed = 1.4\n", "speed = -1\n", "speed -1.0 mph is below the minimum running", "speed"),
        ("incline = 2\n", "incline = 6\n", "incline 6 % exceeds the cap 5 %", "incline"),
        (
            "incline = 2\n",
            "incline = -1\n",
            "incline -1 % is below the lowest allowed 0 %",
            "incline",
        ),
        ("speed = 1.4\n", "speed = nan\n", "speed must be a finite number", "speed"),
        ("speed = 1.4\n", "speed = inf\n", "speed must be a finite number", "speed"),
        # kinds that contradict their values, missing fields, bad direction
        (
            "speed = 1.4\nincline = 2",
            "speed = { from = 1.4, to = 1.3 }\nincline = 2",
            "a hold keeps speed constant",
            "speed",
        ),
        (
            'direction = "backward"\nspeed = 1.4',
            "speed = 1.4",
            "segment 3 'hold': missing required key 'direction'",
            "direction",
        ),
        (
            'direction = "backward"\nspeed = 1.4',
            'direction = "sideways"\nspeed = 1.4',
            'direction must be "backward" or "forward"',
            "direction",
        ),
        ("from = 1.0, to = 1.4 }", "from = 1.0 }", "speed ramp is missing 'to'", "speed"),
    ],
)
def test_each_mistake_gives_one_clear_error(old: str, new: str, expected: str, field: str) -> None:
    assert old in GOOD
    error = _error(GOOD.replace(old, new, 1))
    assert str(error).startswith("profiles/x.toml: segment ")
    assert expected in str(error)
    assert error.field.endswith(f".{field}")
    assert "(line " in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the profile is empty"),
        ("# nothing but a comment\n", "the profile is empty"),
        (HEADER, "missing required key 'segments'"),
        (HEADER + "segments = []\n", "the profile has no segments"),
        (HEADER + 'segments = "none"\n', "segments must be an array of tables"),
        (GOOD.replace('units = "mph"', 'units = "m/s"'), 'units must be "mph" or "kmh"'),
        (GOOD.replace('units = "mph"\n', ""), "missing required key 'units'"),
        (GOOD.replace('name = "x"', 'name = "My Profile"'), "lowercase letters, digits"),
        (GOOD.replace('name = "x"', "name = 7"), "name must be a string, got 7"),
        (GOOD.replace('audience = "tests"', 'audience = " "'), "audience must not be empty"),
        (GOOD + "\nversion = 2\n", "unknown key 'version'"),
        ("name = \n", "not valid TOML: Invalid value (at line 1, column 8)"),
        (GOOD + "[limits]\nmax_sped = 1.2\n", "[limits]: unknown key 'max_sped'; did you mean"),
        (GOOD + "[limits]\nmax_speed = 0\n", "max_speed must be above 0"),
    ],
)
def test_file_level_mistakes(text: str, expected: str) -> None:
    assert expected in str(_error(text))


def test_unknown_top_level_key_is_located() -> None:
    error = _error(HEADER + "nmae = 1\n")
    assert "unknown key 'nmae'; did you mean 'name'? (line 5)" in str(error)


def test_ramp_steeper_than_the_rate_limit_says_how_long_it_must_be() -> None:
    error = _error(GOOD.replace("duration_s = 120", "duration_s = 10"))
    assert (
        "speed ramp 1.0 mph -> 1.4 mph in 10 s is steeper than the rate limit 0.1 mph per 5 s"
        in str(error)
    )
    assert "make duration_s at least 20" in str(error)
    incline_only = GOOD.replace("to = 1.4 }", "to = 1.0 }").replace("speed = 1.4", "speed = 1.0")
    error = _error(incline_only.replace("duration_s = 120", "duration_s = 15"))
    assert "incline ramp 0 -> 2 % in 15 s is steeper than the rate limit 0.5 % per 5 s" in str(
        error
    )
    assert "make duration_s at least 20" in str(error)


def test_start_speed_is_capped_at_the_start_and_after_every_turn() -> None:
    error = _error(GOOD.replace("speed = 1.0\n", "speed = 1.2\n", 1))
    assert "segment 1 'warm-up': speed starts at 1.2 mph at the start of the session" in str(error)
    assert "max_start_speed_mph = 1.2" in str(error)
    turned = GOOD.replace(
        'direction = "backward"\nspeed = 1.4', 'direction = "forward"\nspeed = 1.4'
    )
    error = _error(turned)
    assert "segment 3 'hold': speed starts at 1.4 mph after turning around" in str(error)


def test_profile_limits_and_clinic_caps_are_named_as_the_source() -> None:
    capped = GOOD + "\n[limits]\nmax_speed = 1.2\n"
    assert "(the profile's [limits] max_speed)" in str(_error(capped))
    clinic = dataclasses.replace(DEFAULT_LIMITS, max_speed_kmh=mph_to_kmh(1.2))
    error = _error(GOOD, limits=clinic)
    assert "exceeds the cap 1.2 mph (the clinic config's [safety] max_speed_mph)" in str(error)


def test_a_loosened_clinic_cap_lets_a_faster_profile_load() -> None:
    fast = GOOD.replace("1.4", "2.2")
    loose = dataclasses.replace(DEFAULT_LIMITS, max_speed_kmh=mph_to_kmh(2.5))
    assert parse_profile(fast, limits=loose).speed_range_kmh[1] == pytest.approx(mph_to_kmh(2.2))


def test_device_range_is_enforced_and_named() -> None:
    device = DeviceRange(min_speed_kmh=1.8, max_speed_kmh=6.0, max_incline_pct=1.0)
    error = _error(GOOD, device=device)
    assert "speed 1.0 mph is below the treadmill's minimum 1.12 mph" in str(error)
    device = DeviceRange(min_speed_kmh=0.5, max_speed_kmh=6.0, max_incline_pct=1.0)
    assert "incline 2 % exceeds the cap 1 % (the treadmill's maximum)" in str(
        _error(GOOD, device=device)
    )


INTERVALS = (
    HEADER
    + """
[[segments]]
kind = "interval"
repeats = 3

  [[segments.steps]]
  direction = "backward"
  speed = 1.0
  duration_s = 30
  prompt = "back"

  [[segments.steps]]
  direction = "forward"
  speed = { from = 1.0, to = 1.2 }
  duration_s = 60
"""
)


def test_interval_blocks_expand_into_repeated_steps() -> None:
    profile = parse_profile(INTERVALS)
    assert len(profile.segments) == 6
    assert [s.direction for s in profile.segments] == ["backward", "forward"] * 3
    assert [(s.repeat, s.step) for s in profile.segments] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
        (3, 1),
        (3, 2),
    ]
    assert profile.direction_changes == 5
    assert profile.total_duration_s == 270
    assert profile.segments[2].label == "segment 1 'interval' step 1, repeat 2"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("repeats = 3", "repeats = 0", "segment 1 'interval': repeats must be between 1 and 100"),
        ("repeats = 3", 'repeats = "3"', "repeats must be a whole number, got the string '3'"),
        ("repeats = 3\n", "", "missing required key 'repeats'"),
        ("duration_s = 30", "duration_s = -30", "segment 1 'interval' step 1: duration_s must be"),
        ("speed = 1.0\n", "speed = 1.0\nspead = 1\n", "step 1: unknown key 'spead'; did you mean"),
        ("repeats = 3\n", "repeats = 3\nspeed = 1.0\n", "put direction, speed, incline"),
    ],
)
def test_interval_mistakes_name_the_step(old: str, new: str, expected: str) -> None:
    assert expected in str(_error(INTERVALS.replace(old, new, 1)))


def test_interval_step_errors_carry_the_step_line() -> None:
    error = _error(INTERVALS.replace("duration_s = 60", "duration_s = -60"))
    assert "segment 1 'interval' step 2: duration_s must be above 0 seconds, got -60 (line 19)" in (
        str(error)
    )
    assert error.field == "segments[1].steps[2].duration_s"


# -- absurd values (issue 13): refused with file, segment, field and line ------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected", "field"),
    [
        (
            "duration_s = 120",
            "duration_s = 14401",
            "duration_s 14401 s is longer than a segment may be: at most 14400 s (4 h)",
            "duration_s",
        ),
        (
            'prompt = "Ramp up"',
            'prompt = "Ramp up\\u001b[2J"',
            "prompt contains the control character U+001B",
            "prompt",
        ),
        (
            'prompt = "Ramp up"',
            'prompt = "Ramp\\nup"',
            "prompt contains the control character U+000A",
            "prompt",
        ),
        (
            'prompt = "Ramp up"',
            'prompt = "Ramp up\\u009b31m"',
            "prompt contains the control character U+009B",
            "prompt",
        ),
    ],
)
def test_absurd_segment_values_are_refused(old: str, new: str, expected: str, field: str) -> None:
    assert old in GOOD
    error = _error(GOOD.replace(old, new, 1))
    assert str(error).startswith("profiles/x.toml: segment 2 'ramp': ")
    assert expected in str(error)
    assert error.field == f"segments[2].{field}"
    assert "(line " in str(error)


def test_a_segment_of_exactly_4_h_is_accepted() -> None:
    long_hold = GOOD.replace(
        "speed = 1.4\nincline = 2\nduration_s = 60", "speed = 1.4\nincline = 2\nduration_s = 14400"
    )
    assert parse_profile(long_hold).total_duration_s == 60 + 120 + 14400


def test_a_profile_over_8_h_is_refused() -> None:
    hold = (
        '\n[[segments]]\nkind = "hold"\ndirection = "backward"\nspeed = 1.0\nduration_s = 14400\n'
    )
    assert parse_profile(HEADER + hold * 2).total_duration_s == 8 * 3600
    error = _error(HEADER + hold * 2 + hold.replace("14400", "1"))
    assert "the profile lasts 8:00:01; at most 8 h" in str(error)
    assert error.field == "segments"


def test_a_profile_of_more_than_500_segments_is_refused() -> None:
    steps = "".join(
        '\n  [[segments.steps]]\n  direction = "backward"\n  speed = 1.0\n  duration_s = 1\n'
        for _ in range(6)
    )
    block = '\n[[segments]]\nkind = "interval"\nrepeats = 84\n' + steps
    assert len(parse_profile(HEADER + block.replace("84", "83")).segments) == 498
    error = _error(HEADER + block)
    assert "504 segments (intervals expanded); at most 500" in str(error)
    assert error.field == "segments"


@pytest.mark.parametrize("key", ["description", "audience"])
def test_control_characters_in_texts_shown_on_the_terminal_are_refused(key: str) -> None:
    value = {"description": "A test profile.", "audience": "tests"}[key]
    error = _error(GOOD.replace(f'"{value}"', f'"{value}\\u0007"', 1))
    assert f"{key} contains the control character U+0007" in str(error)
    multi_line = GOOD.replace(
        'description = "A test profile."', 'description = """A test\nprofile."""'
    )
    assert parse_profile(multi_line).description.startswith("A test")
