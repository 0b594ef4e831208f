"""Honest about what the treadmill can do (issue 13, point 5), through the real CLI: the speeds the
treadmill will run, on its steps, beside the prescription before the preflight; a difference above
0.05 mph for the operator to accept; a profile it cannot run refused before the preflight with a
way forward that exists."""

from __future__ import annotations

from pathlib import Path

from retro_treadmill.profiles import shipped_profiles_dir
from tests.e2e.conftest import FAULT_SCALE, CliRun, run_cli

HEADLESS = ["--headless", "--time-scale", f"{FAULT_SCALE * 2:g}"]


def started_anything(run: CliRun) -> bool:
    return any(r["command"] in ("start", "set-target-speed") for r in run.writes)


def test_a_ramp_on_half_kmh_steps_is_refused_before_the_preflight_naming_a_real_profile(
    tmp_path: Path,
) -> None:
    run = run_cli(
        ["run", "--profile", "demo", "--simulate=lenient", *HEADLESS, "--yes-preflight"],
        tmp_path / "events.jsonl",
        timeout=60,
    )
    assert run.code == 2, run.explain()
    assert "Preflight checklist" not in run.stdout  # refused before, not after
    assert "prescribed  1.0->1.2 mph  runs  0.9->1.2 mph  (differs)" in run.stdout
    assert "the shipped 'steady' (--profile steady)" in run.stderr
    assert (shipped_profiles_dir() / "steady.toml").is_file()
    assert not started_anything(run)


def test_urevo_steps_refuse_a_ramp_before_the_preflight_naming_the_quirk_for_this_treadmill(
    tmp_path: Path,
) -> None:
    run = run_cli(
        ["run", "--profile", "first-steps", "--simulate=urevo-e1l", *HEADLESS, "--yes-preflight"],
        tmp_path / "events.jsonl",
        timeout=60,
    )
    assert run.code == 2, run.explain()
    assert "Preflight checklist" not in run.stdout
    assert 'speed_increment_kmh = 0.16 in its [quirks."RetroSim FTMS"] table' in run.stderr
    assert not started_anything(run)


def test_urevo_with_its_real_step_runs_a_ramp_and_shows_speeds_to_a_tenth(tmp_path: Path) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text('[quirks."RetroSim"]\nspeed_increment_kmh = 0.16\n')
    run = run_cli(
        [
            "run",
            "--profile",
            "demo",
            "--simulate=urevo-e1l",
            *HEADLESS,
            "--yes-preflight",
            "--config",
            str(config),
        ],
        tmp_path / "events.jsonl",
        timeout=90,
    )
    assert run.code == 0, run.explain()
    assert "Speeds on this treadmill (its steps: 0.16 km/h)" in run.stdout
    assert "prescribed  1.0->1.2 mph  runs  1.0->1.2 mph\n" in run.stdout
    assert "target 1.0 mph belt 1.0 mph" in run.stdout  # 1.0 shows "1.0", never "0.99"
    assert "0.99" not in run.stdout
    assert "(belt 0.0 mph; exit code 0: completed)" in run.stdout


def test_a_difference_above_005_mph_is_asked_and_declining_starts_nothing(tmp_path: Path) -> None:
    # A data folder of its own, never screened: a script cannot answer the screening, so the
    # spotter item is required too (issue 16, fail closed). The four items and the spotter are
    # ticked; the speeds are asked last and declined.
    data = ["--data-dir", str(tmp_path / "data")]
    run = run_cli(
        ["run", "--profile", "steady", "--simulate=lenient", *HEADLESS, *data],
        tmp_path / "events.jsonl",
        stdin_text="y\ny\ny\ny\ny\nn\n",
        timeout=60,
    )
    assert run.code == 3, run.explain()
    out = run.stdout
    assert out.index("runs       0.9 mph  (differs)") < out.index("Preflight checklist")
    spotter = out.index("A spotter stands beside the treadmill, within reach of the walker")
    accept = "The speeds this treadmill runs are accepted (its steps of 0.5 km/h are up to "
    asked = out.index(accept)
    assert spotter < asked
    assert "0.07 mph away from the prescription)? [y/N]" in out
    assert "Preflight not confirmed: nothing started." in out
    assert not started_anything(run)
    plan = run.kinds("speed-plan")
    assert plan[0]["needs_acceptance"] is True
