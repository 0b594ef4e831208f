"""Totals and segment summaries: what the summary, history and exports report."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retro_treadmill.records.model import Sample, Totals
from retro_treadmill.records.totals import (
    MAX_GAP_S,
    TotalsAccumulator,
    compute_totals,
    segment_summaries,
)
from tests.records import factory


def test_totals_of_a_known_session() -> None:
    totals = compute_totals(factory.samples(), factory.events())
    # 30 s at 1.6 and 60 s at 2.0 backward, 5 s standing, 20 samples at 2.4 forward (19 s
    # between the first and the last).
    assert totals.backward_s == pytest.approx(90.0)
    assert totals.forward_s == pytest.approx(19.0)
    assert totals.walking_s == pytest.approx(109.0)
    assert totals.duration_s == pytest.approx(114.0)
    assert totals.backward_distance_m == pytest.approx((30 * 1.6 + 60 * 2.0) / 3.6, abs=0.01)
    assert totals.forward_distance_m == pytest.approx(19 * 2.4 / 3.6, abs=0.01)
    assert totals.distance_m == pytest.approx(
        totals.backward_distance_m + totals.forward_distance_m
    )
    assert totals.avg_speed_kmh == pytest.approx((30 * 1.6 + 60 * 2.0 + 19 * 2.4) / 109)
    assert totals.peak_speed_kmh == 2.4
    assert totals.peak_incline_pct == 1.5
    assert totals.peak_heart_rate_bpm == 101
    assert totals.avg_heart_rate_bpm == pytest.approx(sum(90 + e // 10 for e in range(115)) / 115)
    assert totals.alarm_count == 1
    assert totals.operator_actions == 2
    assert totals.refused_count == 1
    assert totals.sample_count == 115
    assert totals.event_count == 4


def test_accumulator_is_live_and_matches_the_batch_result() -> None:
    accumulator = TotalsAccumulator()
    samples = factory.samples()
    for sample in samples[:31]:
        accumulator.sample(sample)
    halfway = accumulator.totals()
    assert halfway.backward_s == pytest.approx(30.0)
    assert halfway.forward_s == 0.0
    for sample in samples[31:]:
        accumulator.sample(sample)
    for event in factory.events():
        accumulator.event(event)
    assert accumulator.totals() == compute_totals(samples, factory.events())


def test_a_gap_in_the_record_is_not_counted_as_walking() -> None:
    samples = factory.samples()
    kept = samples[:10] + samples[60:]  # 51 s between two kept samples (a stuck disk)
    totals = compute_totals(kept)
    full = compute_totals(samples)
    assert totals.backward_s == pytest.approx(full.backward_s - 51 + MAX_GAP_S)
    # Distance still comes from the treadmill's session distance, which kept counting.
    assert totals.distance_m == pytest.approx(full.distance_m)


def test_without_distance_the_belt_speed_is_integrated() -> None:
    samples = [dataclasses.replace(s, distance_m=None) for s in factory.samples()]
    totals = compute_totals(samples)
    assert totals.distance_m == pytest.approx((30 * 1.6 + 60 * 2.0 + 19 * 2.4) / 3.6)


def test_empty_record() -> None:
    assert compute_totals([]) == Totals()
    assert segment_summaries([]) == []


def test_segments_as_walked() -> None:
    segments = segment_summaries(factory.samples())
    assert [(s.index, s.name, s.direction) for s in segments] == [
        (1, "warm-up", "backward"),
        (2, "main", "backward"),
        (3, "forward", "forward"),
    ]
    warm, main, forward = segments
    assert [warm.duration_s, main.duration_s, forward.duration_s] == [30, 60, 19]
    assert warm.distance_m == pytest.approx(30 * 1.6 / 3.6, abs=0.01)
    assert main.distance_m == pytest.approx(60 * 2.0 / 3.6, abs=0.01)
    assert main.start_distance_m == pytest.approx(30 * 1.6 / 3.6, abs=0.01)
    assert main.target_speed_min_kmh == main.target_speed_max_kmh == 2.0
    assert forward.peak_heart_rate_bpm == 101
    assert [s.sample_count for s in segments] == [30, 60, 20]


_speeds = st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=60)


@given(_speeds)
def test_totals_invariants(speeds: list[float]) -> None:
    samples = [
        Sample(
            t=100.0 + i,
            elapsed_s=float(i),
            state="running",
            segment_index=1,
            segment_name="s",
            direction="backward",
            target_speed_kmh=v,
            belt_speed_kmh=v,
            target_incline_pct=0.0,
            incline_pct=0.0,
            distance_m=None,
        )
        for i, v in enumerate(speeds)
    ]
    totals = compute_totals(samples)
    assert 0 <= totals.backward_s <= totals.duration_s
    assert totals.peak_speed_kmh == max(speeds)
    if totals.avg_speed_kmh is not None:
        assert totals.avg_speed_kmh <= max(speeds) + 1e-9
    segment_distance = sum(s.distance_m for s in segment_summaries(samples))
    assert segment_distance == pytest.approx(totals.distance_m)
