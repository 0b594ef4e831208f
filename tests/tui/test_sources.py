"""The profile list the UI offers comes from the shipped, validated profiles."""

from __future__ import annotations

from textual.widgets import DataTable

from retro_treadmill.profiles import load_profile
from retro_treadmill.tui.app import RetroTreadmillApp
from retro_treadmill.tui.model import VIRTUAL_TREADMILL, ProfileInfo
from retro_treadmill.tui.sources import profile_choices
from tests.tui.fakes import FakeController


def test_profile_choices_list_the_shipped_profiles_that_run_under_the_default_caps() -> None:
    choices = {p.name: p for p in profile_choices()}
    assert "first-steps" in choices
    assert "athlete-deceleration" not in choices  # above the default cap: refused, not offered
    for info in choices.values():
        assert info.duration_s > 0
        assert 0 < info.speed_min_kmh <= info.speed_max_kmh
        assert info.incline_min_pct <= info.incline_max_pct
        assert load_profile(info.key).name == info.name  # the key loads the profile shown


def test_profile_info_from_profile_takes_ranges_and_duration() -> None:
    profile = load_profile("backward-hill")
    info = ProfileInfo.from_profile(profile, "backward-hill")
    assert (info.speed_min_kmh, info.speed_max_kmh) == profile.speed_range_kmh
    assert (info.incline_min_pct, info.incline_max_pct) == profile.incline_range_pct
    assert info.duration_s == profile.total_duration_s


async def test_profile_screen_lists_the_shipped_profiles_in_km_h() -> None:
    app = RetroTreadmillApp(
        FakeController(), devices=[VIRTUAL_TREADMILL], profiles=profile_choices, units="kmh"
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        names = [row[0] for row in rows]
        assert "first-steps" in names
        first_steps = rows[names.index("first-steps")]
        assert first_steps[2] == "1.3–1.6"  # 0.8-1.0 mph shown in km/h
        assert str(table.columns[table.ordered_columns[2].key].label) == "Speed km/h"
