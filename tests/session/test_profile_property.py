"""Property: a profile that validates never has a segment outside the effective caps.

Random limits (tightened or loosened clinic caps), random device ranges and random profile files
(mostly near the caps, with interval blocks and turns) are generated as TOML text; whenever
:func:`parse_profile` accepts one, every segment is checked against every cap.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retro_treadmill.errors import ConfigError
from retro_treadmill.safety.limits import DEFAULT_LIMITS, SafetyLimits
from retro_treadmill.session.profile import DeviceRange, Profile, parse_profile
from retro_treadmill.units import to_kmh

EPS = 1e-9
KINDS = ("warm-up", "ramp", "hold", "cool-down")


def _num(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False).map(lambda v: round(v, 2))


limits_strategy = st.builds(
    lambda speed, start, run, inc_max, inc_min, rate, inc_rate: dataclasses.replace(
        DEFAULT_LIMITS,
        max_speed_kmh=speed,
        max_start_speed_kmh=start,
        min_running_speed_kmh=run,
        max_incline_pct=inc_max,
        min_incline_pct=inc_min,
        speed_increase_kmh=rate,
        incline_change_pct=inc_rate,
    ),
    _num(1.0, 5.0),
    _num(0.8, 2.0),
    _num(0.3, 1.0),
    _num(0.0, 8.0),
    _num(-3.0, 0.5),
    _num(0.05, 0.4),
    _num(0.1, 1.0),
)

device_strategy = st.none() | st.builds(
    DeviceRange,
    min_speed_kmh=_num(0.2, 1.5),
    max_speed_kmh=_num(2.0, 8.0),
    min_incline_pct=st.none() | _num(-3.0, 0.0),
    max_incline_pct=st.none() | _num(1.0, 10.0),
)

# Biased towards plausible values (most near the caps) with a share of outright mistakes.
value = st.one_of(_num(0.5, 2.0), _num(0.5, 2.0), _num(0.8, 1.6), _num(-0.5, 5.0))
ramp = st.builds(
    lambda start, delta: {"from": start, "to": round(start + delta, 2)},
    value,
    st.one_of(_num(-0.3, 0.3), _num(-1.0, 2.0)),
)
incline_value = st.one_of(_num(0.0, 5.0), _num(-2.0, 9.0))
incline_ramp = st.builds(
    lambda start, delta: {"from": start, "to": round(start + delta, 2)},
    incline_value,
    st.one_of(_num(-1.0, 1.0), _num(-5.0, 5.0)),
)
duration = st.one_of(st.integers(60, 600), st.integers(60, 600), st.integers(-5, 60))


def _walk() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "direction": st.sampled_from(["backward", "backward", "forward"]),
            "speed": st.one_of(value, value, ramp),
            "duration_s": duration,
        },
        optional={"incline": incline_value | incline_ramp, "prompt": st.just("go")},
    )


def _fitting_kind(walk: dict[str, Any]) -> str:
    ramped = any(isinstance(walk.get(k), dict) for k in ("speed", "incline"))
    return "ramp" if ramped else "hold"


segment_strategy = st.one_of(
    _walk().map(lambda w: {"kind": _fitting_kind(w), **w}),
    _walk().flatmap(lambda w: st.sampled_from(KINDS).map(lambda k: {"kind": k, **w})),
    st.builds(
        lambda repeats, steps: {"kind": "interval", "repeats": repeats, "steps": steps},
        st.integers(1, 3),
        st.lists(_walk(), min_size=1, max_size=3),
    ),
)

document_strategy = st.fixed_dictionaries(
    {
        "units": st.sampled_from(["mph", "kmh"]),
        "segments": st.lists(segment_strategy, min_size=1, max_size=4),
    },
    optional={
        "limits": st.fixed_dictionaries(
            {}, optional={"max_speed": _num(0.5, 4.0), "max_incline": _num(0.0, 6.0)}
        )
    },
)


def _toml_value(v: object) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def to_toml(doc: dict[str, Any]) -> str:
    lines = ['name = "prop"', 'description = "generated"', 'audience = "tests"']
    lines.append(f'units = "{doc["units"]}"')
    if "limits" in doc:
        lines.append("[limits]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in doc["limits"].items()]
    for segment in doc["segments"]:
        lines.append("[[segments]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in segment.items() if k != "steps"]
        for step in segment.get("steps", []):
            lines.append("[[segments.steps]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in step.items()]
    return "\n".join(lines) + "\n"


def assert_within_caps(profile: Profile, limits: SafetyLimits, device: DeviceRange | None) -> None:
    speed_cap = limits.max_speed_kmh
    speed_floor = limits.min_running_speed_kmh
    incline_cap, incline_floor = limits.max_incline_pct, limits.min_incline_pct
    if profile.limits.max_speed_kmh is not None:
        speed_cap = min(speed_cap, profile.limits.max_speed_kmh)
    if profile.limits.max_incline_pct is not None:
        incline_cap = min(incline_cap, profile.limits.max_incline_pct)
    if device is not None:
        speed_cap = min(speed_cap, device.max_speed_kmh)
        speed_floor = max(speed_floor, device.min_speed_kmh)
        if device.max_incline_pct is not None:
            incline_cap = min(incline_cap, device.max_incline_pct)
        if device.min_incline_pct is not None:
            incline_floor = max(incline_floor, device.min_incline_pct)
    previous = None
    for segment in profile.segments:
        assert segment.duration_s > 0
        assert speed_floor - EPS <= segment.min_speed_kmh
        assert segment.max_speed_kmh <= speed_cap + EPS
        assert incline_floor - EPS <= segment.min_incline_pct
        assert segment.max_incline_pct <= incline_cap + EPS
        if previous is None or previous.direction != segment.direction:
            assert segment.speed_from_kmh <= limits.max_start_speed_kmh + EPS
        rise = segment.speed_to_kmh - segment.speed_from_kmh
        assert rise / segment.duration_s * limits.speed_increase_window_s <= (
            limits.speed_increase_kmh + EPS
        )
        change = abs(segment.incline_to_pct - segment.incline_from_pct)
        assert change / segment.duration_s * limits.incline_change_window_s <= (
            limits.incline_change_pct + EPS
        )
        previous = segment


def test_a_profile_that_validates_never_exceeds_the_effective_caps() -> None:
    outcomes = {"valid": 0, "refused": 0}

    @settings(
        max_examples=1000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(document_strategy, limits_strategy, device_strategy)
    def check(doc: dict[str, Any], limits: SafetyLimits, device: DeviceRange | None) -> None:
        text = to_toml(doc)
        refusal = ""
        try:
            profile = parse_profile(text, "prop.toml", limits=limits, device=device)
        except ConfigError as error:
            refusal = str(error)
        if refusal:
            outcomes["refused"] += 1
            assert refusal.startswith("prop.toml: ")
            return
        outcomes["valid"] += 1
        # Nothing clamped: the first segment's speed is exactly the file's value.
        first = doc["segments"][0]
        first_speed = (first.get("steps") or [first])[0]["speed"]
        written = first_speed["from"] if isinstance(first_speed, dict) else first_speed
        assert abs(profile.segments[0].speed_from_kmh - to_kmh(written, doc["units"])) < 1e-9
        assert_within_caps(profile, limits, device)

    check()
    # The property is not vacuous: both outcomes occur often.
    assert outcomes["valid"] >= 20, outcomes
    assert outcomes["refused"] >= 20, outcomes
