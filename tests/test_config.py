"""The clinic config: tightening always works, loosening only with the explicit key, and every
mistake names file, table, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retro_treadmill.config import (
    CONFIG_ENV,
    SAFETY_KEYS,
    ClinicConfig,
    load_config,
    parse_config,
)
from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS
from retro_treadmill.units import mph_to_kmh


@pytest.fixture(autouse=True)
def _isolated_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def _error(text: str, path: Path | str = "clinic.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path)
    return str(info.value)


def test_no_config_file_means_the_built_in_defaults() -> None:
    config = load_config()
    assert config == ClinicConfig()
    assert config.limits == DEFAULT_LIMITS
    assert config.source == "built-in defaults"


def test_the_default_location_and_the_environment_variable_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "xdg" / "retro-treadmill" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("[safety]\nmax_speed_mph = 1.2\n")
    assert load_config().limits.max_speed_kmh == pytest.approx(mph_to_kmh(1.2))
    other = tmp_path / "other.toml"
    other.write_text("[safety]\nmax_speed_mph = 1.1\n")
    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert load_config().limits.max_speed_kmh == pytest.approx(mph_to_kmh(1.1))
    assert load_config(default).path == default


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value).startswith(f"{missing}: no such config file")


def test_tightening_needs_no_permission() -> None:
    config = parse_config(
        "[safety]\nmax_speed_mph = 1.2\nmax_incline_pct = 3\ntelemetry_timeout_s = 2\n"
        "min_running_speed_kmh = 1.0\ncountdown_s = 10\n"
    )
    limits = config.limits
    assert limits.max_speed_kmh == pytest.approx(mph_to_kmh(1.2))
    assert limits.max_incline_pct == 3.0
    assert limits.telemetry_timeout_s == 2.0
    assert limits.min_running_speed_kmh == 1.0
    assert limits.countdown_s == 10.0
    assert config.loosened == frozenset()


def test_loosening_a_cap_without_the_explicit_key_is_refused_with_the_line() -> None:
    message = _error("# clinic\n[safety]\nmax_speed_mph = 3.0\n")
    assert message == (
        "clinic.toml: [safety]: max_speed_mph = 3.0 is beyond the built-in default 1.5 mph; "
        "loosening a default needs allow_above_default_caps = true in [safety] as well (line 3)"
    )


def test_loosening_with_the_explicit_key_raises_only_that_cap() -> None:
    config = parse_config(
        "[safety]\nallow_above_default_caps = true\nmax_speed_mph = 3.0\nmax_incline_pct = 4\n"
    )
    assert config.limits.max_speed_kmh == pytest.approx(mph_to_kmh(3.0))
    assert config.limits.max_incline_pct == 4.0
    assert config.limits.max_start_speed_kmh == DEFAULT_LIMITS.max_start_speed_kmh
    assert config.loosened == frozenset({"max_speed_kmh"})


def test_rate_limits_and_timeouts_can_never_be_loosened() -> None:
    message = _error("[safety]\nallow_above_default_caps = true\ntelemetry_timeout_s = 10\n")
    assert "telemetry_timeout_s = 10 is less strict than the built-in default 3" in message
    assert "can only be tightened (line 3)" in message
    assert "can only be tightened" in _error("[safety]\nspeed_increase_mph = 0.5\n")
    assert "can only be tightened" in _error("[safety]\ncountdown_s = 1\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[safety]\nmax_sped_mph = 1\n",
            "[safety]: unknown key 'max_sped_mph'; did you mean 'max_speed_mph'? (line 2)",
        ),
        ("[saftey]\n", "unknown table or key 'saftey'; did you mean [safety]? (line 1)"),
        ('[safety]\nmax_speed_mph = "fast"\n', "max_speed_mph must be a finite number"),
        (
            "[safety]\nmax_speed_mph = 1.2\nmax_speed_kmh = 2\n",
            "'max_speed_kmh' and 'max_speed_mph' set the same limit; keep one (line 3)",
        ),
        (
            "[safety]\nallow_above_default_caps = true\nmax_speed_mph = 15\n",
            "outside the sane range for this setting; check for a typo",
        ),
        ("[safety]\nmax_speed_mph = 0\n", "max_speed_mph must be above 0"),
        ("[safety]\nmin_running_speed_mph = 1.4\nmax_speed_mph = 1.2\n", "no speed is left"),
        (
            '[safety]\nallow_above_default_caps = "yes"\n',
            "allow_above_default_caps must be true or false",
        ),
        ("safety = 3\n", "'safety' must be a table ([safety]) (line 1)"),
        ("[safety\n", "not valid TOML"),
        ("[quirks]\nURTM = 1\n", 'quirks."URTM" must be a table of quirk settings'),
        ('[mqtt]\nurl = "http://broker"\n', "url must start with mqtt:// or mqtts://"),
        ('[mqtt]\ndiscovery = "no"\n', "[mqtt]: discovery must be true or false"),
        ("[mqtt]\nkeepalive_s = true\n", "keepalive_s must be a whole number"),
        ('[mqtt]\ntreadmil_id = "a"\n', "did you mean 'treadmill_id'?"),
        ('[mqtt]\nca_file = "missing-ca.pem"\n', "missing-ca.pem' does not exist (line 2)"),
        ('[profiles]\ndirs = "x"\n', "dirs must be an array of folder paths"),
        ('[quirks."URTM"]\nwait_for_belt = true\n', "[quirks.URTM]: unknown quirk 'wait_for_belt'"),
        ('[quirks."*"]\nstop_retries = -1\n', "stop_retries must be from 1 to 10, got -1 (line 2)"),
        # every timeout and count has a sane range: 0 s turned every session into an alarm
        (
            '[quirks."*"]\ncontrol_point_timeout_s = 0\n',
            "[quirks.*]: control_point_timeout_s must be from 0.5 to 30 s, got 0 (line 2)",
        ),
        ('[quirks."URTM"]\nwait_for_belt_timeout_s = 0\n', "from 1 to 120 s, got 0 (line 2)"),
        ('[quirks."*"]\nbusy_retry_s = 0\n', "busy_retry_s must be from 0.01 to 5 s"),
        ('[quirks."*"]\ncontrol_backoff_s = [0.5, 0]\n', "control_backoff_s must be"),
        ('[quirks."*"]\nsettle_after_start_s = 600\n', "settle_after_start_s must be from 0 to"),
        ('[quirks."*"]\nstop_retries = 0\n', "stop_retries must be from 1 to 10"),
        ('[quirks."*"]\nbusy_retries = 100000\n', "busy_retries must be from 0 to"),
        ('[quirks."*"]\ncontrol_point_timeout_s = "3"\n', "must be a number"),
        # [mqtt] is checked even without a url (it may come from --mqtt later)
        ("[mqtt]\ntelemetry_rate_hz = 0\n", "[mqtt]: telemetry_rate_hz"),
        ("[mqtt]\nevent_queue_size = 0\n", "[mqtt]: event_queue_size"),
        ("[mqtt]\nkeepalive_s = -5\n", "[mqtt]: keepalive_s"),
        ('[mqtt]\ntreadmill_id = "a b"\n', "treadmill id 'a b' must be 1-64 letters"),
        (
            '[mqtt]\nurl = "mqtt://h/p"\ntreadmill_id = "a b"\n',
            "treadmill id 'a b' must be 1-64 letters, digits, '_' or '-' (line 3)",
        ),
        ('[mqtt]\nurl = "mqtt://u:pw@h:99999/p"\n', "invalid MQTT URL"),
    ],
)
def test_config_mistakes_name_table_key_and_line(text: str, expected: str) -> None:
    message = _error(text)
    assert message.startswith("clinic.toml: ")
    assert expected in message


def test_quirk_values_at_the_edges_of_their_ranges_load() -> None:
    text = (
        '[quirks."*"]\ncontrol_point_timeout_s = 0.5\nsettle_after_start_s = 0\n'
        "wait_for_belt_timeout_s = 120\ncontrol_backoff_s = [0.05, 30]\nstop_retries = 1\n"
        "control_retries = 0\nbusy_retries = 0\n"
    )
    assert parse_config(text, "clinic.toml").quirks["*"]["control_point_timeout_s"] == 0.5


def test_quirks_and_mqtt_are_passed_on(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not checked here")
    (tmp_path / "mine").mkdir()
    config = parse_config(
        '[quirks."URTM"]\nwait_for_belt_before_speed = true\n'
        '[quirks."*"]\ncontrol_point_timeout_s = 4.0\n'
        '[mqtt]\nurl = "mqtts://broker.local:8883/clinic"\ntreadmill_id = "tm-1"\n'
        'ca_file = "ca.pem"\ndiscovery = false\ntelemetry_rate_hz = 1\n'
        '[profiles]\ndirs = ["mine"]\n',
        tmp_path / "config.toml",
    )
    assert config.quirks["URTM"]["wait_for_belt_before_speed"] is True
    assert config.quirks["*"]["control_point_timeout_s"] == 4.0
    assert config.mqtt["url"] == "mqtts://broker.local:8883/clinic"
    assert config.mqtt["treadmill_id"] == "tm-1"
    options = config.mqtt_options()
    assert options == {
        "ca_file": tmp_path / "ca.pem",
        "discovery": False,
        "telemetry_rate_hz": 1,
    }
    assert config.profile_dirs == (tmp_path / "mine",)


_CAP_KEYS = sorted(SAFETY_KEYS)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(_CAP_KEYS),
        st.floats(-10, 20, allow_nan=False).map(lambda v: round(v, 2)),
        max_size=5,
    ),
    st.booleans(),
)
def test_effective_limits_only_loosen_with_the_explicit_key(
    values: dict[str, float], allow: bool
) -> None:
    lines = ["[safety]", f"allow_above_default_caps = {str(allow).lower()}"]
    lines += [f"{key} = {value!r}" for key, value in values.items()]
    try:
        config = parse_config("\n".join(lines) + "\n")
    except ConfigError as error:
        assert str(error).startswith("<config>: ")  # noqa: PT017
        return
    for key, spec in SAFETY_KEYS.items():
        effective = getattr(config.limits, spec.field)
        default = getattr(DEFAULT_LIMITS, spec.field)
        looser = (
            effective > default + 1e-9 if spec.stricter == "lower" else effective < default - 1e-9
        )
        if looser:
            assert allow, key
            assert spec.loosenable, key
            assert spec.field in config.loosened


def test_a_heart_rate_limit_is_a_tightening_and_needs_no_permission() -> None:
    # No limit by default: setting one is always a tightening; lowering it again too.
    config = parse_config("[safety]\nmax_heart_rate_bpm = 120\n")
    assert config.limits.max_heart_rate_bpm == 120.0
    assert config.loosened == frozenset()
    assert DEFAULT_LIMITS.tightened_by(config.limits).max_heart_rate_bpm == 120.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_heart_rate_bpm = 0", "max_heart_rate_bpm must be above 0, got 0 (line 2)"),
        ("max_heart_rate_bpm = 1200", "max_heart_rate_bpm = 1200 is outside the sane range"),
        ("max_heart_rate_bpm = 'high'", "max_heart_rate_bpm must be a finite number"),
        ("max_heart_rate_bpm = inf", "max_heart_rate_bpm must be a finite number"),
        ("max_heartrate_bpm = 120", "did you mean 'max_heart_rate_bpm'?"),
    ],
)
def test_a_bad_heart_rate_limit_is_refused_with_the_line(text: str, expected: str) -> None:
    assert expected in _error(f"[safety]\n{text}\n")


def test_heart_rate_hold_and_lost_times_are_tighten_only_clinic_keys() -> None:
    config = parse_config(
        "[safety]\nhr_hold_above_bpm = 125\nhr_lost_after_s = 3\nhr_slow_after_s = 20\n"
        "hr_stop_after_s = 40\n"
    )
    limits = config.limits
    assert (limits.hr_hold_above_bpm, limits.hr_lost_after_s) == (125.0, 3.0)
    assert (limits.hr_slow_after_s, limits.hr_stop_after_s) == (20.0, 40.0)
    assert limits.heart_rate_limited
    assert not DEFAULT_LIMITS.heart_rate_limited


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hr_stop_after_s = 90", "hr_stop_after_s = 90 is less strict than the built-in default"),
        ("hr_lost_after_s = 10", "can only be tightened"),
        ("hr_hold_above_bpm = 20", "outside the sane range"),
        (
            "hr_slow_after_s = 30\nhr_stop_after_s = 20",
            "the belt must slow before it stops",
        ),
    ],
)
def test_a_looser_heart_rate_lost_time_is_refused(text: str, expected: str) -> None:
    assert expected in _error(f"[safety]\n{text}\n")


def test_no_start_speed_left_between_the_minimum_and_the_start_cap_is_a_config_error() -> None:
    # min_running_speed 1.2 mph (a tightening) above the 1.0 mph start cap: nothing could start.
    message = _error("[safety]\nmin_running_speed_mph = 1.2\n")
    assert "start speed" in message
    assert "(line 2)" in message


def test_a_quirk_turns_the_unit_self_test_off_only_with_the_clinics_permission(
    tmp_path: Path,
) -> None:
    # Issue 13: the units self-test is a safety rule; a quirk may not quietly turn it off.
    with pytest.raises(ConfigError, match="allow_above_default_caps") as refused:
        parse_config('[quirks."URTM"]\nunit_self_test = false\n', tmp_path / "config.toml")
    assert "unit_self_test" in str(refused.value)
    config = parse_config(
        '[safety]\nallow_above_default_caps = true\n[quirks."URTM"]\nunit_self_test = false\n',
        tmp_path / "config.toml",
    )
    assert config.quirks["URTM"]["unit_self_test"] is False
    # Turning it on (or leaving it) needs nothing.
    parse_config('[quirks."*"]\nunit_self_test = true\n', tmp_path / "config.toml")
