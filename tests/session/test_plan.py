"""The speed plan: the profile's speeds as the treadmill will run them, shown before the
preflight; a difference above 0.05 mph is for the operator to accept; a profile that cannot run
is refused with a way forward that exists."""

from __future__ import annotations

from retro_treadmill.profiles import load_profile, shipped_profiles_dir
from retro_treadmill.safety.commands import DeviceRanges
from retro_treadmill.session.engine import SessionEngine
from retro_treadmill.session.plan import CONSTANT_SPEED_PROFILE, STEP_QUIRK, display_speed
from retro_treadmill.units import mph_to_kmh

SPEC = DeviceRanges(min_speed_kmh=0.5, max_speed_kmh=12.0, speed_increment_kmh=0.1)
LENIENT = DeviceRanges(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_increment_kmh=0.5)
UREVO = DeviceRanges(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_increment_kmh=0.32)
UREVO_REAL_STEPS = DeviceRanges(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_increment_kmh=0.16)


def plan_for(name: str, device: DeviceRanges):  # type: ignore[no-untyped-def]
    engine = SessionEngine(load_profile(name), device=device)
    return engine.speed_plan()


def test_display_speeds_are_rounded_to_the_nearest_tenth() -> None:
    assert display_speed(mph_to_kmh(0.8), "mph") == "0.8"
    assert display_speed(1.60, "mph") == "1.0"  # 0.994 mph, the wire's floor of 1.0 mph
    assert display_speed(1.2, "mph") == "0.7"  # 0.746 mph really is 0.7
    assert display_speed(1.3, "mph") == "0.8"
    assert display_speed(1.25, "kmh") == "1.3"


def test_on_a_fine_stepped_treadmill_nothing_needs_accepting() -> None:
    for name in ("first-steps", "demo", "knee-oa-week6", "backward-hill", CONSTANT_SPEED_PROFILE):
        plan = plan_for(name, SPEC)
        assert not plan.refusal, name
        assert not plan.needs_acceptance, (name, plan.lines("mph"))
        assert plan.worst_kmh <= 0.05 + 1e-9  # half a 0.1 km/h step at most


def test_on_half_kmh_steps_a_ramp_is_refused_naming_a_profile_that_exists() -> None:
    plan = plan_for("demo", LENIENT)
    assert plan.refusal.startswith("cannot start: the treadmill changes speed in steps of 0.5")
    assert f"'{CONSTANT_SPEED_PROFILE}'" in plan.refusal
    assert (shipped_profiles_dir() / f"{CONSTANT_SPEED_PROFILE}.toml").is_file()
    assert f"{STEP_QUIRK} = 0.16" in plan.refusal
    rows = plan.lines("mph")
    assert "prescribed  1.0->1.2 mph  runs  0.9->1.2 mph  (differs)" in rows[1]


def test_the_constant_speed_profile_runs_on_half_kmh_steps_once_the_difference_is_accepted() -> (
    None
):
    plan = plan_for(CONSTANT_SPEED_PROFILE, LENIENT)
    assert not plan.refusal
    assert plan.needs_acceptance
    assert round(plan.worst_kmh, 3) == round(mph_to_kmh(1.0) - 1.5, 3)
    assert "up to 0.07 mph away from the prescription" in plan.acceptance_item("mph")
    assert all("runs       0.9 mph  (differs)" in row for row in plan.lines("mph"))


def test_urevo_reports_coarse_steps_and_its_real_steps_let_every_ramp_run() -> None:
    assert plan_for("first-steps", UREVO).refusal
    for name in ("first-steps", "demo", "knee-oa-week3", "backward-hill"):
        plan = plan_for(name, UREVO_REAL_STEPS)
        assert not plan.refusal, name
        assert not plan.needs_acceptance, (name, plan.lines("mph"))


def test_interval_repeats_are_listed_once() -> None:
    plan = plan_for("interval-mix", SPEC)
    labels = [s.label for s in plan.segments]
    assert len(labels) == len(set(labels))
