"""The shipped quirks table, name-prefix matching and clinic overrides."""

from __future__ import annotations

from dataclasses import fields

import pytest

from retro_treadmill.errors import ConfigError
from retro_treadmill.ftms.quirks import (
    DeviceQuirks,
    load_quirks_table,
    merge_overrides,
    parse_quirks_table,
)


def test_shipped_table_sets_every_default_explicitly() -> None:
    table = load_quirks_table()
    assert set(table.defaults) == {f.name for f in fields(DeviceQuirks)} - {"name"}
    assert table.for_name("Some Treadmill") == DeviceQuirks()


def test_longest_prefix_wins_case_insensitively() -> None:
    table = load_quirks_table()
    assert table.for_name("myrun 1234").request_control_before_each_command
    walking_pad = table.for_name("KS-ST-A1P")
    assert walking_pad.wait_for_belt_before_speed
    assert walking_pad.settle_after_start_s == 0.0
    ph4 = table.for_name("KS-PH4-9A")
    assert ph4.settle_after_start_s == 2.5
    assert ph4.name == "Kingsmith PH4 / X21"
    assert table.for_name(None).name == "default"


def test_clinic_overrides_refine_an_entry_and_the_defaults() -> None:
    table = merge_overrides(
        load_quirks_table(),
        {"*": {"control_point_timeout_s": 5}, "JFTM T202": {"target_speed_in_mph": True}},
    )
    t202 = table.for_name("JFTM T202 001")
    assert t202.target_speed_in_mph
    assert t202.control_point_timeout_s == 5.0
    assert t202.speed_param_kmh_to_wire(1.609344) == pytest.approx(1.0)
    assert not table.for_name("JFTM PARAGON").target_speed_in_mph


def test_override_of_one_prefix_of_a_shared_entry_keeps_the_others() -> None:
    table = merge_overrides(load_quirks_table(), {"KS-": {"wait_for_belt_timeout_s": 30}})
    assert table.for_name("KS-1").wait_for_belt_timeout_s == 30.0
    assert table.for_name("KINGSMITH X").wait_for_belt_timeout_s == 15.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"defaults": {"wait_for_belt": True}}, "unknown quirk 'wait_for_belt'"),
        ({"defaults": {"unit_self_test": "yes"}}, "unit_self_test must be true or false"),
        ({"device": [{"name": "x", "name_prefix": "X", "busy_retries": -1}]}, "from 0 to 200"),
        ({"defaults": {"control_point_timeout_s": 0}}, "from 0.5 to 30 s, got 0"),
        ({"defaults": {"busy_retries": 1.5}}, "whole number"),
        ({"device": [{"name_prefix": "X"}]}, "needs a name"),
        ({"device": [{"name": "x", "name_prefix": 3}]}, "name_prefix must be"),
        ({"defaults": {"control_backoff_s": []}}, "non-empty list"),
        ({"extra": {}}, "unknown top-level keys"),
    ],
)
def test_bad_quirks_name_the_field(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_quirks_table(doc)
