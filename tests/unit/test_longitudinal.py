"""MDC95 math, change labels and plateau/regression events (measures/longitudinal.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from palsyflow.measures.longitudinal import (
    HEALTHY_BANDS,
    MDC_MEASURES,
    MDC_TABLE,
    change_label,
    mdc95,
    read_series,
    within_subject_sem,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ SEM and MDC
def test_sem_of_pairs_is_sd_of_differences_over_root_two():
    rng = np.random.default_rng(3)
    a = rng.normal(80, 5, 40)
    b = a + rng.normal(0, 2, 40)
    d = b - a
    d = d - d.mean()  # no systematic bias: make the pairs' mean difference exactly zero
    b = a + d
    sem, dof = within_subject_sem([[x, y] for x, y in zip(a, b)])
    assert dof == 40
    # with zero mean difference, sum over pairs of (d/2)^2*2 / n = mean(d^2)/2 = var(d, ddof=0)/2
    assert sem == pytest.approx(np.sqrt(np.mean(d**2) / 2), rel=1e-12)


def test_sem_pools_unequal_group_sizes_like_one_way_anova():
    groups = [[1.0, 3.0], [10.0, 12.0, 14.0], [5.0]]  # the singleton carries no within-subject information
    sem, dof = within_subject_sem(groups)
    ss = (1 + 1) + (4 + 0 + 4)
    assert dof == 3
    assert sem == pytest.approx(math.sqrt(ss / 3))


def test_sem_drops_missing_values_and_is_nan_without_repeats():
    sem, dof = within_subject_sem([[1.0, None, 2.0], [math.nan, 4.0]])
    assert dof == 1 and sem == pytest.approx(math.sqrt(0.5))
    sem, dof = within_subject_sem([[1.0], [None, 2.0]])
    assert dof == 0 and math.isnan(sem)


def test_mdc95_is_1_96_root_two_sem():
    assert mdc95(1.0) == pytest.approx(2.7719, abs=1e-4)
    assert mdc95(2.5) == pytest.approx(2.5 * 1.96 * math.sqrt(2))


def test_repeated_noise_exceeds_the_mdc_in_about_5_percent():
    # the definition: differences of two noisy measurements of an unchanged value exceed MDC95 in ~5 %
    rng = np.random.default_rng(11)
    truth = rng.uniform(60, 95, 4000)
    a, b = truth + rng.normal(0, 3, truth.size), truth + rng.normal(0, 3, truth.size)
    sem, _ = within_subject_sem(np.column_stack([a, b]).tolist())
    share = np.mean(np.abs(b - a) > mdc95(sem))
    assert 0.035 < share < 0.065


# ------------------------------------------------------------------ labels
def test_labels_follow_the_registry_direction():
    assert change_label(4.0, 5.0, True) == "within noise"
    assert change_label(-5.0, 5.0, True) == "within noise"  # at the MDC is not beyond it
    assert change_label(6.0, 5.0, True) == "improvement"
    assert change_label(-6.0, 5.0, True) == "worsening"
    assert change_label(6.0, 5.0, False) == "worsening"  # e.g. a dysarthria index rising
    assert change_label(None, 5.0, True) is None
    assert change_label(6.0, None, True) is None
    assert change_label(6.0, 5.0, None) is None


def test_series_labels_since_baseline_and_previous():
    s = read_series([60.0, 70.0, 72.0], "symmetry_index", mdc=5.0)
    assert [c.label_baseline for c in s] == ["within noise", "improvement", "improvement"]
    assert [c.label_previous for c in s] == [None, "improvement", "within noise"]
    assert s[2].since_baseline == pytest.approx(12.0) and s[2].since_previous == pytest.approx(2.0)


def test_lower_is_better_measure_worsens_when_it_rises():
    s = read_series([10.0, 30.0], "speech_dysarthria_index", mdc=8.0)
    assert s[1].label_previous == "worsening" and "regression" in s[1].events


def test_missing_session_compares_with_the_last_measured():
    s = read_series([60.0, None, 70.0], "symmetry_index", mdc=5.0)
    assert s[1].label_previous is None and s[1].value is None
    assert s[2].since_previous == pytest.approx(10.0) and s[2].label_previous == "improvement"


# ------------------------------------------------------------------ events
def test_regression_after_improvement():
    s = read_series([60.0, 80.0, 62.0], "symmetry_index", mdc=5.0)
    assert s[1].events == ()
    assert "regression" in s[2].events
    assert s[2].label_baseline == "within noise"  # back at baseline: only the event tells the story


def test_slow_decline_after_improvement_is_a_regression_vs_the_best():
    # each step within noise, but 8 points below the best after a detectable improvement
    s = read_series([60.0, 80.0, 76.0, 72.0], "symmetry_index", mdc=5.0)
    assert [c.label_previous for c in s[1:]] == ["improvement", "within noise", "within noise"]
    assert "regression" not in s[2].events
    assert "regression" in s[3].events


def test_steady_recovery_has_no_events():
    s = read_series([40.0, 55.0, 70.0, 85.0], "symmetry_index", mdc=5.0)
    assert all(c.events == () for c in s)


def test_plateau_needs_the_whole_window_within_the_mdc():
    s = read_series([40.0, 70.0, 72.0, 73.0, 80.0], "symmetry_index", mdc=5.0, plateau_sessions=3)
    assert ["plateau" in c.events for c in s] == [False, False, False, True, False]
    s = read_series([70.0, 72.0], "symmetry_index", mdc=5.0, plateau_sessions=3)
    assert all("plateau" not in c.events for c in s)  # too few sessions to call a plateau
    with pytest.raises(ValueError):
        read_series([1.0], "symmetry_index", mdc=5.0, plateau_sessions=1)


def test_no_mdc_means_no_labels_and_no_events():
    s = read_series([40.0, 90.0, 10.0], "symmetry_index", mdc=math.nan)
    assert all(c.label_previous is None and c.events == () for c in s)


def test_unknown_measure_is_refused():
    with pytest.raises(KeyError):
        read_series([1.0, 2.0], "no_such_measure", mdc=1.0)


# ------------------------------------------------------------------ the table and its provenance
def test_mdc_table_matches_the_benchmark_json():
    data = json.loads((ROOT / "benchmarks" / "results" / "mdc-2026-12-02.json").read_text())
    for m in MDC_MEASURES:
        row = data["measures"][m]
        if row["mdc95"] is None:
            assert m not in MDC_TABLE
            continue
        assert MDC_TABLE[m].mdc == pytest.approx(row["mdc95"])
        assert MDC_TABLE[m].mdc == pytest.approx(mdc95(MDC_TABLE[m].sem), abs=2e-3)
        assert MDC_TABLE[m].dof == row["dof"]
        band = HEALTHY_BANDS[m]
        assert (band.low, band.high, band.n) == (row["healthy_min"], row["healthy_max"], row["healthy_n"])
    assert "symmetry_index" in MDC_TABLE and MDC_TABLE["symmetry_index"].mdc > 0


def test_binomial_sem_of_a_word_score():
    from palsyflow.measures.longitudinal import binomial_score_sem

    # 6 words at 50 % correct: SE of a proportion sqrt(.25/6)
    assert binomial_score_sem(50.0, 6) == pytest.approx(100 * math.sqrt(0.25 / 6))
    assert binomial_score_sem(100.0, 6) == 0.0
    # simulated repeats of a speaker who gets each word right with p = .9: SD of the score
    rng = np.random.default_rng(5)
    scores = 100 * rng.binomial(6, 0.9, 20000) / 6
    assert binomial_score_sem(90.0, 6) == pytest.approx(scores.std(), rel=0.03)
    with pytest.raises(ValueError):
        binomial_score_sem(90.0, 0)
